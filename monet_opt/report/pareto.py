"""``monet-opt pareto``: footprint budget vs objective of the exact checkpointing MILP.

One row per (objective, budget) point of
:func:`monet_opt.formulations.checkpointing.checkpoint_front`: written to ``pareto.csv``
(:data:`CSV_COLUMNS`), drawn in ``pareto.png`` (one panel per objective) and printed as a
rich table.  Budgets and footprints are reported in bits and MiB (2**20 bytes); the
``latency`` objective is the recompute cycles the keep set adds (the MILP's objective),
``energy`` the total step energy in pJ.  Files are written atomically.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import EngFormatter, ScalarFormatter  # noqa: E402
from rich import box  # noqa: E402
from rich.table import Table  # noqa: E402

from monet_opt.atomic import write_text_atomic  # noqa: E402
from monet_opt.report.plots import save_figure_atomic  # noqa: E402
from monet_opt.report.summary import fmt_energy  # noqa: E402
from monet_opt.units import MIB_BITS  # noqa: E402

__all__ = [
    "CSV_COLUMNS",
    "MIB_BITS",
    "pareto_rows",
    "write_pareto_csv",
    "plot_pareto",
    "pareto_table",
    "pareto_tables",
]


#: Columns of ``pareto.csv``, in order.
CSV_COLUMNS = (
    "objective_name",
    "budget_bits",
    "budget_mib",
    "status",
    "objective",
    "simulated",
    "bound",
    "gap",
    "peak_footprint_mib",
    "makespan_cycles",
    "energy_pj",
    "n_kept",
    "n_recomputed",
    "solve_s",
)


def _finite(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def pareto_rows(
    fronts: Mapping[str, Sequence[Any]], budgets_bits: Sequence[float]
) -> list[dict[str, Any]]:
    """Rows (dicts keyed by :data:`CSV_COLUMNS`) of checkpoint fronts.

    Parameters
    ----------
    fronts
        Objective name (``"latency"``/``"energy"``) -> the
        :class:`~monet_opt.formulations.allocation.SolveResult` per budget.
    budgets_bits
        The budgets, in the order of each front.
    """
    rows = []
    for name, results in fronts.items():
        for b, r in zip(budgets_bits, results, strict=True):
            ex = getattr(r, "extra", {}) or {}
            sched = r.schedule
            peak = ex.get("peak_footprint_bits", sched.stats.get("peak_footprint_bits"))
            kept = ex.get("kept")
            recomputed = ex.get("recomputed")
            if kept is None and r.decision.checkpoints is not None:
                kept = sorted(r.decision.checkpoints)
            rows.append(
                {
                    "objective_name": name,
                    "budget_bits": float(b),
                    "budget_mib": float(b) / MIB_BITS,
                    "status": str(r.status),
                    "objective": _finite(r.objective),
                    "simulated": _finite(r.simulated),
                    "bound": _finite(r.bound),
                    "gap": _finite(r.gap),
                    "peak_footprint_mib": None if peak is None else float(peak) / MIB_BITS,
                    "makespan_cycles": _finite(ex.get("makespan", sched.latency)),
                    "energy_pj": _finite(ex.get("energy_pj", sched.energy.total)),
                    "n_kept": None if kept is None else len(kept),
                    "n_recomputed": None if recomputed is None else len(recomputed),
                    "solve_s": _finite(getattr(r, "solve_seconds", None)),
                }
            )
    return rows


def write_pareto_csv(
    path: str | Path,
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str] = CSV_COLUMNS,
) -> Path:
    """Write ``rows`` as CSV with a ``columns`` header (default :data:`CSV_COLUMNS`),
    atomically.  Missing and non-finite values are empty fields, floats ``repr``-exact."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for row in rows:
        out = []
        for c in columns:
            v = row.get(c)
            if v is None or (isinstance(v, float) and not math.isfinite(v)):
                out.append("")
            elif isinstance(v, float):
                out.append(repr(v))
            else:
                out.append(str(v))
        w.writerow(out)
    return write_text_atomic(path, buf.getvalue())


_LEGEND = {
    "fontsize": 8,
    "frameon": False,
    "loc": "upper center",
    "bbox_to_anchor": (0.5, -0.16),
    "ncol": 3,
}


def _energy_unit(pj: float) -> tuple[str, float]:
    for unit, scale in (("J", 1e12), ("mJ", 1e9), ("µJ", 1e6), ("nJ", 1e3)):
        if pj >= scale:
            return unit, scale
    return "pJ", 1.0


_OBJ_LABEL = {
    "latency": "recompute latency [cycles]",
    "energy": "step energy [pJ]",
}


def plot_pareto(
    rows: Sequence[Mapping[str, Any]],
    path: str | Path,
    *,
    min_budget_bits: float | None = None,
    store_all_bits: float | None = None,
    title: str | None = None,
) -> Path:
    """One panel per objective: budget (MiB) vs the optimal objective.

    Proven-optimal points are filled markers, other solved points (time limit) hollow;
    a post-step line joins them (the front is a step function of the budget).  The
    latency panel also shows the simulated makespan on a twin axis.  Dotted vertical
    lines mark the minimum feasible budget and the store-all footprint.
    """
    names = list(dict.fromkeys(r["objective_name"] for r in rows))
    n = max(1, len(names))
    fig, axes = plt.subplots(1, n, figsize=(6.4 * n, 4.6), squeeze=False)
    axes = axes[0]
    if not names:
        axes[0].text(0.5, 0.5, "no points", ha="center", va="center")
        axes[0].set_axis_off()
    for ax, name in zip(axes, names, strict=False):
        pts = sorted(
            (r for r in rows if r["objective_name"] == name and r.get("objective") is not None),
            key=lambda r: r["budget_mib"],
        )
        x = [r["budget_mib"] for r in pts]
        unit, scale = ("", 1.0)
        if name == "energy" and pts:
            unit, scale = _energy_unit(max(abs(r["objective"]) for r in pts))
        y = [r["objective"] / scale for r in pts]
        color = "#4C72B0" if name == "latency" else "#55A868"
        if pts:
            ax.step(x, y, where="post", color=color, lw=1.2, alpha=0.8)
            opt = [r for r in pts if r["status"] == "optimal"]
            other = [r for r in pts if r["status"] != "optimal"]
            ax.plot(
                [r["budget_mib"] for r in opt], [r["objective"] / scale for r in opt], "o",
                color=color, ms=5, label="optimal",
            )  # fmt: skip
            if other:
                ax.plot(
                    [r["budget_mib"] for r in other], [r["objective"] / scale for r in other], "o",
                    mfc="none", color=color, ms=6, label="not proven optimal",
                )  # fmt: skip
        if name == "latency":
            tw = ax.twinx()
            mk = [(r["budget_mib"], r["makespan_cycles"]) for r in pts if r["makespan_cycles"]]
            if mk:
                tw.plot(*zip(*mk, strict=True), "s--", color="#C44E52", ms=3.5, lw=0.9,
                        alpha=0.85, label="simulated makespan")  # fmt: skip
            tw.set_ylabel("simulated makespan [cycles]", color="#C44E52")
            tw.yaxis.set_major_formatter(EngFormatter(places=1, sep=""))
            tw.tick_params(axis="y", colors="#C44E52")
            tw.spines["top"].set_visible(False)
            h1, l1 = ax.get_legend_handles_labels()
            h2, l2 = tw.get_legend_handles_labels()
            ax.legend(h1 + h2, l1 + l2, **_LEGEND)
        else:
            ax.spines["right"].set_visible(False)
            ax.legend(**_LEGEND)
        for v, lab in ((min_budget_bits, "min feasible"), (store_all_bits, "store-all")):
            if v is not None and math.isfinite(v):
                ax.axvline(v / MIB_BITS, color="#777777", lw=0.8, ls=":")
                ax.annotate(
                    lab,
                    (v / MIB_BITS, 1.0),
                    xycoords=("data", "axes fraction"),
                    rotation=90,
                    va="top",
                    ha="right",
                    fontsize=7,
                    color="#555555",
                )
        ax.set_xlabel("activation footprint budget [MiB]")
        if unit:
            fmt = ScalarFormatter(useOffset=False)
            fmt.set_scientific(False)
            ax.yaxis.set_major_formatter(fmt)
            ax.set_ylabel(f"step energy [{unit}]")
        else:
            ax.set_ylabel(_OBJ_LABEL.get(name, name))
            ax.yaxis.set_major_formatter(EngFormatter(places=1, sep=""))
        ax.grid(color="#e5e5e5", lw=0.6)
        ax.spines["top"].set_visible(False)
        ax.set_title(f"objective: {name}", fontsize=10, loc="left")
    fig.suptitle(title or "checkpointing front", fontsize=11, x=0.01, ha="left")
    fig.tight_layout()
    return save_figure_atomic(fig, path)


def _fmt(name: str, v: float | None) -> str:
    if v is None:
        return "—"
    return fmt_energy(v) if name == "energy" else f"{v:,.0f}"


def pareto_table(
    rows: Sequence[Mapping[str, Any]], objective_name: str, *, title: str | None = None
) -> Table:
    """Rich table of one objective's front (budget, status, optimum, gap, peak
    footprint, simulated makespan and energy, kept / recomputed; the solve times are
    in the CSV)."""
    opt_col = "recompute" if objective_name == "latency" else "energy"
    t = Table(
        title=(title or f"Checkpointing front — objective {objective_name}")
        + "\n(budget, peak in MiB; recompute, makespan in cycles)",
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    cols = ["budget", "status", opt_col, "gap %", "peak", "makespan"]
    if objective_name != "energy":
        cols.append("energy")
    cols.append("kept/rec")
    for col in cols:
        t.add_column(col, justify="left" if col == "status" else "right", no_wrap=True)
    for r in rows:
        if r["objective_name"] != objective_name:
            continue
        gap = r.get("gap")
        peak = r.get("peak_footprint_mib")
        kept, rec = r.get("n_kept"), r.get("n_recomputed")
        mk = r.get("makespan_cycles")
        cells = [
            f"{r['budget_mib']:.3f}",
            str(r["status"]),
            _fmt(objective_name, r.get("objective")),
            "—" if gap is None else f"{100 * gap:.2g}",
            "—" if peak is None else f"{peak:.3f}",
            "—" if mk is None else f"{mk:,.0f}",
        ]
        if objective_name != "energy":
            cells.append(fmt_energy(r.get("energy_pj")))
        cells += [
            f"{'—' if kept is None else kept}/{'—' if rec is None else rec}",
        ]
        t.add_row(*cells)
    return t


def pareto_tables(rows: Sequence[Mapping[str, Any]], *, suffix: str = "") -> list[Table]:
    """One :func:`pareto_table` per objective in ``rows``."""
    names = list(dict.fromkeys(r["objective_name"] for r in rows))
    return [
        pareto_table(rows, n, title=f"Checkpointing front — objective {n}{suffix}") for n in names
    ]
