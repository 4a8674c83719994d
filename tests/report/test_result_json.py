"""Strict JSON result file (monet_opt.report.result_json)."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from monet_opt.formulations.allocation import solve_allocation
from monet_opt.formulations.checkpointing import store_all_footprint
from monet_opt.formulations.options import SolverOptions
from monet_opt.ga import run_ga
from monet_opt.report import write_result
from monet_opt.report.result_json import (
    software_versions,
    structure_decisions,
    to_jsonable,
    write_json_atomic,
)
from tests.report.helpers import MIB, fake_joint, strict_load


def test_result_json(tmp_path, problem, ga_result):
    path = write_result(
        tmp_path / "out",
        problem=problem,
        objective="latency",
        ga=ga_result,
        wall_times={"ga": 0.1},
    )
    assert path == tmp_path / "out" / "result.json"
    d = strict_load(path)
    assert d["best_method"] == "ga" and d["objective"] == "latency"
    m = d["metrics"]
    assert m["latency_cycles"] == pytest.approx(ga_result.schedule.latency)
    assert m["energy_pj"]["total_pj"] == pytest.approx(ga_result.schedule.energy.total)
    assert m["edp_pj_cycles"] == pytest.approx(ga_result.schedule.edp)
    assert set(m["peak_memory_bytes"]) == set(ga_result.schedule.memory)
    assert len(d["decisions"]) == problem.n_nodes
    first = d["decisions"][problem.node_names[0]]
    assert first["core"] == problem.accelerator.core(first["core_id"]).name
    assert d["methods"]["ga"]["evaluations"] == ga_result.evaluations
    assert d["inputs"]["model"] == "mlp-train"
    for pkg in ("python", "monet_opt", "highspy", "numpy", "deap", "onnx"):
        assert d["software"][pkg]
    # atomic write leaves no temporary files behind
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["result.json"]


def test_result_json_with_milp(tmp_path, problem, ga_result):
    milp = solve_allocation(problem, None, "latency", SolverOptions(time_limit=20))
    assert milp.status == "optimal"  # 8 flexible nodes: proven in milliseconds
    assert ga_result.best >= milp.simulated * (1 - 1e-9)
    d = strict_load(
        write_result(tmp_path, problem=problem, objective="latency", milp=milp, ga=ga_result)
    )
    m = d["methods"]["milp"]
    assert m["status"] == "optimal"
    assert m["objective"] == pytest.approx(milp.objective)
    assert m["simulated"] == pytest.approx(milp.simulated)
    assert m["bound"] == pytest.approx(milp.bound) and m["bound"] <= m["simulated"] * (1 + 1e-9)
    assert m["gap"] == pytest.approx(milp.gap) and m["gap"] <= 1e-4
    assert m["lower_bounds"]
    # a proven-optimal MILP is never beaten, and ties go to the MILP
    assert d["best_method"] == "milp"
    assert d["metrics"]["latency_cycles"] == pytest.approx(milp.simulated)


def test_to_jsonable_handles_numpy_and_non_finite():
    data = {"a": np.float64(math.inf), "b": [np.int64(3), math.nan], "c": np.arange(2), "d": {1}}
    assert to_jsonable(data) == {"a": None, "b": [3, None], "c": [0, 1], "d": [1]}


def test_write_json_atomic_replaces(tmp_path):
    p = tmp_path / "x.json"
    write_json_atomic(p, {"v": 1})
    write_json_atomic(p, {"v": 2})
    assert json.loads(p.read_text()) == {"v": 2}
    assert [q.name for q in tmp_path.iterdir()] == ["x.json"]


def test_software_versions():
    v = software_versions()
    assert v["python"].count(".") == 2 and v["monet_opt"]


def test_result_json_joint(tmp_path, ck_problem, ck_result):
    res, budget = ck_result
    ga = run_ga(ck_problem, "latency", population=6, generations=2, seed=0)
    fall = store_all_footprint(ck_problem)
    d = strict_load(
        write_result(
            tmp_path,
            problem=ck_problem,
            objective="latency",
            ga=ga,
            joint=fake_joint(res),
            budget_bits=budget,
            store_all_bits=fall,
        )  # fmt: skip
    )
    # the joint MILP is reported even if the GA (store-all, no budget) is faster
    assert d["best_method"] == "milp"
    assert d["decisions_exact"]["mode"] == "iterated"
    fc = d["fusion_checkpointing"]
    kept, rec = fc["checkpointing"]["kept"], fc["checkpointing"]["recomputed"]
    assert sorted(kept + rec) == sorted(ck_problem.checkpoint_tensors) and rec
    assert set(kept) == set(res.decision.checkpoints)
    fp = fc["footprint"]
    assert fp["peak_footprint_bits"] == pytest.approx(res.schedule.stats["peak_footprint_bits"])
    assert fp["peak_within_budget"] is True and fp["budget_mib"] == pytest.approx(budget / MIB)
    assert fc["schedule"]["recompute_cycles"] == pytest.approx(res.extra["recompute_cycles"])
    assert fc["fusion"] == {"n_stacks": 0, "stacks": []}


def test_structure_decisions_names_stacks(problem, ga_result):
    dec = SimpleNamespace(stacks=((0, 1), (2, 3, 4)), checkpoints=None)
    out = structure_decisions(dec, ga_result.schedule, problem, budget_bits=None)
    names = problem.node_names
    assert out["fusion"]["stacks"] == [[names[0], names[1]], [names[2], names[3], names[4]]]
    assert out["checkpointing"]["mode"] == "store-all"
    assert problem.checkpoint_tensors
    assert out["checkpointing"]["kept"] == list(problem.checkpoint_tensors)
    assert out["checkpointing"]["recomputed"] == []
    assert out["footprint"]["peak_within_budget"] is None
