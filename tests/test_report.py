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
