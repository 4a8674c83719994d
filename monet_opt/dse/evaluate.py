"""One design point: build its accelerator, run every workload, score it.

:func:`evaluate_point` is a module-level function of plain data (a mapping in, a mapping
out), so that a process pool or a Dask worker can run it (``docs/dse_execution.md``:
plain data, module-level functions, a seed per task). It never raises: a design that cannot run a
workload (a node no core runs, a DRAM too small, an inner solve that fails) comes back
with ``status: "failed"`` and the reason.

Inner decisions
---------------
``fast``
    The greedy allocation (:func:`monet_opt.heuristics.allocation.greedy_decision`),
    the default spill policy of the evaluator, and greedy fusion
    (:func:`monet_opt.heuristics.stacks.greedy_stacks`, kept only when it does not
    lengthen the step) when the workload's ``fusion.mode`` is not ``none``.
``exact``
    :func:`monet_opt.api.solve.solve` (the MILPs of ``monet-opt solve``) on the point's
    :class:`~monet_opt.api.inputs.Inputs` with ``time_limit_s`` per workload; its gap is
    recorded (``gap`` is the largest over the workloads).

Aggregation over the workloads (weights ``w``): ``latency_cycles = Σ w·latency``,
``energy_pj = Σ w·energy``, ``edp = Σ w·latency·energy``, ``peak_dram_bits`` the largest
peak DRAM occupancy; per-workload values are in ``metrics`` (``latency_cycles[name]``...).
``area_mm2`` is the area model's (:mod:`monet_opt.hardware.area`), and designs whose
area already breaks an area constraint are not run (``status: "infeasible"``).

Cost tables are cached per process: the per-(node, core type) mappings in
:func:`monet_opt.cost.mapping.best_mapping` (an LRU cache keyed by the node and core
specifications), so points that share a core type reuse them; the training graph of each
workload is built once per process.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from monet_opt.api.inputs import Inputs, build_problem_for, build_training_graph
from monet_opt.config import Config, config_from_dict
from monet_opt.dse.space import Constraint
from monet_opt.dse.templates import build_accelerator_doc
from monet_opt.errors import InputError
from monet_opt.hardware.area import accelerator_area
from monet_opt.hardware.model import Accelerator
from monet_opt.hardware.yaml_io import accelerator_from_dict, accelerator_to_dict
from monet_opt.heuristics.allocation import greedy_decision
from monet_opt.heuristics.stacks import greedy_stacks
from monet_opt.models import Graph
from monet_opt.schedule.evaluator import evaluate
from monet_opt.schedule.types import Decision, Schedule

__all__ = ["evaluate_point", "point_key", "cache_info"]

#: Training graphs built in this process, by workload (JSON of its config).
_GRAPHS: dict[str, tuple[Config, Graph]] = {}


def point_key(params: Mapping[str, Any]) -> str:
    """Canonical text of a point's parameters (sorted keys, ints as ints)."""
    import json

    return json.dumps({k: params[k] for k in sorted(params)}, sort_keys=True)


def cache_info() -> dict[str, int]:
    """Hits and misses of this process's per-(node, core type) mapping cache."""
    from monet_opt.cost.mapping import best_mapping

    ci = best_mapping.cache_info()
    return {"hits": ci.hits, "misses": ci.misses, "graphs": len(_GRAPHS)}


def _workload(w: Mapping[str, Any]) -> tuple[Config, Graph]:
    import json

    key = json.dumps([w["config"], w["base_dir"]], sort_keys=True)
    got = _GRAPHS.get(key)
    if got is None:
        cfg = config_from_dict(dict(w["config"]), base_dir=w["base_dir"], check_files=False)
        got = (cfg, build_training_graph(cfg))
        _GRAPHS[key] = got
    return got


def _first_line(msg: str) -> str:
    lines = [ln.strip() for ln in str(msg).splitlines() if ln.strip()]
    return lines[0] if lines else "error"


def _fast(inputs: Inputs) -> tuple[Schedule, dict[str, Any]]:
    problem = inputs.problem
    base = greedy_decision(problem)
    sched = evaluate(problem, base)
    extra: dict[str, Any] = {"stacks": 0}
    if inputs.config.fusion.mode != "none":
        stacks = greedy_stacks(problem, base.allocation, max_stack=inputs.config.fusion.max_stack)
        if stacks:
            fused = evaluate(problem, Decision(base.allocation, None, stacks))
            if fused.latency <= sched.latency:
                sched, extra["stacks"] = fused, len(stacks)
    return sched, extra


def _exact(inputs: Inputs, time_limit: float, objective: str) -> tuple[Schedule, dict[str, Any]]:
    from monet_opt.api.solve import solve

    obj = objective if objective in ("latency", "energy", "edp") else "latency"
    if inputs.config.uses_joint and obj == "edp":
        obj = "latency"
    run = solve(inputs, method="milp", objective=obj, time_limit=time_limit)
    r = run.milp
    if r is None or r.status == "infeasible" or r.schedule is None:
        raise RuntimeError(f"exact inner solve found no decision ({getattr(r, 'status', None)})")
    gap = r.gap if r.gap is not None and math.isfinite(r.gap) else None
    return r.schedule, {"gap": gap, "solver_status": r.status}


def _peak_dram(sched: Schedule) -> float:
    tr = sched.memory.get("DRAM")
    return float(tr.peak_bits) if tr is not None else 0.0


def _fits(sched: Schedule) -> bool:
    st = sched.stats
    return not (st.get("memory_overflow", 0) or st.get("stack_overflow", 0))


def evaluate_point(task: Mapping[str, Any]) -> dict[str, Any]:
    """Evaluate one design point (plain data in and out).

    Parameters
    ----------
    task
        ``id``, ``index``, ``params`` (searched parameter values), ``template``,
        ``fixed`` (held parameter values), ``workloads`` (from
        :meth:`~monet_opt.dse.space.DesignSpace.workload_payloads`), ``constraints``
        (``[text, metric, op, bound]`` lists), ``mode`` (``fast`` / ``exact``),
        ``time_limit_s``, ``objective`` (the inner objective of ``exact``) and ``seed``.

    Returns
    -------
    dict
        ``id``, ``index``, ``params``, ``status`` (``ok`` / ``failed`` / ``infeasible``),
        ``reason``, ``objectives`` (``latency_cycles``, ``energy_pj``, ``edp``,
        ``area_mm2``, ``peak_dram_bits``), ``metrics`` (per workload, area breakdown,
        ``memory_fits``, ``gap``, ``seconds``) and ``accelerator`` (the accelerator
        document of :func:`~monet_opt.hardware.yaml_io.accelerator_to_dict`, or
        ``None``).
    """
    t0 = time.perf_counter()
    seed = int(task.get("seed", 0))
    random.seed(seed)
    np.random.seed(seed % 2**32)
    out: dict[str, Any] = {
        "id": task["id"],
        "index": int(task["index"]),
        "params": dict(task["params"]),
        "status": "ok",
        "reason": None,
        "objectives": {},
        "metrics": {},
        "accelerator": None,
    }
    constraints = [Constraint(*c) for c in task.get("constraints", ())]
    try:
        doc = build_accelerator_doc(task["template"], {**task["fixed"], **task["params"]})
        acc: Accelerator = accelerator_from_dict(doc, source=f"<design {task['id']}>")
        out["accelerator"] = accelerator_to_dict(acc)
        area = accelerator_area(acc)
        out["metrics"].update(area.as_dict())
        objs: dict[str, float] = {"area_mm2": area.total_mm2}
        pre = [c for c in constraints if c.metric == "area_mm2"]
        broken = [c.text for c in pre if (c.violation(objs) or 0.0) > 0]
        if broken:
            out.update(
                status="infeasible",
                reason=f"{', '.join(broken)} broken (area {area.total_mm2:.4g} mm2)",
                objectives=objs,
            )
            return _done(out, t0)
        lat = en = edp = peak = 0.0
        fits = True
        gaps: list[float] = []
        for w in task["workloads"]:
            cfg, graph = _workload(w)
            problem = build_problem_for(cfg, graph, acc)
            inputs = Inputs(cfg, graph, acc, problem)
            if task.get("mode", "fast") == "exact":
                sched, extra = _exact(inputs, float(task["time_limit_s"]), task["objective"])
                if extra.get("gap") is not None:
                    gaps.append(float(extra["gap"]))
            else:
                sched, extra = _fast(inputs)
            name, wt = w["name"], float(w["weight"])
            l_, e_ = float(sched.latency), float(sched.energy.total)
            p_ = _peak_dram(sched)
            lat += wt * l_
            en += wt * e_
            edp += wt * l_ * e_
            peak = max(peak, p_)
            fits = fits and _fits(sched)
            m = out["metrics"]
            m[f"latency_cycles[{name}]"] = l_
            m[f"energy_pj[{name}]"] = e_
            m[f"peak_dram_bits[{name}]"] = p_
            m[f"stacks[{name}]"] = float(extra.get("stacks", 0))
            if "solver_status" in extra:
                m[f"solver_status[{name}]"] = extra["solver_status"]
        objs.update(latency_cycles=lat, energy_pj=en, edp=edp, peak_dram_bits=peak)
        out["objectives"] = objs
        out["metrics"]["memory_fits"] = fits
        if gaps:
            out["metrics"]["gap"] = max(gaps)
        broken = [
            c.text for c in constraints if (c.violation({**objs, "memory_fits": fits}) or 0.0) > 0
        ]
        if broken:
            out.update(status="infeasible", reason=f"{', '.join(broken)} broken")
    except InputError as exc:
        out.update(status="failed", reason=_first_line(str(exc)))
    except Exception as exc:  # noqa: BLE001 - a bad point must never stop a sweep
        out.update(status="failed", reason=f"{type(exc).__name__}: {_first_line(str(exc))}")
    return _done(out, t0)


def _done(out: dict[str, Any], t0: float) -> dict[str, Any]:
    out["metrics"]["seconds"] = time.perf_counter() - t0
    if out["status"] == "failed":
        out["objectives"] = {}
    return out
