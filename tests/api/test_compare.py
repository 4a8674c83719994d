"""Exact vs GA comparison (library and ``monet-opt compare``): every space runs, the
GA never beats a proven optimum, gaps and statistics are consistent, outputs are written."""

from __future__ import annotations

import csv
import json
import math

import pytest
import yaml
from click.testing import CliRunner

from monet_opt.api.compare import SPACE_NAMES as SPACES
from monet_opt.api.compare import CompareSettings, best_at
from monet_opt.api.compare import compare_problem as compare
from monet_opt.api.compare import gap_to as relative_gap
from monet_opt.cli import cli
from monet_opt.formulations.options import SolverOptions
from monet_opt.models.training import derive_training_graph
from monet_opt.schedule.evaluator import evaluate
from monet_opt.schedule.problem import build_problem
from tests.factories import accelerator, accelerator_dict
from tests.factories import random_forward_graph as forward_graph


@pytest.fixture(scope="module")
def result():
    g = derive_training_graph(forward_graph(3), optimizer="sgd", loss="mse")
    p = build_problem(g, accelerator(n=2, seed=3, hetero=True), layer_io="onchip")
    st = CompareSettings(
        seeds=(0, 1, 2), budget_evals=60, options=SolverOptions(time_limit=10), max_stack=4
    )
    return p, compare(p, st)


def test_every_space_compared(result):
    p, c = result
    assert [s.space for s in c.spaces] == list(SPACES)
    for s in c.spaces:
        assert len(s.runs) == 3
        assert all(r.evaluations <= 60 for r in s.runs)
        assert s.milp.simulated == pytest.approx(s.milp_value)
        ga = evaluate(p, s.best_run().decision)
        want = {"latency": ga.latency, "recompute": ga.stats["recompute_cycles"]}[s.metric]
        assert s.best_run().best == pytest.approx(want)


def test_no_ga_result_beats_a_proven_optimum(result):
    _, c = result
    proven = [s for s in c.spaces if s.proven_optimal]
    assert {s.space for s in proven} >= {"allocation", "fusion", "checkpointing"}
    for s in proven:
        for r in s.runs:
            assert r.best >= s.milp_value * (1 - 1e-9) - 1e-9, s.space
        assert s.warm is not None and s.warm.simulated == pytest.approx(s.milp_value)


def test_bounds_hold_for_every_answer(result):
    _, c = result
    for s in c.spaces:
        assert s.bound <= s.milp_value * (1 + 1e-9) + 1e-9
        for r in s.runs:
            if r.feasible:
                assert r.best >= s.bound * (1 - 1e-9) - 1e-9, s.space


def test_json_schema_and_statistics(result):
    _, c = result
    d = json.loads(json.dumps(c.as_dict()))
    assert d["seeds"] == [0, 1, 2] and d["budget"]["evals"] == 60
    for entry in d["spaces"]:
        runs = entry["ga"]["runs"]
        sm = entry["ga"]["summary"]
        bests = sorted(r["best"] for r in runs if r["best"] is not None)
        assert sm["median"] == pytest.approx(bests[len(bests) // 2])
        assert sm["min"] == bests[0] and sm["max"] == bests[-1]
        ref = entry["milp"]["simulated"]
        assert sm["gap_to_milp_median"] == pytest.approx(relative_gap(sm["median"], ref))
        for r in runs:
            evals = [h[0] for h in r["history"]]
            assert evals == sorted(evals) and evals[-1] == r["evaluations"]
    pa = d["pareto"]
    assert pa["exact_all_optimal"] and len(pa["exact"]) >= 2
    assert 0 < pa["summary"]["ratio_union"] <= 1 + 1e-9  # exact front is the whole front


def test_helpers():
    h = [(10, 0.5, 9.0), (20, 1.0, 7.0), (30, 2.0, 5.0)]
    assert best_at(h, 0.1) == math.inf
    assert best_at(h, 1.0) == 7.0 and best_at(h, 99) == 5.0
    assert relative_gap(110, 100) == pytest.approx(0.1)
    assert relative_gap(90, 100) == pytest.approx(-0.1)
    with pytest.raises(ValueError, match="unknown spaces"):
        CompareSettings(spaces=("allocation", "magic"))
    with pytest.raises(ValueError, match="objective"):
        CompareSettings(objective="edp")


def test_cli_compare_end_to_end(tmp_path):
    (tmp_path / "acc.yaml").write_text(yaml.safe_dump(accelerator_dict("cmp")))
    cfg = {
        "workload": {"model": "mlp", "options": {"batch": 2, "sizes": [32, 64, 64, 10]}},
        "accelerator": "acc.yaml",
        "objective": "latency",
        "schedule": {"order": "layerwise"},
        "checkpointing": {"mode": "optimal", "budget_fraction": 0.95},
        "fusion": {"mode": "optimal", "max_stack": 4},
        "solver": {"time_limit_s": 4},  # exact fusion under capacities runs to its limit
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "out"
    r = CliRunner().invoke(
        cli, ["compare", str(path), "--budget-evals", "40", "--seeds", "2", "--out", str(out)]
    )
    assert r.exit_code == 0, r.output + r.stderr
    for name in (
        "compare.json",
        "compare.csv",
        "report.md",
        "report.html",
        "pareto_compare.png",
        "convergence_joint.png",
        "gantt_milp.png",
        "gantt_ga.png",
        "memory_ga.png",
        "trace_milp.json",
        "trace_ga.json",
    ):
        assert (out / name).stat().st_size > 0, name
    data = json.loads((out / "compare.json").read_text())
    assert len(data["spaces"]) == len(SPACES)
    rows = list(csv.DictReader((out / "compare.csv").open()))
    assert sum(row["method"] == "ga" for row in rows) == 2 * len(SPACES)
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html
    trace = json.loads((out / "trace_ga.json").read_text())
    assert any(e.get("ph") == "X" for e in trace["traceEvents"])


def test_cli_compare_rejects_unknown_space(tmp_path):
    (tmp_path / "acc.yaml").write_text(yaml.safe_dump(accelerator_dict("cmp")))
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"workload": {"model": "mlp"}, "accelerator": "acc.yaml"}))
    r = CliRunner().invoke(cli, ["compare", str(path), "--spaces", "allocation,foo"])
    assert r.exit_code == 2
    assert "foo" in r.output + r.stderr


def _mlp_config(tmp_path, **extra):
    (tmp_path / "acc.yaml").write_text(yaml.safe_dump(accelerator_dict("cmp")))
    cfg = {
        "workload": {"model": "mlp", "options": {"batch": 2, "sizes": [32, 64, 64, 10]}},
        "accelerator": "acc.yaml",
        "schedule": {"order": "heft"},
        "solver": {"time_limit_s": 1.5},  # exact fusion under capacities runs to its limit
        **extra,
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_default_budget_without_checkpointing_section_is_raised_to_the_minimum(tmp_path):
    """Issue 9 §6: ``compare`` on a config without a ``checkpointing`` section exited 2
    when half the store-all footprint was below the minimum feasible one."""
    from monet_opt import api

    path = _mlp_config(tmp_path)
    inputs = api.load(path)
    b = api.footprint_budget(inputs)
    assert b.bits is None and 0.5 * b.store_all_bits < b.min_feasible_bits  # the case
    c = api.compare(inputs, seeds=1, budget_evals=20, spaces=["checkpointing"], pareto=False)
    assert c.budget_bits == pytest.approx(b.min_feasible_bits)
    assert c.space("checkpointing").milp.status == "optimal"


def test_allocation_space_never_checks_a_checkpoint_budget(tmp_path):
    from monet_opt import api

    path = _mlp_config(tmp_path, checkpointing={"mode": "optimal", "budget_mib": 1e-9})
    with pytest.raises(api.InputError, match="budget_mib"):
        api.compare(path, seeds=1, budget_evals=20, spaces=["checkpointing"], pareto=False)
    c = api.compare(path, seeds=1, budget_evals=20, spaces=["allocation"], pareto=False)
    assert c.budget_bits is None and [s.space for s in c.spaces] == ["allocation"]


def test_default_ga_budget_is_reproducible(tmp_path):
    """Issue 9 §7: the default GA budget is in evaluations, so a seed gives one answer."""
    from monet_opt import api
    from monet_opt.api.compare import DEFAULT_EVALS

    path = _mlp_config(tmp_path)
    kw = {
        "seeds": 2,
        "spaces": ["allocation_magma", "fusion"],
        "pareto": False,
        "warm_start": False,
    }
    a = api.compare(path, **kw)
    b = api.compare(path, **kw)
    assert a.settings.reproducible and a.settings.evals == DEFAULT_EVALS
    for sa, sb in zip(a.spaces, b.spaces, strict=True):
        assert [r.best for r in sa.runs] == [r.best for r in sb.runs]
        assert [r.evaluations for r in sa.runs] == [r.evaluations for r in sb.runs]
    d = a.as_dict()["budget"]
    assert d["reproducible"] is True and d["note"] is None
    timed = api.compare(path, seeds=1, budget_seconds=0.2, spaces=["fusion"], pareto=False)
    assert timed.as_dict()["budget"]["reproducible"] is False
    assert "not reproducible" in timed.as_dict()["budget"]["note"]


def test_exact_progress_is_traced_over_time(result):
    """Every space records its exact solve's incumbent and bound over wall time: the
    last point is the reported answer and bound, times never go back, and the joint's
    trace is its own (the certified bound at every point, incumbents never rising)."""
    _, c = result
    d = json.loads(json.dumps(c.as_dict()))
    for s, entry in zip(c.spaces, d["spaces"], strict=True):
        trace = entry["milp"]["trace"]
        assert trace, s.space
        times = [t for t, _, _ in trace]
        assert times == sorted(times)
        assert trace[-1][1] == pytest.approx(s.milp_value)
        assert trace[-1][2] == pytest.approx(s.bound)
    joint = next(s for s in c.spaces if s.space == "joint")
    assert len(joint.milp_trace) >= 3
    incumbents = [b for _, b, _ in joint.milp_trace if b is not None]
    assert all(b <= incumbents[0] * (1 + 1e-9) for b in incumbents)
    assert {lb for _, _, lb in joint.milp_trace[:-1]} == {joint.milp.bound}
