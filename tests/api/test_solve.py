"""monet_opt.api.solve: the workflow of ``monet-opt solve``."""

from __future__ import annotations

from pathlib import Path

import pytest

from monet_opt import api
from monet_opt.units import within

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _edge(fraction: float | None, **schedule: object) -> dict:
    cfg: dict = {
        "workload": {"model": "resnet18-cifar", "options": {"batch": 5}},
        "accelerator": str(EXAMPLES / "hardware" / "tpu_like_quad_core.yaml"),
        "schedule": {"order": "heft", **schedule},
        "solver": {"time_limit_s": 60},
    }
    if fraction is not None:
        cfg["checkpointing"] = {"mode": "optimal", "budget_fraction": fraction}
    return cfg


def test_budget_at_the_exact_minimum_is_feasible():
    """Issue 9 §6: ResNet-18 CIFAR, batch 5, order heft, budget_fraction equal to the
    minimum over store-all (0.6170688226579958) passed validation, then reported OVER
    BUDGET and an infeasible result, yet exited 0."""
    base = api.load(_edge(None))
    b = api.footprint_budget(base)
    fraction = b.min_feasible_bits / b.store_all_bits
    assert fraction == pytest.approx(0.6170688226579958, rel=1e-9)
    inputs = api.load(_edge(fraction))
    budget = api.footprint_budget(inputs)  # validation accepts it ...
    run = api.solve(inputs)  # ... and the solve finds it feasible
    assert not run.infeasible and run.milp.status in ("optimal", "feasible")
    peak = run.milp.schedule.stats["peak_footprint_bits"]
    assert within(peak, budget.bits)
    assert run.milp.simulated == pytest.approx(run.milp.schedule.latency)
    assert run.milp.simulated > 0


def test_solve_objective_and_method_errors():
    cfg = _edge(0.9)
    with pytest.raises(api.InputError, match="--objective"):
        api.solve(cfg, objective="edp")
    with pytest.raises(api.InputError, match="--method"):
        api.solve(cfg, method="magic")
