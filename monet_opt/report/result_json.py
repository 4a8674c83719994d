"""``result.json``: inputs, metrics, decisions, solver statistics and software versions.

Units in the file are explicit in the key names: ``*_cycles``, ``*_pj``, ``*_bytes``,
``*_seconds``.  Non-finite numbers (an unbounded gap, an infeasible GA individual) are
written as ``null`` so that the file is strict JSON.  The file is written atomically (a
temporary file in the same directory, then :func:`os.replace`).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import platform
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from monet_opt.atomic import write_text_atomic
from monet_opt.schedule.types import Schedule
from monet_opt.units import MIB_BITS as _MIB_BITS
from monet_opt.units import within

__all__ = [
    "RESULT_SCHEMA_VERSION",
    "software_versions",
    "schedule_metrics",
    "decisions",
    "structure_decisions",
    "best_result",
    "result_dict",
    "write_result",
    "write_json_atomic",
    "joint_dict",
    "to_jsonable",
]

RESULT_SCHEMA_VERSION = 1


_PACKAGES = ("monet-opt", "highspy", "numpy", "deap", "onnx", "pydantic", "networkx", "matplotlib")


def software_versions() -> dict[str, str | None]:
    """Versions of Python and the packages results depend on (``None`` if absent)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for pkg in _PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    out["monet_opt"] = out.pop("monet-opt")
    if out.get("monet_opt") is None:  # running from a source tree, not installed
        from monet_opt import __version__

        out["monet_opt"] = __version__
    out["platform"] = platform.platform()
    return out


def to_jsonable(obj: Any) -> Any:
    """Recursively convert numpy scalars/arrays, paths, sets and tuples; non-finite -> None."""
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = sorted(obj, key=str) if isinstance(obj, (set, frozenset)) else obj
        return [to_jsonable(v) for v in items]
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, str):
        return obj
    if hasattr(obj, "value") and isinstance(obj.value, str):  # enums
        return obj.value
    return str(obj)


def _core_name(problem: Any, core_id: int) -> str:
    try:
        return problem.accelerator.core(int(core_id)).name
    except (KeyError, AttributeError):
        return f"core {core_id}"


def schedule_metrics(schedule: Schedule, problem: Any = None) -> dict[str, Any]:
    """Latency, energy breakdown, EDP, peak memories and traffic of a schedule."""
    peaks = {}
    for label, tr in schedule.memory.items():
        cap = float(tr.capacity_bits)
        peaks[label] = {
            "core": int(tr.core),
            "memory": tr.memory,
            "peak_bytes": tr.peak_bits / 8,
            "capacity_bytes": cap / 8 if math.isfinite(cap) else None,
            "utilization": tr.peak_bits / cap if cap and math.isfinite(cap) else None,
        }
    dram_bits = sum(t.bits for t in schedule.transfers if t.channel == "dram")
    link_bits = sum(t.bits for t in schedule.transfers if t.channel != "dram")
    busy = {}
    if len(schedule.node_names):
        for c in np.unique(schedule.core):
            mask = schedule.core == c
            busy[_core_name(problem, int(c)) if problem is not None else str(int(c))] = float(
                np.sum(schedule.end[mask] - schedule.fetch_end[mask])
            )
    lat = float(schedule.latency)
    st = schedule.stats or {}
    memory: dict[str, Any] = {}
    if "memory_model" in st:
        split = st.get("dram_traffic_bits", {})
        memory = {
            "memory_model": st["memory_model"],
            "memory_overflow": int(st.get("memory_overflow", 0)),
            "dram_traffic_split": {
                k: {
                    "bytes": float(v) / 8,
                    "port_cycles": float(st["dram_traffic_cycles"][k]),
                    "energy_pj": float(st["dram_traffic_pj"][k]),
                }
                for k, v in split.items()
            },
            "spilled_tensors": list(st.get("spilled", ())),
            "activation_placement": dict(st.get("activation_placement", {})),
        }
    return {
        **memory,
        "latency_cycles": lat,
        "energy_pj": schedule.energy.as_dict(),
        "edp_pj_cycles": schedule.edp,
        "peak_memory_bytes": {k: v["peak_bytes"] for k, v in peaks.items()},
        "memories": peaks,
        "dram_traffic_bytes": dram_bits / 8,
        "link_traffic_bytes": link_bits / 8,
        "n_transfers": len(schedule.transfers),
        "core_compute_utilization": {k: (v / lat if lat > 0 else None) for k, v in busy.items()},
    }


def decisions(schedule: Schedule, problem: Any = None) -> dict[str, dict[str, Any]]:
    """Node name -> ``{"core_id", "core", "start_cycle", "end_cycle"}``."""
    out = {}
    for i, name in enumerate(schedule.node_names):
        cid = int(schedule.core[i])
        out[name] = {
            "core_id": cid,
            "core": _core_name(problem, cid),
            "start_cycle": float(schedule.start[i]),
            "end_cycle": float(schedule.end[i]),
        }
    return out


def structure_decisions(
    decision: Any,
    schedule: Schedule,
    problem: Any,
    *,
    budget_bits: float | None = None,
    store_all_bits: float | None = None,
) -> dict[str, Any]:
    """Fusion and checkpointing decisions of a solution and its schedule metrics.

    Stacks as node-name lists, the kept and recomputed checkpoint candidates, the peak
    activation footprint against the budget, and the final schedule's latency, energy
    and recompute cost.
    """
    names = tuple(getattr(problem, "node_names", ()) or ())

    def name(i: int) -> str:
        return names[i] if 0 <= i < len(names) else f"node {i}"

    stacks = [[name(int(i)) for i in st] for st in (getattr(decision, "stacks", ()) or ())]
    cands = list(getattr(problem, "checkpoint_tensors", ()) or ())
    ck = getattr(decision, "checkpoints", None)
    kept = cands if ck is None else [a for a in cands if a in ck]
    recomputed = [] if ck is None else [a for a in cands if a not in ck]
    stats = dict(schedule.stats)
    peak = float(stats.get("peak_footprint_bits", schedule.peak_footprint_bits))
    ok = None if budget_bits is None else within(peak, float(budget_bits))
    return {
        "fusion": {"n_stacks": len(stacks), "stacks": stacks},
        "checkpointing": {
            "mode": "store-all" if ck is None else "selected",
            "n_candidates": len(cands),
            "kept": kept,
            "recomputed": recomputed,
        },
        "footprint": {
            "peak_footprint_bits": peak,
            "peak_footprint_bytes": peak / 8,
            "peak_footprint_mib": peak / _MIB_BITS,
            "budget_bits": budget_bits,
            "budget_bytes": None if budget_bits is None else float(budget_bits) / 8,
            "budget_mib": None if budget_bits is None else float(budget_bits) / _MIB_BITS,
            "store_all_footprint_bits": store_all_bits,
            "peak_within_budget": ok,
        },
        "schedule": {
            "latency_cycles": float(schedule.latency),
            "energy_pj": float(schedule.energy.total),
            "peak_footprint_bytes": peak / 8,
            "recompute_cycles": float(stats.get("recompute_cycles", 0.0)),
            "recompute_energy_pj": float(stats.get("recompute_energy_pj", 0.0)),
            "recompute_nodes": int(stats.get("recompute_nodes", 0)),
            "stack_overflow": int(stats.get("stack_overflow", 0)),
        },
    }


def _objective_of(schedule: Schedule, objective: str) -> float:
    if objective == "energy":
        return float(schedule.energy.total)
    if objective == "edp":
        return float(schedule.edp)
    return float(schedule.latency)


def best_result(results: Mapping[str, Any], objective: str) -> tuple[str, Any] | None:
    """``(method, result)`` whose re-simulated schedule has the best objective value.

    Ties go to the first entry (put the MILP first)."""
    best = None
    for method, res in results.items():
        if res is None:
            continue
        val = _objective_of(res.schedule, objective)
        if best is None or val < best[0]:
            best = (val, method, res)
    return None if best is None else (best[1], best[2])


def result_dict(
    *,
    problem: Any,
    objective: str,
    milp: Any = None,
    ga: Any = None,
    config: Any = None,
    wall_times: Mapping[str, float] | None = None,
    extra: Mapping[str, Any] | None = None,
    joint: Any = None,
    budget_bits: float | None = None,
    store_all_bits: float | None = None,
) -> dict[str, Any]:
    """The content of ``result.json``.

    Parameters
    ----------
    problem
        The :class:`~monet_opt.schedule.problem.Problem` that was solved.
    objective
        ``"latency"``, ``"energy"`` or ``"edp"``.
    milp, ga
        :class:`~monet_opt.formulations.allocation.SolveResult` and/or
        :class:`~monet_opt.ga.GAResult` (at least one).
    config
        The :class:`~monet_opt.config.Config` (echoed with its resolved paths).
    wall_times
        Named wall times in seconds (``build_inputs``, ``build_problem``, ``milp``...).
    extra
        More top-level keys.
    joint
        The :func:`~monet_opt.formulations.joint.solve_joint` result of a fusion /
        checkpointing solve (``milp`` is then its ``final``).  Its ``as_dict()`` goes
        under ``decisions_exact``; the fusion / checkpointing decisions of the final
        solution with the footprint vs ``budget_bits`` and its schedule metrics under
        ``fusion_checkpointing``.  The MILP is then the reported best method: the GA
        searches the allocation only (layer by layer, store-all) and ignores the budget.
    budget_bits, store_all_bits
        Activation footprint budget and store-all footprint, bits.
    """
    results = {"milp": milp, "ga": ga}
    if joint is not None and milp is None:
        milp = results["milp"] = joint
    chosen = ("milp", milp) if joint is not None else best_result(results, objective)
    if chosen is None:
        raise ValueError("result_dict needs at least one of milp= or ga=")
    method, best = chosen
    graph = getattr(problem, "graph", None)
    acc = getattr(problem, "accelerator", None)

    inputs: dict[str, Any] = {}
    if config is not None:
        inputs["config"] = config.model_dump(mode="json")
        inputs["paths"] = config.resolved_paths()
    inputs["model"] = getattr(graph, "name", None)
    inputs["n_ops"] = len(graph.ops) if graph is not None else None
    inputs["parameters"] = getattr(graph, "parameter_count", None)
    inputs["accelerator"] = getattr(acc, "name", None)
    inputs["accelerator_source"] = getattr(acc, "source", None)
    inputs["n_nodes"] = getattr(problem, "n_nodes", None)
    inputs["n_flexible_nodes"] = len(getattr(problem, "flexible", ()) or ())

    methods: dict[str, Any] = {}
    for name, res in results.items():
        if res is None:
            continue
        entry = dict(res.as_dict())
        entry.pop("allocation", None)
        entry.pop("decision", None)
        entry["metrics"] = schedule_metrics(res.schedule, problem)
        methods[name] = entry

    out: dict[str, Any] = {
        "schema_version": RESULT_SCHEMA_VERSION,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "objective": objective,
        "best_method": method,
        "inputs": inputs,
        "metrics": schedule_metrics(best.schedule, problem),
        "decisions": decisions(best.schedule, problem),
        "methods": methods,
        "wall_times_seconds": dict(wall_times or {}),
        "software": software_versions(),
        "command": sys.argv,
    }
    if joint is not None:
        out["decisions_exact"] = joint_dict(joint)
        out["fusion_checkpointing"] = structure_decisions(
            best.decision,
            best.schedule,
            problem,
            budget_bits=budget_bits,
            store_all_bits=store_all_bits,
        )
    if getattr(best, "formulation", "") == "resident_state":
        ex = best.extra
        out["resident_state"] = {
            "resident": ex.get("resident", {}),
            "bytes": ex.get("resident_bytes", 0.0),
            "saved_port_cycles": ex.get("saved_port_cycles", 0.0),
            "candidates": ex.get("resident_candidates", 0),
            "knapsack_objective": ex.get("knapsack_objective"),
            "knapsack_bound": ex.get("knapsack_bound"),
            "knapsack_gap": ex.get("knapsack_gap"),
            f"{objective}_without_resident": ex.get("without_resident"),
        }
    if extra:
        out.update(extra)
    return to_jsonable(out)


def joint_dict(res: Any) -> dict[str, Any]:
    """``decisions_exact`` of ``result.json``: the joint solver's answer, its parts
    (the last exact solve of each block), history and fusion baselines."""
    ex = dict(res.extra)
    sch = res.schedule
    peak = float(sch.stats.get("peak_footprint_bits", 0.0))
    budget = ex.get("budget_bits")

    def part(r: Any) -> dict[str, Any]:
        d = r.as_dict()
        d.pop("allocation", None)
        return d

    return {
        "mode": ex.get("mode"),
        "iterations": ex.get("iterations"),
        "objective_name": res.objective_name,
        "status": res.status,
        "blocks_optimal": ex.get("blocks_optimal"),
        "scope": res.scope,
        "objective": res.objective,
        "simulated": res.simulated,
        "bound": res.bound,
        "gap": res.gap,
        "stacks": ex.get("stacks", []),
        "checkpoints_kept": ex.get("kept"),
        "checkpoints_recomputed": ex.get("recomputed", []),
        "peak_footprint_bits": peak,
        "peak_footprint_mib": peak / _MIB_BITS,
        "budget_bits": budget,
        "budget_mib": None if budget is None else float(budget) / _MIB_BITS,
        "within_budget": None if budget is None else within(peak, float(budget)),
        "recompute_cycles": float(sch.stats.get("recompute_cycles", 0.0)),
        "latency_cycles": sch.latency,
        "energy_pj": sch.energy.total,
        "parts": {k: part(v) for k, v in (ex.get("parts") or {}).items()},
        "baselines": ex.get("baselines", {}),
        "history": ex.get("history", []),
        "min_feasible_budget_bits": ex.get("min_feasible_budget_bits"),
        "store_all_footprint_bits": ex.get("store_all_footprint_bits"),
    }


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Write JSON to ``path`` atomically (temp file in the same directory + ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(to_jsonable(data), indent=2, allow_nan=False) + "\n"
    write_text_atomic(path, text)
    return path


def write_result(out_dir: str | Path, **kwargs: Any) -> Path:
    """Write ``out_dir/result.json`` (see :func:`result_dict` for the arguments)."""
    return write_json_atomic(Path(out_dir) / "result.json", result_dict(**kwargs))
