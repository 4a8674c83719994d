"""Chrome Trace Event Format export of schedules (monet_opt.report.trace)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import numpy as np
import pytest

from monet_opt.heuristics.allocation import greedy_decision
from monet_opt.models.training import derive_training_graph
from monet_opt.report.trace import schedule_trace, write_trace
from monet_opt.schedule.evaluator import evaluate
from monet_opt.schedule.problem import Problem, build_problem
from monet_opt.schedule.types import Decision, EnergyBreakdown, MemoryTrace, Schedule, Transfer
from tests.factories import accelerator, random_forward_graph


def problem(seed: int = 3, layer_io: str = "onchip") -> Problem:
    g = derive_training_graph(random_forward_graph(seed), optimizer="sgd", loss="mse")
    return build_problem(g, accelerator(3, seed=seed), layer_io=layer_io)


def spread(p: Problem) -> Decision:
    """Nodes round-robin over their allowed cores (so that links carry data)."""
    alloc = tuple(a[k % len(a)] for k, a in enumerate(p.allowed))
    return Decision(alloc)


def names(events: list[dict[str, Any]], kind: str) -> dict[tuple[int, int], str]:
    return {(e["pid"], e["tid"]): e["args"]["name"] for e in events if e["name"] == kind}


def check(s: Schedule, p: Problem | None) -> dict[str, Any]:
    trace = json.loads(json.dumps(schedule_trace(s, p, name="t")))
    assert trace["displayTimeUnit"] == "ns" and trace["otherData"]["name"] == "t"
    evs = trace["traceEvents"]
    ts = [e["ts"] for e in evs]
    assert ts == sorted(ts)
    assert all(e["dur"] >= 0 for e in evs if e["ph"] == "X")
    procs, threads = names(evs, "process_name"), names(evs, "thread_name")
    assert {e["pid"] for e in evs} <= {pid for pid, _ in procs}
    assert len({tid for _, tid in threads} | {pid for pid, _ in procs}) == len(threads) + len(procs)
    assert all((e["pid"], e["tid"]) in threads for e in evs if e["ph"] == "X")
    # every node once as a compute slice spanning start..end (cycle clock)
    compute = [
        e for e in evs if e["ph"] == "X" and threads[e["pid"], e["tid"]].startswith("compute")
    ]
    assert sorted(e["args"]["node"] for e in compute) == list(range(len(s.node_names)))
    for e in compute:
        i = e["args"]["node"]
        assert e["name"] == s.node_names[i] and e["args"]["core"] == int(s.core[i])
        assert e["ts"] == s.start[i]  # the default clock: 1 cycle = 1 µs, exactly
        assert e["ts"] + e["dur"] == pytest.approx(s.end[i], rel=1e-12)
    # slices on one thread are disjoint (viewers need proper nesting)
    by_thread: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for e in evs:
        if e["ph"] == "X":
            by_thread.setdefault((e["pid"], e["tid"]), []).append((e["ts"], e["ts"] + e["dur"]))
    for spans in by_thread.values():
        spans.sort()
        assert all(b[0] >= a[1] - 1e-9 for a, b in zip(spans, spans[1:], strict=False))
    # every transfer once
    got = Counter(
        (e["name"], e["ts"], e["ts"] + e["dur"], e["args"]["bits"])
        for e in evs
        if e["ph"] == "X" and "bits" in e["args"]
    )
    want = Counter((t.tensor, float(t.start), float(t.end), float(t.bits)) for t in s.transfers)
    assert got == want
    # a counter per memory with nonzero use
    counters = {e["name"] for e in evs if e["ph"] == "C"}
    assert counters == {k for k, m in s.memory.items() if m.peak_bits > 0}
    return trace


def test_trace_of_a_training_step(tmp_path):
    p = problem()
    s = evaluate(p, spread(p))
    assert s.transfers and any(t.channel != "dram" for t in s.transfers)
    trace = check(s, p)
    evs = trace["traceEvents"]
    procs = set(names(evs, "process_name").values())
    assert {"DRAM port", "core 0: core0"} <= procs
    assert {t.channel for t in s.transfers} - {"dram"} <= procs
    phases = {e["cat"] for e in evs if e["ph"] == "X" and "phase" in e["args"]}
    assert {"forward", "backward", "optimizer"} <= phases
    dram = [e for e in evs if e["ph"] == "X" and e["cat"].startswith("dram")]
    assert {e["cat"] for e in dram} == {"dram read", "dram write"}
    other = trace["otherData"]
    assert "cycles" in other["ts_unit"] and other["latency_cycles"] == s.latency
    assert other["total_pj"] == pytest.approx(s.energy.total)
    assert len(other["footprint_bits_per_program_position"]) == len(s.node_names)

    # a 1 GHz clock: 1000 cycles per µs
    fast = schedule_trace(s, p, clock_hz=1e9)
    slow_x = [e for e in evs if e["ph"] == "X"]
    fast_x = [e for e in fast["traceEvents"] if e["ph"] == "X"]
    assert [e["name"] for e in fast_x] == [e["name"] for e in slow_x]
    for e, f in zip(slow_x, fast_x, strict=True):
        assert f["ts"] == pytest.approx(e["ts"] / 1000)
        assert f["dur"] == pytest.approx(e["dur"] / 1000)
    assert fast["otherData"]["clock_hz"] == 1e9
    with pytest.raises(ValueError, match="clock_hz"):
        schedule_trace(s, p, clock_hz=0)

    out = write_trace(tmp_path / "sub" / "trace.json", s, p, name="step")
    loaded = json.loads(out.read_text())
    assert loaded["otherData"]["name"] == "step"
    assert len(loaded["traceEvents"]) == len(evs)
    assert [f.name for f in out.parent.iterdir()] == ["trace.json"]  # no temp files left


def test_without_problem():
    p = problem(seed=1, layer_io="dram")
    s = evaluate(p, greedy_decision(p))
    trace = check(s, None)
    procs = set(names(trace["traceEvents"], "process_name").values())
    assert "core 0" in procs
    assert trace["otherData"]["graph"] is None


def test_fused_stacks_and_recompute():
    p = problem(seed=3)
    assert p.checkpoint_tensors
    order = p.program_order()
    dec = Decision(spread(p).allocation, None, (tuple(order[:2]),), frozenset())
    s = evaluate(p, dec)
    assert s.stats["recompute_nodes"] > 0
    trace = check(s, p)
    cats = Counter(e["cat"] for e in trace["traceEvents"] if e["ph"] == "X")
    assert cats["recompute"] == s.stats["recompute_nodes"]
    assert trace["otherData"]["recompute_nodes"] == s.stats["recompute_nodes"]


def test_overlapping_and_empty_slices_get_their_own_threads():
    # hand-made schedule: two overlapping nodes on core 0, a zero-length node, two
    # overlapping transfers on one link, a DRAM occupancy trace, no problem
    s = Schedule(
        node_names=("a", "b", "c"),
        core=np.array([0, 0, 1]),
        start=np.array([0.0, 5.0, 7.0]),
        fetch_end=np.array([2.0, 5.0, 7.0]),
        end=np.array([10.0, 12.0, 7.0]),
        transfers=(
            Transfer("t0", 0, 1, "link 0-1", 1.0, 4.0, 64.0),
            Transfer("t1", 0, 1, "link 0-1", 2.0, 3.0, 32.0),
            Transfer("w", 2, 0, "dram", 0.0, 1.0, 8.0),
        ),
        latency=12.0,
        energy=EnergyBreakdown(1.0, 2.0, 3.0, 4.0),
        memory={
            "DRAM": MemoryTrace("DRAM", 2, 1e9, np.array([0.0, 4.0]), np.array([8192.0, 0.0])),
            "core 1 (x)": MemoryTrace("core 1 (x)", 1, 1e3, np.array([0.0]), np.array([0.0])),
        },
    )
    trace = check(s, None)
    evs = trace["traceEvents"]
    threads = names(evs, "thread_name")
    assert {"compute", "compute (2)", "fetch", "transfers", "transfers (2)", "read"} == set(
        threads.values()
    )
    (c,) = [e for e in evs if e["name"] == "c"]
    assert c["dur"] == 0.0
    dram = [e for e in evs if e["ph"] == "C"]
    assert [e["args"]["KiB"] for e in dram] == [1.0, 0.0]
    procs = {pid: n for (pid, _), n in names(evs, "process_name").items()}
    assert procs[dram[0]["pid"]] == "DRAM port"
