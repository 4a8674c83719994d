"""Terminal summary of a run (rich tables)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from monet_opt.schedule.types import Schedule
from monet_opt.units import fmt_bits, fmt_bytes, fmt_cycles, fmt_energy, within

__all__ = [
    "fmt_cycles",
    "fmt_energy",
    "fmt_bytes",
    "joint_table",
    "baselines_table",
    "footprint_line",
    "multilevel_line",
    "resident_line",
    "summary_tables",
    "print_summary",
    "inputs_tables",
    "compare_table",
]


def _fmt_obj(objective: str, v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "—"
    if objective == "latency":
        return fmt_cycles(v)
    if objective == "energy":
        return fmt_energy(v)
    return f"{v:.4e} pJ·cc"


def _metrics_table(schedules: Mapping[str, Schedule]) -> Table:
    t = Table(title="Training step", title_justify="left", header_style="bold")
    t.add_column("metric")
    for name in schedules:
        t.add_column(name.upper(), justify="right")

    def row(label: str, f) -> None:
        t.add_row(label, *(f(s) for s in schedules.values()))

    row("latency", lambda s: fmt_cycles(float(s.latency)))
    row("energy total", lambda s: fmt_energy(s.energy.total))
    row("  compute", lambda s: fmt_energy(s.energy.compute))
    row("  on-chip memory", lambda s: fmt_energy(s.energy.onchip_memory))
    row("  DRAM", lambda s: fmt_energy(s.energy.dram))
    row("  links", lambda s: fmt_energy(s.energy.links))
    row("EDP", lambda s: f"{s.edp:.4e} pJ·cc")
    labels: list[str] = []
    for s in schedules.values():
        labels += [k for k in s.memory if k not in labels]
    for label in labels:

        def peak(s: Schedule, label: str = label) -> str:
            tr = s.memory.get(label)
            if tr is None:
                return "—"
            txt = fmt_bytes(tr.peak_bits / 8)
            cap = float(tr.capacity_bits)
            if cap > 0 and math.isfinite(cap):
                pct = 100 * tr.peak_bits / cap
                txt += f" ({pct:.0f} %)" if pct <= 100 else f" [red]({pct:.0f} %)[/]"
            return txt

        row(f"peak {label}", peak)
    return t


def _solver_table(milp: Any, ga: Any, objective: str, milp_label: str = "MILP (HiGHS)") -> Table:
    t = Table(title=f"Optimizers (objective: {objective})", title_justify="left")
    t.add_column("")
    cols: list[dict[str, str]] = []
    if milp is not None:
        gap = getattr(milp, "gap", None)
        secs = getattr(milp, "build_seconds", 0.0) + getattr(milp, "solve_seconds", 0.0)
        cols.append(
            {
                "method": milp_label,
                "status": str(milp.status),
                "objective": _fmt_obj(objective, milp.objective),
                "simulated": _fmt_obj(objective, milp.simulated),
                "bound": _fmt_obj(objective, milp.bound),
                "gap": f"{100 * gap:.3f} %" if gap is not None and math.isfinite(gap) else "—",
                "time": f"{secs:.2f} s",
                "size / budget": f"{getattr(milp, 'n_vars', '?')} vars, "
                f"{getattr(milp, 'n_cons', '?')} cons",
            }
        )
    if ga is not None:
        cols.append(
            {
                "method": "GA (DEAP)",
                "status": ga.stop_reason,
                "objective": _fmt_obj(objective, ga.best),
                "simulated": _fmt_obj(objective, ga.simulated),
                "bound": "—",
                "gap": "—",
                "time": f"{ga.seconds:.2f} s",
                "size / budget": f"{ga.evaluations} evals, {ga.generations} gens, seed {ga.seed}",
                "greedy start": _fmt_obj(objective, ga.initial),
            }
        )
    for c in cols:
        t.add_column(c["method"], justify="right")
    keys: list[str] = []
    for c in cols:
        keys += [k for k in c if k != "method" and k not in keys]
    for k in keys:
        t.add_row(k, *(c.get(k, "—") for c in cols))
    return t


def _lower_bounds_table(milp: Any) -> Table | None:
    """The MILP's lower bounds (makespan bounds in cycles; ``*energy*`` keys in pJ); for
    a joint solve the bounds it certified over the whole joint space."""
    lbs = getattr(milp, "lower_bounds", None) if milp is not None else None
    title = "Lower bounds"
    joint = (getattr(milp, "extra", None) or {}).get("bounds")
    if joint:
        lbs = {**joint, "max": max(joint.values())}
        title = "Lower bounds (valid over the whole joint space)"
    if not lbs:
        return None
    t = Table(title=title, title_justify="left")
    t.add_column("bound")
    t.add_column("value", justify="right")
    for k, v in lbs.items():
        if not isinstance(v, (int, float)):
            t.add_row(k, str(v))
        elif "energy" in k:
            t.add_row(k, fmt_energy(v))
        elif "edp" in k:
            t.add_row(k, f"{v:.4e} pJ·cc")
        else:
            t.add_row(k, fmt_cycles(v))
    return t


def _part_fmt(res: Any, objective: str) -> str:
    """The objective kind of a part's result (``energy`` or ``latency``)."""
    name = str(getattr(res, "objective_name", "") or "")
    if "energy" in name:
        return "energy"
    if "edp" in name:
        return "edp"
    if "latency" in name or "makespan" in name or "cycles" in name:
        return "latency"
    return objective


def _gap_txt(gap: Any) -> str:
    return f"{100 * gap:.2f} %" if isinstance(gap, (int, float)) and math.isfinite(gap) else "—"


def _num(kind: str, v: Any) -> str:
    """A table cell without the unit (the unit is in the table title)."""
    if v is None or not isinstance(v, (int, float)) or not math.isfinite(v):
        return "—"
    if kind == "energy":
        return fmt_energy(v)
    if kind == "edp":
        return f"{v:.4e}"
    return f"{v:,.0f}"


def joint_table(joint: Any, objective: str) -> Table:
    """decision | status | objective | simulated | bound | gap for each part the joint
    solver solved (allocation, fusion, checkpointing) and the final solution.

    Cycles are given without unit (the title says so); the checkpointing part's
    latency objective is the recompute cycles, the others' the makespan."""
    ex = joint.extra
    mode = ex.get("mode", "?")
    its = ex.get("iterations")
    its_txt = "" if its is None else f", {its} iteration{'' if its == 1 else 's'}"
    unit = "; cycles" if objective == "latency" else ""
    title = f"Decisions (exact; {mode}{its_txt}{unit})"
    t = Table(
        title=title,
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for col in ("decision", "status", "objective", "simulated", "bound", "gap"):
        t.add_column(
            col, justify="left" if col in ("decision", "status") else "right", no_wrap=True
        )
    rows = list((ex.get("parts") or {}).items())
    rows.append(("final", joint))
    for name, res in rows:
        kind = _part_fmt(res, objective)
        t.add_row(
            name,
            str(getattr(res, "status", "?")),
            _num(kind, getattr(res, "objective", None)),
            _num(kind, getattr(res, "simulated", None)),
            _num(kind, getattr(res, "bound", None)),
            _gap_txt(getattr(res, "gap", None)),
        )
    return t


def baselines_table(joint: Any) -> Table | None:
    """The joint solver's fusion baselines (layer by layer, greedy, fixed, optimal)
    evaluated with the final allocation and checkpoints, or ``None``."""
    base = joint.extra.get("baselines") or {}
    if not base:
        return None
    t = Table(
        title="Fusion baselines (final allocation and checkpoints)",
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for col in ("stacking", "latency", "energy", "stacks", "over capacity"):
        t.add_column(col, justify="left" if col == "stacking" else "right", no_wrap=True)
    for name, b in base.items():
        if not isinstance(b, Mapping):
            continue
        lat, en = b.get("latency"), b.get("energy_pj")
        t.add_row(
            name,
            fmt_cycles(lat) if isinstance(lat, (int, float)) else "—",
            fmt_energy(en) if isinstance(en, (int, float)) else "—",
            str(b.get("n_stacks", "—")),
            str(b.get("stack_overflow", "—")),
        )
    return t


def footprint_line(schedule: Schedule, budget_bits: float | None) -> str:
    """``activation footprint: peak X MiB <= budget Y MiB`` (rich markup)."""
    peak = float(schedule.stats.get("peak_footprint_bits", schedule.peak_footprint_bits))
    txt = f"activation footprint: peak {fmt_bytes(peak / 8)}"
    if budget_bits is None:
        return txt + " (store-all, no budget)"
    ok = within(peak, float(budget_bits))
    rel = "<=" if ok else "[red]>[/]"
    tail = "" if ok else " [red]OVER BUDGET[/]"
    rc = float(schedule.stats.get("recompute_cycles", 0.0))
    return (
        f"{txt} {rel} budget {fmt_bytes(float(budget_bits) / 8)}{tail}; "
        f"recompute {fmt_cycles(rc)}, {int(schedule.stats.get('recompute_nodes', 0))} nodes"
    )


def multilevel_line(res: Any, objective: str) -> str:
    """What ``checkpointing.levels: multi`` chose (rich markup): the footprint in its
    accounting against its budget, the recompute schedule's method and space, and each
    candidate's simulated objective."""
    ex = res.extra
    budget = float(ex["budget_bits"])
    peak = float(res.schedule.stats.get("peak_footprint_bits", 0.0))
    ok = within(peak, budget)
    rel = "<=" if ok else "[red]>[/]"
    cands = ", ".join(
        f"{name} {_fmt_obj(objective, c['value'])}"
        f"{'' if c['fits'] else ' (over budget or capacity)'}"
        for name, c in ex.get("candidates", {}).items()
    )
    return (
        f"multi-level recomputation (every resident activation and gradient counted): peak "
        f"{fmt_bytes(peak / 8)} {rel} budget {fmt_bytes(budget / 8)}; schedule "
        f"{ex.get('remat_method')} over {ex.get('remat_space')} schedules; chosen "
        f"{ex.get('chosen')} of {cands}"
    )


def _is_multilevel(res: Any) -> bool:
    """Whether ``res`` is (or was, before the resident-state step) a multi-level answer."""
    extra = getattr(res, "extra", None) or {}
    return "multilevel" in (getattr(res, "formulation", ""), extra.get("base_formulation"))


def resident_line(res: Any, objective: str) -> str:
    """What ``schedule.resident_state: optimal`` chose (rich markup): the weights whose
    training state stays on chip, where, their bytes, the DRAM port cycles saved and the
    objective with and without them."""
    ex = res.extra
    table = ex.get("resident", {})
    where: dict[str, list[str]] = {}
    for w, v in table.items():
        where.setdefault(str(v["memory"]), []).append(w)
    places = "; ".join(f"{k}: {len(v)}" for k, v in where.items()) or "none"
    return (
        f"resident training state: {len(table)} of {ex.get('resident_candidates', 0)} "
        f"candidate weights ({places}), {fmt_bytes(float(ex.get('resident_bytes', 0.0)))} "
        f"held all step, {fmt_cycles(float(ex.get('saved_port_cycles', 0.0)))} of DRAM port "
        f"saved (knapsack gap {100 * float(ex.get('knapsack_gap', 0.0)):.2f} %); {objective} "
        f"{_fmt_obj(objective, float(ex.get('without_resident', 0.0)))} -> "
        f"{_fmt_obj(objective, float(res.simulated))}"
    )


def _times_table(wall_times: Mapping[str, float]) -> Table:
    t = Table(title="Wall times", title_justify="left")
    t.add_column("step")
    t.add_column("seconds", justify="right")
    for k, v in wall_times.items():
        t.add_row(k, f"{v:.2f}")
    return t


def summary_tables(
    *,
    objective: str,
    milp: Any = None,
    ga: Any = None,
    wall_times: Mapping[str, float] | None = None,
    joint: Any = None,
) -> list[Table]:
    """The rich tables of :func:`print_summary`."""
    if joint is not None and milp is None:
        milp = joint
    schedules = {k: r.schedule for k, r in (("milp", milp), ("ga", ga)) if r is not None}
    label = "MILP (HiGHS)" if joint is None else "joint MILP (HiGHS)"
    if _is_multilevel(milp):
        label = "joint MILP + multi-level"
    if getattr(milp, "formulation", "") == "resident_state":
        label += " + resident state"
    tables = [_metrics_table(schedules), _solver_table(milp, ga, objective, label)]
    if joint is not None:
        tables.append(joint_table(joint, objective))
        bt = baselines_table(joint)
        if bt is not None:
            tables.append(bt)
    lb = _lower_bounds_table(milp)
    if lb is not None:
        tables.append(lb)
    if wall_times:
        tables.append(_times_table(wall_times))
    return tables


def print_summary(
    *,
    objective: str,
    milp: Any = None,
    ga: Any = None,
    wall_times: Mapping[str, float] | None = None,
    console: Console | None = None,
    out_dir: Any = None,
    joint: Any = None,
    budget_bits: float | None = None,
    baseline: Mapping[str, Any] | None = None,
) -> None:
    """Print latency, energy by component, EDP, peak memories, MILP status / objective /
    simulated / bound / gap, GA best and wall times; with ``joint`` (a fusion /
    checkpointing solve) also the per-decision table and the peak activation footprint
    against ``budget_bits``; with ``baseline`` the improvement over it."""
    console = console or Console()
    tables = summary_tables(
        objective=objective, milp=milp, ga=ga, wall_times=wall_times, joint=joint
    )
    for t in tables:
        console.print(t)
        if joint is not None and t.title and str(t.title).startswith("Decisions"):
            console.print(footprint_line(joint.schedule, budget_bits))
            if _is_multilevel(milp):
                console.print(multilevel_line(milp, objective))
    if getattr(milp, "formulation", "") == "resident_state":
        console.print(resident_line(milp, objective))
    if baseline and baseline.get("improvement_pct"):
        imp = baseline["improvement_pct"]
        console.print(
            f"against the baseline ({baseline['decision']}): latency "
            f"{fmt_cycles(baseline['latency'])} -> {imp['latency']:+.2f} %, energy "
            f"{fmt_energy(baseline['energy'])} -> {imp['energy']:+.2f} %, EDP {imp['edp']:+.2f} % "
            "(positive: better)"
        )
        if baseline.get("within_budget") is False:
            console.print(
                "  the baseline keeps every activation (footprint "
                f"{fmt_bits(baseline['peak_footprint_bits'])} > budget "
                f"{fmt_bits(baseline['budget_bits'])}): it does not meet this run's budget, "
                "so an answer that does may be slower"
            )
    if out_dir is not None:
        console.print(f"results written to [bold]{out_dir}[/]")


# -- validate ---------------------------------------------------------------------------
def inputs_tables(inputs: Any, budget: Any = None, stacks: Any = None) -> list[Any]:
    """What ``validate`` prints: the workload per phase, the cores with the op kinds
    each will run, and the decisions the config asks for (all checked as ``solve``
    would check them)."""
    from monet_opt.models import Phase

    graph, acc, problem, cfg = inputs.graph, inputs.accelerator, inputs.problem, inputs.config
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("config", inputs.source)
    notes = tuple(getattr(inputs, "notes", ()))
    imported = any(n.startswith("ONNX training graph") for n in notes)
    optimizer = "as exported" if imported else cfg.workload.optimizer
    head.add_row("workload", f"{graph.name}: {len(graph.ops)} ops, optimizer {optimizer}")
    head.add_row("parameters", f"{graph.parameter_count:,}")
    for note in notes:
        head.add_row("note", f"[yellow]{escape(note)}[/]")
    phases = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("phase", "ops", "MACs", "element ops"):
        phases.add_column(col, justify="left" if col == "phase" else "right")
    for ph in Phase:
        ops = graph.ops_in(ph)
        macs = sum(o.macs for o in ops if o.is_mac)
        elem = sum(o.macs for o in ops if not o.is_mac)
        phases.add_row(ph.value, str(len(ops)), f"{macs:,}", f"{elem:,}")
    runs = _kinds_run(problem)
    cores = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("id", "core", "kind", "PEs", "operator_types", "runs here", "memory"):
        cores.add_column(col, justify="right" if col in ("id", "PEs") else "left")
    for c in acc.cores:
        declared = "all" if c.operator_types is None else ", ".join(sorted(c.operator_types))
        mem = c.memories[-1].size_bits if c.is_offchip and c.memories else c.onchip_bits
        cores.add_row(
            str(c.id), c.name, c.kind,
            f"{c.tile_count:,}x{c.array.n_pes:,}" if c.tile_count > 1 else f"{c.array.n_pes:,}",
            "—" if c.is_offchip else declared,
            "—" if c.is_offchip else (", ".join(sorted(runs.get(c.id, ()))) or "nothing"),
            fmt_bits(mem) if c.memories else "—",
        )  # fmt: skip
    tail = Table.grid(padding=(0, 2))
    tail.add_column(style="bold")
    tail.add_column()
    tail.add_row("links", f"{len(acc.links)}; DRAM bandwidth {acc.dram_bandwidth:g} bit/cycle")
    tail.add_row(
        "schedule",
        f"{problem.n_nodes} nodes, {len(problem.flexible)} with a choice of core; order "
        f"{cfg.schedule.order}; objective {cfg.objective}",
    )
    ck = cfg.checkpointing
    btxt = ""
    if budget is not None and budget.bits is not None:
        btxt = (
            f" (budget {fmt_bits(budget.bits)}; minimum feasible "
            f"{fmt_bits(budget.min_feasible_bits)}, store-all {fmt_bits(budget.store_all_bits)})"
        )
    stxt = f", {len(stacks)} fixed stacks" if stacks else ""
    tail.add_row(
        "decisions",
        f"fusion {cfg.fusion.mode}{stxt}, checkpointing {ck.mode}{btxt}; "
        f"{len(problem.checkpoint_tensors)} checkpoint candidates",
    )
    return [head, phases, cores, tail]


def _kinds_run(problem: Any) -> dict[int, set[str]]:
    """Core id -> op kinds of the nodes that may run on it (what ``solve`` will do)."""
    out: dict[int, set[str]] = {}
    for i, allowed in enumerate(problem.allowed):
        for cid in allowed:
            out.setdefault(int(cid), set()).add(str(problem.nodes[i].kind))
    return out


# -- compare ----------------------------------------------------------------------------
def _short(v: float | None) -> str:
    """Compact number for the terminal table (``48.76M``)."""
    if v is None or not math.isfinite(v):
        return "—"
    for suffix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= scale:
            return f"{v / scale:.4g}{suffix}"
    return f"{v:.4g}"


def compare_table(result: Any) -> list[Any]:
    """What ``compare`` prints: one row per space (MILP value, GA median and gaps), the
    Pareto hypervolume line and the budget note; fits 80 columns."""
    table = Table(title="exact (MILP) vs GA, same evaluator (median over seeds)")
    cols = ("space", "MILP", "s", "GA", "gap", "@MILP s", "GA s", "evals")
    for col in cols:
        table.add_column(col, justify="left" if col == "space" else "right", no_wrap=True)

    def pct(v: Any) -> str:
        return "—" if v is None else f"{100 * v:+.2f}%"

    for s in result.spaces:
        sm = s.summary()
        table.add_row(
            s.space.replace("allocation", "alloc").replace("checkpointing", "ckpt"),
            _short(s.milp_value) + ("*" if s.proven_optimal else ""),
            f"{s.milp_seconds:.2f}",
            _short(sm.get("median")),
            pct(sm.get("gap_to_milp_median")),
            pct(sm.get("gap_to_milp_at_milp_time_median")),
            f"{sm['seconds_median']:.1f}",
            f"{sm['evaluations_median']:.0f}",
        )
    lines: list[Any] = [
        table,
        "* proven optimal within the MILP's scope (under memory capacities the allocation "
        "MILP keeps the placement of its start; the GA re-places per allocation).  gap = "
        "(GA - MILP) / MILP; @MILP s = the same at the MILP's wall time; scopes, bounds, "
        "ranges and units in report.md",
    ]
    st = result.settings
    if st.reproducible:
        lines.append(f"GA budget: {st.evals} evaluations per run (reproducible)")
    else:
        lines.append(
            "GA budget: wall time per run — [yellow]not reproducible[/] (use --budget-evals)"
        )
    pa = result.pareto
    if pa and pa.get("summary"):
        ps = pa["summary"]
        lines.append(
            f"Pareto (checkpointing): exact front {len(pa['exact'])} points in "
            f"{pa['exact_seconds']:.2f} s; NSGA-II hypervolume ratio median "
            f"{_short(ps['ratio_median'])} (range {_short(ps['ratio_min'])}–"
            f"{_short(ps['ratio_max'])}), union of seeds {_short(ps['ratio_union'])}"
        )
    lines.append(f"total wall time {result.wall_seconds:.1f} s")
    return lines
