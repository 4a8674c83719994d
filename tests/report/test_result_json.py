"""Report writers: strict JSON result file, PNG plots, terminal summary."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
from rich.console import Console

from monet_opt.ga import run_ga
from monet_opt.hardware.yaml_io import accelerator_from_dict
from monet_opt.models import build_model, derive_training_graph
from monet_opt.report import plot_memory, plot_schedule, print_summary, write_result
from monet_opt.report.result_json import software_versions, to_jsonable, write_json_atomic
from monet_opt.schedule.problem import build_problem
from monet_opt.schedule.types import EnergyBreakdown, MemoryTrace, Schedule, Transfer
from tests.factories import accelerator_dict

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

ACC = accelerator_dict(
    "tiny_report", macs=((8, 0.2), (16, 0.2)), mac_sram_bits=64 * 1024 * 8,
    link_bw=32, link_pj_per_bit=0.1,
)  # fmt: skip


@pytest.fixture(scope="module")
def problem():
    graph = derive_training_graph(build_model("mlp", batch=2, sizes=(32, 64, 64, 10)))
    return build_problem(graph, accelerator_from_dict(ACC))


@pytest.fixture(scope="module")
def ga_result(problem):
    return run_ga(problem, "latency", population=8, generations=3, seed=0)


def _strict_load(path):
    def bad(c):
        raise ValueError(f"non-standard JSON constant {c}")

    return json.loads(path.read_text(), parse_constant=bad)


def test_result_json(tmp_path, problem, ga_result):
    path = write_result(
        tmp_path / "out",
        problem=problem,
        objective="latency",
        ga=ga_result,
        wall_times={"ga": 0.1},
    )
    assert path == tmp_path / "out" / "result.json"
    d = _strict_load(path)
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
    alloc = pytest.importorskip("monet_opt.formulations.allocation")
    milp = alloc.solve_allocation(problem, objective="latency", time_limit=20)
    d = _strict_load(
        write_result(tmp_path, problem=problem, objective="latency", milp=milp, ga=ga_result)
    )
    assert d["best_method"] in ("milp", "ga")
    assert d["methods"]["milp"]["status"] == milp.status
    for key in ("objective", "bound", "gap", "simulated", "lower_bounds"):
        assert key in d["methods"]["milp"]
    # a proven-optimal MILP is never beaten, and ties go to the MILP
    if milp.status == "optimal":
        assert d["best_method"] == "milp"


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


def test_plots_real_schedule(tmp_path, problem, ga_result):
    s = plot_schedule(ga_result.schedule, tmp_path / "schedule.png", problem)
    m = plot_memory(ga_result.schedule, tmp_path / "memory.png")
    for p in (s, m):
        assert p.read_bytes()[:8] == PNG_MAGIC and p.stat().st_size > 5000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["memory.png", "schedule.png"]


def _fake_schedule() -> Schedule:
    """Hand-made schedule: 3 nodes on 2 cores, DRAM and link transfers, 2 memories."""
    trace = MemoryTrace("core 0 (a)", 0, 8 * 1024 * 8, np.array([0.0, 10.0, 60.0]),
                        np.array([0.0, 4096.0 * 8, 1024.0 * 8]))  # fmt: skip
    unused = MemoryTrace("core 1 (b)", 1, 1e6, np.array([0.0]), np.array([0.0]))
    return Schedule(
        node_names=("fwd", "bwd", "opt"),
        core=np.array([0, 1, 1]),
        start=np.array([0.0, 40.0, 70.0]),
        end=np.array([30.0, 65.0, 90.0]),
        fetch_end=np.array([5.0, 50.0, 70.0]),
        transfers=(
            Transfer("w", 9, 0, "dram", 0.0, 5.0, 320.0),
            Transfer("y", 0, 9, "dram", 30.0, 38.0, 512.0),
            Transfer("x", 0, 1, "link 0-1", 40.0, 50.0, 640.0),
        ),
        latency=95.0,
        energy=EnergyBreakdown(compute=1.0, onchip_memory=2.0, dram=3.0, links=4.0),
        memory={"core 0 (a)": trace, "core 1 (b)": unused},
    )


def test_plots_fake_schedule_without_problem(tmp_path):
    sched = _fake_schedule()
    fake_problem = SimpleNamespace(core_ids=(0, 1), accelerator=SimpleNamespace(offchip_core_id=9))
    p = plot_schedule(sched, tmp_path / "g.png", fake_problem, title="fake")
    assert p.read_bytes()[:8] == PNG_MAGIC
    p = plot_memory(sched, tmp_path / "m.png")
    assert p.read_bytes()[:8] == PNG_MAGIC
    # no problem at all, and an empty memory dict
    empty = Schedule(**{**sched.__dict__, "memory": {}})
    assert plot_schedule(empty, tmp_path / "g2.png").exists()
    assert plot_memory(empty, tmp_path / "m2.png").exists()


def test_summary_renders(problem, ga_result):
    console = Console(record=True, width=120)
    print_summary(objective="latency", ga=ga_result, wall_times={"ga": 0.5}, console=console)
    text = console.export_text()
    for needle in ("latency", "compute", "DRAM", "EDP", "peak", "GA (DEAP)", "Wall times"):
        assert needle in text


# -- fusion / checkpointing reports -------------------------------------------------------
MIB = 8 * 2**20


@pytest.fixture(scope="module")
def ck_problem():
    graph = derive_training_graph(build_model("mlp", batch=2, sizes=(32, 64, 64, 64, 10)))
    return build_problem(graph, accelerator_from_dict(ACC), order="layerwise")


@pytest.fixture(scope="module")
def ck_result(ck_problem):
    from monet_opt.formulations.checkpointing import solve_checkpointing, store_all_footprint

    budget = 0.6 * store_all_footprint(ck_problem)
    return solve_checkpointing(ck_problem, budget_bits=budget, time_limit=20), budget


def _fake_joint(final):
    return SimpleNamespace(
        final=final,
        parts={"checkpointing": final},
        mode="iterated",
        iterations=1,
        history=[],
        baselines={},
        as_dict=lambda: {"mode": "iterated", "final": final.as_dict()},
    )


def test_plot_footprint(tmp_path, ck_problem, ck_result):
    from monet_opt.report import plot_footprint

    res, budget = ck_result
    p = plot_footprint(res.schedule, tmp_path / "fp.png", budget_bits=budget, store_all_bits=2e4)
    assert p.read_bytes()[:8] == PNG_MAGIC and p.stat().st_size > 5000
    # without a budget, and a schedule without a footprint
    assert plot_footprint(res.schedule, tmp_path / "fp2.png").exists()
    assert plot_footprint(_fake_schedule(), tmp_path / "fp3.png").exists()
    assert sorted(q.name for q in tmp_path.iterdir()) == ["fp.png", "fp2.png", "fp3.png"]


def test_result_json_joint(tmp_path, ck_problem, ck_result):
    from monet_opt.formulations.checkpointing import store_all_footprint

    res, budget = ck_result
    ga = run_ga(ck_problem, "latency", population=6, generations=2, seed=0)
    fall = store_all_footprint(ck_problem)
    d = _strict_load(
        write_result(
            tmp_path,
            problem=ck_problem,
            objective="latency",
            ga=ga,
            joint=_fake_joint(res),
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
    from monet_opt.report.result_json import structure_decisions

    dec = SimpleNamespace(stacks=((0, 1), (2, 3, 4)), checkpoints=None)
    out = structure_decisions(dec, ga_result.schedule, problem, budget_bits=None)
    names = problem.node_names
    assert out["fusion"]["stacks"] == [[names[0], names[1]], [names[2], names[3], names[4]]]
    assert out["checkpointing"]["mode"] == "store-all"
    assert out["checkpointing"]["kept"] == list(problem.checkpoint_tensors)
    assert out["checkpointing"]["recomputed"] == []
    assert out["footprint"]["peak_within_budget"] is None


def test_summary_joint(ck_result):
    res, budget = ck_result
    console = Console(record=True, width=100)
    print_summary(objective="latency", joint=_fake_joint(res), budget_bits=budget, console=console)
    text = console.export_text()
    for needle in ("Decisions (exact; iterated, 1 iteration;", "checkpointing", "final",
                   "activation footprint: peak", "<= budget", "joint MILP"):  # fmt: skip
        assert needle in text, text
    assert "OVER BUDGET" not in text


def test_pareto_report(tmp_path, ck_problem):
    from monet_opt.formulations.checkpointing import (
        checkpoint_front,
        min_feasible_budget,
        store_all_footprint,
    )
    from monet_opt.report.pareto import (
        CSV_COLUMNS,
        pareto_rows,
        pareto_tables,
        plot_pareto,
        write_pareto_csv,
    )

    fmin, fall = min_feasible_budget(ck_problem), store_all_footprint(ck_problem)
    budgets = list(np.linspace(fmin, fall, 3))
    fronts = {
        obj: checkpoint_front(ck_problem, budgets, objective=obj, time_limit=20)
        for obj in ("latency", "energy")
    }
    rows = pareto_rows(fronts, budgets)
    assert len(rows) == 6 and all(set(r) == set(CSV_COLUMNS) for r in rows)
    assert rows[0]["budget_mib"] == pytest.approx(fmin / MIB)
    assert rows[2]["objective"] == 0.0 and rows[2]["n_recomputed"] == 0
    rows[1] = {**rows[1], "status": "time_limit", "gap": None}  # a non-optimal point
    p = write_pareto_csv(tmp_path / "pareto.csv", rows)
    lines = p.read_text().splitlines()
    assert lines[0] == ",".join(CSV_COLUMNS) and len(lines) == 7
    assert ",time_limit," in lines[2] and ",," in lines[2]  # missing gap -> empty field
    png = plot_pareto(rows, tmp_path / "pareto.png", min_budget_bits=fmin, store_all_bits=fall)
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert plot_pareto([], tmp_path / "empty.png").exists()
    console = Console(record=True, width=80)
    for t in pareto_tables(rows):
        console.print(t)
    text = console.export_text()
    assert "objective latency" in text and "objective energy" in text and "time_limit" in text
    assert "…" not in text  # fits 80 columns
