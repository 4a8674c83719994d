"""Terminal summary of a run (rich tables)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

from monet_opt.schedule.types import Schedule

__all__ = ["fmt_cycles", "fmt_energy", "fmt_bytes", "summary_tables", "print_summary"]


def fmt_cycles(c: float) -> str:
    """``12,345,678 cc``."""
    return "—" if c is None or not math.isfinite(c) else f"{c:,.0f} cc"


def fmt_energy(pj: float) -> str:
    """Energy with an SI prefix on pJ (``1.23 µJ``)."""
    if pj is None or not math.isfinite(pj):
        return "—"
    for unit, scale in (("J", 1e12), ("mJ", 1e9), ("µJ", 1e6), ("nJ", 1e3)):
        if abs(pj) >= scale:
            return f"{pj / scale:,.3f} {unit}"
    return f"{pj:,.1f} pJ"


def fmt_bytes(b: float) -> str:
    """Bytes with a binary prefix (``1.5 MiB``)."""
    if b is None or not math.isfinite(b):
        return "—"
    for unit, scale in (("GiB", 1024.0**3), ("MiB", 1024.0**2), ("KiB", 1024.0)):
        if abs(b) >= scale:
            return f"{b / scale:,.2f} {unit}"
    return f"{b:,.0f} B"


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


def _solver_table(milp: Any, ga: Any, objective: str) -> Table:
    t = Table(title=f"Optimizers (objective: {objective})", title_justify="left")
    t.add_column("")
    cols: list[dict[str, str]] = []
    if milp is not None:
        gap = getattr(milp, "gap", None)
        secs = getattr(milp, "build_seconds", 0.0) + getattr(milp, "solve_seconds", 0.0)
        cols.append(
            {
                "method": "MILP (HiGHS)",
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
    """The MILP's lower bounds (makespan bounds in cycles; ``*energy*`` keys in pJ)."""
    lbs = getattr(milp, "lower_bounds", None) if milp is not None else None
    if not lbs:
        return None
    t = Table(title="Lower bounds", title_justify="left")
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
) -> list[Table]:
    """The rich tables of :func:`print_summary`."""
    schedules = {k: r.schedule for k, r in (("milp", milp), ("ga", ga)) if r is not None}
    tables = [_metrics_table(schedules), _solver_table(milp, ga, objective)]
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
) -> None:
    """Print latency, energy by component, EDP, peak memories, MILP status / objective /
    simulated / bound / gap, GA best and wall times."""
    console = console or Console()
    for t in summary_tables(objective=objective, milp=milp, ga=ga, wall_times=wall_times):
        console.print(t)
    if out_dir is not None:
        console.print(f"results written to [bold]{out_dir}[/]")
