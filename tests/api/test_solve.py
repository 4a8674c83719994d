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
    cfg = _edge(fraction)
    cfg["solver"] = {"time_limit_s": 8}  # feasibility, not optimality, is under test
    inputs = api.load(cfg)
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


def test_fixed_stack_that_does_not_fit_is_named(tmp_path):
    """Under memory capacities a user's fixed stack whose members' weights and buffers do
    not fit one small SRAM is kept (solve does not change fixed stacks) and named in a
    note that says the step is not achievable as given."""
    import copy

    import yaml

    from tests.test_config import MINI_ACC

    acc = copy.deepcopy(MINI_ACC)
    acc["cores"][0]["memories"][0]["size_bits"] = 8 * 8 * 1024  # 8 KiB
    (tmp_path / "acc.yaml").write_text(yaml.safe_dump(acc))
    cfg = {
        "workload": {"model": "mlp", "options": {"batch": 2, "sizes": [256, 256, 256]}},
        "accelerator": "acc.yaml",
        "fusion": {"mode": "fixed", "stacks": [["fc0", "fc1"]]},
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
    run = api.solve(tmp_path / "run.yaml", time_limit=20)
    assert run.milp.schedule.stats["memory_overflow"] > 0
    assert any("fc0..fc1" in n and "not achievable" in n for n in run.notes)
