"""Export a simulated schedule as Chrome Trace Event Format JSON.

The file opens in https://ui.perfetto.dev and ``chrome://tracing``.  Format reference:
"Trace Event Format", Google,
https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU.

Layout: one process per core (threads ``compute`` and ``fetch``, plus the on-chip memory
occupancy as a counter), one process ``DRAM port`` (threads ``read`` / ``write`` and the
DRAM occupancy counter) and one process per link channel.  Slices that overlap on one
thread (pipelined fused stacks) are moved to extra threads so that every thread holds
properly nested (here: disjoint) slices, which both viewers require.  Process and thread
ids are unique across the trace (Perfetto's JSON importer names threads by tid alone).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from monet_opt.atomic import write_text_atomic
from monet_opt.report.plots import _core_label, node_phases
from monet_opt.report.result_json import to_jsonable
from monet_opt.schedule.types import Schedule
from monet_opt.units import KIB_BITS

__all__ = ["schedule_trace", "write_trace"]

_SPEC = "https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU"


def _lanes(spans: Sequence[tuple[float, float]]) -> list[int]:
    """Greedy lane per ``(start, end)`` span so that spans in one lane are disjoint."""
    ends: list[float] = []
    out = [0] * len(spans)
    for k in sorted(range(len(spans)), key=lambda k: spans[k]):
        s, e = spans[k]
        lane = next((i for i, last in enumerate(ends) if last <= s), len(ends))
        if lane == len(ends):
            ends.append(e)
        ends[lane] = max(e, s)
        out[k] = lane
    return out


class _Trace:
    """Event list with process/thread ids and their metadata events."""

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self.meta: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.tids: dict[tuple[int, str], int] = {}
        self.n_ids = 0
        self.n_procs = 0

    def _new_id(self) -> int:
        # pids and tids come from one counter: Perfetto keys threads by tid alone
        self.n_ids += 1
        return self.n_ids

    def process(self, name: str) -> int:
        """New process ``name`` (shown in creation order); its own tid is its pid."""
        pid = self._new_id()
        self.n_procs += 1
        self._meta("process", pid, pid, name, self.n_procs)
        return pid

    def thread(self, pid: int, name: str) -> int:
        """Thread id of ``name`` in process ``pid`` (created on first use)."""
        if (pid, name) not in self.tids:
            self.tids[pid, name] = tid = self._new_id()
            self._meta("thread", pid, tid, name, sum(1 for p, _ in self.tids if p == pid))
        return self.tids[pid, name]

    def _meta(self, kind: str, pid: int, tid: int, name: str, order: int) -> None:
        for key, args in (
            (f"{kind}_name", {"name": name}),
            (f"{kind}_sort_index", {"sort_index": order}),
        ):
            self.meta.append(
                {"name": key, "ph": "M", "ts": 0, "pid": pid, "tid": tid, "args": args}
            )

    def slices(
        self, pid: int, thread: str, items: Sequence[tuple[str, str, float, float, dict[str, Any]]]
    ) -> None:
        """Complete ("X") events ``(name, cat, start_cycles, end_cycles, args)``."""
        lanes = _lanes([(float(s), max(float(e), float(s))) for _, _, s, e, _ in items])
        for (name, cat, s, e, args), lane in zip(items, lanes, strict=True):
            tid = self.thread(pid, thread if lane == 0 else f"{thread} ({lane + 1})")
            ts, dur = float(s) * self.scale, max(0.0, float(e) - float(s)) * self.scale
            ev = {"name": name, "cat": cat, "ph": "X", "ts": ts, "dur": dur, "pid": pid}
            self.events.append({**ev, "tid": tid, "args": args})


def schedule_trace(
    schedule: Schedule,
    problem: Any = None,
    *,
    name: str = "schedule",
    clock_hz: float | None = None,
) -> dict[str, Any]:
    """Chrome Trace Event Format dict of a schedule ("Trace Event Format", Google, [spec]_).

    Parameters
    ----------
    schedule
        Evaluated schedule (times in cycles, energies in pJ, memory in bits).
    problem
        Optional :class:`~monet_opt.schedule.problem.Problem`: names the cores, the
        training phases (:func:`~monet_opt.report.plots.node_phases`) and the off-chip core.
    name
        Trace name, stored in ``otherData``.
    clock_hz
        Clock frequency in Hz.  ``None`` (default): **ts is in cycles**, i.e. one cycle is
        shown as 1 µs of trace time.  Otherwise cycles are converted to µs
        (``ts = cycles / clock_hz * 1e6``).

    Returns
    -------
    dict
        ``{"traceEvents": [...], "displayTimeUnit": "ns", "otherData": {...}}``.  Events
        are sorted by ``ts`` (metadata first).  Compute slices (``"X"``, thread
        ``compute``) span a node's ``start`` to ``end`` (input fetch included; the fetch
        phase ``start`` to ``fetch_end`` is also a slice on thread ``fetch`` when
        non-empty); their category is the training phase, or ``recompute`` for recompute
        copies.  Transfers are named by tensor with ``args`` ``bits``, ``src``, ``dst``.
        Memory occupancy is a counter (``"C"``) in KiB per memory label with nonzero use.
        ``otherData`` holds the time unit, latency (cycles), energy (pJ), the stats and the
        activation footprint in bits per program position (not a time series).

    References
    ----------
    .. [spec] https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU
    """
    if clock_hz is not None and not (math.isfinite(clock_hz) and clock_hz > 0):
        raise ValueError(f"clock_hz must be a positive finite frequency, got {clock_hz!r}")
    tr = _Trace(1.0 if clock_hz is None else 1e6 / clock_hz)
    acc = getattr(problem, "accelerator", None)
    offchip = getattr(acc, "offchip_core_id", None)
    if offchip is None and "DRAM" in schedule.memory:
        offchip = int(schedule.memory["DRAM"].core)

    core_ids = [int(c) for c in getattr(problem, "core_ids", ()) or ()]
    used = {int(c) for c in schedule.core.tolist()}
    used |= {int(m.core) for k, m in schedule.memory.items() if k != "DRAM" and m.core != offchip}
    core_ids += sorted(used - set(core_ids))
    pids = {c: tr.process(_core_label(problem, c)) for c in core_ids}
    phases = node_phases(schedule, problem)
    for c, pid in pids.items():
        compute, fetch = [], []
        for i in (i for i, ci in enumerate(schedule.core.tolist()) if int(ci) == c):
            node, phase = schedule.node_names[i], phases[i]
            s, f, e = (float(a[i]) for a in (schedule.start, schedule.fetch_end, schedule.end))
            cat = "recompute" if "@recompute[" in node else phase
            args = {"node": i, "core": c, "phase": phase, "cycles": e - s, "fetch_cycles": f - s}
            compute.append((node, cat, s, e, args))
            if f > s:
                fetch.append((f"fetch {node}", "fetch", s, f, {"node": i, "fetch_cycles": f - s}))
        tr.slices(pid, "compute", compute)
        tr.slices(pid, "fetch", fetch)

    dram = [t for t in schedule.transfers if t.channel == "dram"]
    if dram or "DRAM" in schedule.memory:
        pids[-1] = tr.process("DRAM port")
        for kind, keep in (
            ("read", lambda t: t.src == offchip),
            ("write", lambda t: t.dst == offchip),
            ("transfer", lambda t: offchip not in (t.src, t.dst)),
        ):
            tr.slices(pids[-1], kind, [_transfer(t, "dram " + kind) for t in dram if keep(t)])
    for ch in sorted({t.channel for t in schedule.transfers} - {"dram"}):
        items = [_transfer(t, "link") for t in schedule.transfers if t.channel == ch]
        tr.slices(tr.process(ch), "transfers", items)

    for label, mem in schedule.memory.items():
        pid = pids.get(-1 if label == "DRAM" or mem.core == offchip else int(mem.core))
        if mem.peak_bits <= 0 or pid is None:
            continue
        for t, b in zip(mem.times.tolist(), mem.bits.tolist(), strict=False):
            ev = {"name": label, "ph": "C", "ts": float(t) * tr.scale, "pid": pid, "tid": pid}
            tr.events.append({**ev, "args": {"KiB": float(b) / KIB_BITS}})

    tr.events.sort(key=lambda ev: ev["ts"])
    unit = "cycles (1 cycle = 1 us of trace time)" if clock_hz is None else "us"
    other = {
        "name": name,
        "generator": "monet_opt.report.trace",
        "format_spec": _SPEC,
        "ts_unit": f"ts is in {unit}",
        "clock_hz": clock_hz,
        "graph": getattr(getattr(problem, "graph", None), "name", None),
        "accelerator": getattr(acc, "name", None),
        "latency_cycles": schedule.latency,
        **schedule.energy.as_dict(),
        **dict(schedule.stats),
        "footprint_bits_per_program_position": schedule.footprint,
    }
    return {
        "traceEvents": tr.meta + tr.events,
        "displayTimeUnit": "ns",
        "otherData": to_jsonable(other),
    }


def _transfer(t: Any, cat: str) -> tuple[str, str, float, float, dict[str, Any]]:
    args = {"bits": float(t.bits), "src": int(t.src), "dst": int(t.dst), "channel": t.channel}
    return (t.tensor, cat, float(t.start), float(t.end), args)


def write_trace(path: str | Path, schedule: Schedule, problem: Any = None, **kw: Any) -> Path:
    """Write :func:`schedule_trace` as compact JSON to ``path`` atomically.

    Parameters
    ----------
    path
        Destination, conventionally ``*.json`` (Perfetto also accepts it gzipped).
    schedule, problem, **kw
        As for :func:`schedule_trace` (``name``, ``clock_hz``).

    Returns
    -------
    Path
        ``path``.
    """
    trace = schedule_trace(schedule, problem, **kw)
    text = json.dumps(trace, separators=(",", ":"), allow_nan=False) + "\n"
    return write_text_atomic(path, text)
