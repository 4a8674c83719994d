"""Allocation GA (monet_opt.ga.allocation): determinism per seed, budgets, elitism, and
never beating the MILP."""

from __future__ import annotations

import random

import numpy as np
import pytest

from monet_opt.formulations.allocation import solve_allocation
from monet_opt.formulations.options import SolverOptions
from monet_opt.ga import GAResult, decode, encode, run_ga
from monet_opt.hardware.yaml_io import accelerator_from_dict
from monet_opt.heuristics.allocation import greedy_decision
from monet_opt.models import build_model, derive_training_graph
from monet_opt.schedule.evaluator import evaluate_fast
from monet_opt.schedule.problem import build_problem


def _mem(name, kib, bw, r, w, operands, served=()):
    return {
        "name": name,
        "size_bits": kib * 1024 * 8,
        "read_bw_bits_per_cycle": bw,
        "write_bw_bits_per_cycle": bw,
        "read_pj_per_word": r,
        "write_pj_per_word": w,
        "operands": list(operands),
        "served_dimensions": list(served),
    }


def tiny_accelerator(n_mac: int = 2) -> dict:
    """Heterogeneous MAC cores (16x16, 8x8), a SIMD core and DRAM."""
    macs = [(0, "big", [16, 16], 0.5), (1, "small", [8, 8], 0.3)][:n_mac]
    cores = [
        {
            "id": i,
            "name": n,
            "array": {"dimensions": ["D1", "D2"], "sizes": s, "unit_energy_pj": e},
            "memories": [
                _mem("rf", 1, 64, 0.05, 0.05, ["I2"], ["D1"]),
                _mem("sram", 1024, 256, 10.0, 12.0, ["I1", "I2", "O"]),
            ],
        }
        for i, n, s, e in macs
    ]
    cores.append(
        {
            "id": 2,
            "name": "simd",
            "operator_types": ["elementwise", "norm", "loss", "optimizer", "pool"],
            "array": {"dimensions": ["D1"], "sizes": [32], "unit_energy_pj": 0.1},
            "memories": [_mem("sram", 512, 256, 8.0, 9.0, ["I1", "I2", "O"])],
        }
    )
    cores.append(
        {
            "id": 3,
            "name": "dram",
            "kind": "offchip",
            "memories": [_mem("dram", 1024 * 1024, 64, 700.0, 750.0, ["I1", "I2", "O"])],
        }
    )
    ids = [c["id"] for c in cores if c["id"] != 3]
    links = [
        {"kind": "link", "cores": [a, b], "bandwidth_bits_per_cycle": 64, "energy_pj_per_bit": 0.1}
        for k, a in enumerate(ids)
        for b in ids[k + 1 :]
    ]
    links.append(
        {
            "kind": "bus",
            "cores": [*ids, 3],
            "bandwidth_bits_per_cycle": 64,
            "energy_pj_per_bit": 0.5,
        }
    )
    return {
        "format": "monet-opt/accelerator@1",
        "name": f"tiny_{n_mac}mac",
        "offchip_core_id": 3,
        "cores": cores,
        "links": links,
    }


@pytest.fixture(scope="module")
def problem():
    graph = derive_training_graph(build_model("mlp", batch=4, sizes=(64, 128, 128, 64, 10)))
    return build_problem(graph, accelerator_from_dict(tiny_accelerator()))


def _key(r: GAResult):
    return (r.decision.allocation, r.best, r.evaluations, [(e, b) for e, _, b in r.history])


def test_problem_has_choices(problem):
    assert len(problem.flexible) >= 4


def test_encode_decode_roundtrip(problem):
    default = greedy_decision(problem)
    genome = encode(problem, default.allocation)
    assert len(genome) == len(problem.flexible)
    assert decode(problem, genome) == tuple(default.allocation)
    with pytest.raises(ValueError, match="allowed cores"):
        bad = list(default.allocation)
        bad[problem.flexible[0]] = 99
        encode(problem, bad)


@pytest.mark.parametrize("objective", ["latency", "energy", "edp"])
def test_deterministic_per_seed(problem, objective):
    a = run_ga(problem, objective, population=12, generations=8, seed=3)
    b = run_ga(problem, objective, population=12, generations=8, seed=3)
    assert _key(a) == _key(b)
    # Elitism + seeding with the greedy allocation: never worse than the greedy start,
    # and the history is monotone.
    assert a.best <= a.initial
    bests = [h[2] for h in a.history]
    assert all(x >= y for x, y in zip(bests, bests[1:], strict=False))
    # The reported best is the evaluator's value of the returned decision.
    lat, en = evaluate_fast(problem, a.decision.allocation)
    expected = {"latency": lat, "energy": en, "edp": lat * en}[objective]
    assert a.best == pytest.approx(expected)
    assert a.simulated == pytest.approx(expected)


def test_different_seeds_explore_differently(problem):
    hist = {tuple(h[0] for h in run_ga(problem, population=12, generations=5, seed=s).history)
            for s in range(4)}  # fmt: skip
    assert len(hist) > 1


def test_parallel_equals_serial(problem):
    a = run_ga(problem, "energy", population=10, generations=4, seed=5, processes=1)
    b = run_ga(problem, "energy", population=10, generations=4, seed=5, processes=2)
    assert _key(a) == _key(b)


def test_global_rng_state_restored(problem):
    random.seed(123)
    np.random.seed(123)
    expect = (random.random(), np.random.random())
    random.seed(123)
    np.random.seed(123)
    run_ga(problem, population=6, generations=2, seed=9)
    assert (random.random(), np.random.random()) == expect


def test_eval_budget(problem):
    r = run_ga(problem, population=10, generations=1000, seed=0, max_evals=25)
    assert r.evaluations <= 25
    assert r.stop_reason == "max_evals"
    r = run_ga(problem, population=10, generations=10_000, seed=0, time_limit=0.2)
    assert r.stop_reason == "time_limit" and r.generations < 10_000
    assert r.seconds >= 0.2  # stopped by the clock, not before it ran out


def test_callback_and_as_dict(problem):
    seen = []
    r = run_ga(problem, population=8, generations=3, seed=1, callback=lambda *a: seen.append(a))
    assert [s[0] for s in seen] == [0, 1, 2, 3]
    d = r.as_dict()
    assert d["method"] == "ga" and d["seed"] == 1 and len(d["history"]) == 4
    assert d["allocation"] == list(r.decision.allocation)
    assert r.schedule.latency == pytest.approx(r.best)


def test_no_flexible_node():
    graph = derive_training_graph(build_model("mlp", batch=2, sizes=(16, 8)))
    p = build_problem(graph, accelerator_from_dict(tiny_accelerator(n_mac=1)))
    assert not p.flexible
    r = run_ga(p, population=4, generations=3)
    assert r.stop_reason == "no_choice" and r.evaluations == 1


def test_bad_arguments(problem):
    for kw in (
        {"objective": "speed"},
        {"population": 1},
        {"cx_prob": 1.5},
        {"processes": 0},
        {"crossover": "three_point"},
    ):
        with pytest.raises(ValueError):
            run_ga(problem, **kw)


@pytest.mark.parametrize("objective", ["latency", "energy"])
def test_ga_never_beats_proven_optimal_milp(problem, objective):
    milp = solve_allocation(problem, None, objective, SolverOptions(time_limit=30, mip_gap=1e-6))
    assert milp.status == "optimal"  # 11 flexible nodes: proven in milliseconds
    assert milp.bound <= milp.simulated * (1 + 1e-6)
    ga = run_ga(problem, objective, population=16, generations=15, seed=0)
    assert ga.best >= milp.simulated * (1 - 1e-5)
    assert ga.best <= ga.initial  # seeded with the greedy allocation
