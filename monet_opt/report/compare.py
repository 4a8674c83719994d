"""``monet-opt compare``: report of exact MILPs (HiGHS) vs genetic algorithms (DEAP).

Input is the ``data`` dict of ``compare.json`` (one entry per decision space with the
MILP result and the GA runs per seed, plus an optional bi-objective Pareto comparison).
Output:

* ``compare.csv`` (:func:`write_compare_csv`): one row per (space, method, seed),
  columns :data:`CSV_COLUMNS`;
* convergence plots (:func:`plot_convergence`): GA best-so-far vs evaluations and vs
  wall seconds with the MILP objective, bound and wall time;
* a Pareto comparison plot (:func:`plot_pareto_compare`) and its hypervolume summary
  (:func:`pareto_summary`);
* ``report.md`` and a self-contained ``report.html`` (:func:`write_report`).

Hypervolumes are for minimization.  They come from DEAP's hypervolume module when it is
installed (``deap.tools._hypervolume``), else from ``moocore`` (what later DEAP
releases, e.g. the installed 1.4.4, use themselves), else from a pure-Python slicing
algorithm.  Gaps are relative: ``gap_to_milp = (value - milp) / |milp|`` and
``gap_to_bound = (value - bound) / |bound|`` (negative: better than the reference).
All files are written atomically.
"""

from __future__ import annotations

import base64
import functools
import html
import os
import re
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import EngFormatter, Formatter, FuncFormatter  # noqa: E402

from monet_opt.atomic import write_text_atomic  # noqa: E402
from monet_opt.indicators import (
    _as_points,
    _nondominated,
    hypervolume,
    hypervolume_ratio,
    pareto_filter,
    pareto_summary,
)
from monet_opt.indicators import (  # noqa: E402
    finite_or_none as _num,
)
from monet_opt.report.pareto import write_pareto_csv  # noqa: E402
from monet_opt.report.plots import save_figure_atomic  # noqa: E402
from monet_opt.report.summary import fmt_bytes, fmt_cycles, fmt_energy  # noqa: E402
from monet_opt.units import MIB_BITS  # noqa: E402

__all__ = [
    "CSV_COLUMNS",
    "hypervolume",
    "pareto_filter",
    "hypervolume_ratio",
    "pareto_summary",
    "compare_rows",
    "write_compare_csv",
    "plot_convergence",
    "plot_pareto_compare",
    "space_verdict",
    "image_caption",
    "markdown_to_html",
    "write_report",
]

#: Columns of ``compare.csv``, in order.
CSV_COLUMNS = (
    "space",
    "method",
    "seed",
    "metric",
    "unit",
    "value",
    "simulated",
    "bound",
    "gap_to_milp",
    "gap_to_bound",
    "seconds",
    "evaluations",
    "status",
    "feasible",
)

_BLUE = "#4C72B0"
_DARK_BLUE = "#1B3A6B"
_ORANGE = "#DD8452"
_RED = "#C44E52"
_PURPLE = "#8172B3"
_GREY = "#555555"


# -- small helpers ----------------------------------------------------------------------


def _rel_gap(value: float | None, ref: float | None) -> float | None:
    """``(value - ref) / |ref|``; ``None`` when undefined (0.0 when both are 0)."""
    if value is None or ref is None:
        return None
    if ref == 0:
        return 0.0 if value == 0 else None
    return (value - ref) / abs(ref)


def _median(values: Iterable[float | None]) -> float | None:
    vals = [v for v in (_num(x) for x in values) if v is not None]
    return float(statistics.median(vals)) if vals else None


def _ga_stats(entry: Mapping[str, Any]) -> dict[str, Any]:
    """GA summary of a space: the lead's ``ga.summary`` where given, else computed from
    the runs (median/min/max/q1/q3 of the best values, gaps to the MILP objective and
    bound, median seconds / evaluations, ``n_runs``, ``n_feasible``)."""
    ga = entry.get("ga") or {}
    milp = entry.get("milp") or {}
    runs = list(ga.get("runs") or [])
    bests = [b for r in runs if r.get("feasible", True) and (b := _num(r.get("best"))) is not None]
    m_ref = _num(milp.get("objective"))
    if m_ref is None:
        m_ref = _num(milp.get("simulated"))
    bound = _num(milp.get("bound"))
    out: dict[str, Any] = {"n_runs": len(runs), "n_feasible": len(bests)}
    if bests:
        q = np.percentile(bests, [25, 75])
        med = float(statistics.median(bests))
        out.update(
            median=med, min=min(bests), max=max(bests), q1=float(q[0]), q3=float(q[1]),
            gap_to_milp_median=_rel_gap(med, m_ref),
            gap_to_milp_min=_rel_gap(min(bests), m_ref),
            gap_to_milp_max=_rel_gap(max(bests), m_ref),
            gap_to_bound_median=_rel_gap(med, bound),
        )  # fmt: skip
    out["seconds_median"] = _median(r.get("seconds") for r in runs)
    out["evaluations_median"] = _median(r.get("evaluations") for r in runs)
    out["simulated_median"] = _median(r.get("simulated") for r in runs if r.get("feasible", True))
    for k, v in (ga.get("summary") or {}).items():
        if v is not None:
            out[k] = v
    return out


def compare_rows(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows (dicts keyed by :data:`CSV_COLUMNS`) of a compare run.

    One row per space and method: ``milp``, ``milp_warm`` (the MILP warm-started from the
    best GA solution, when present) and ``ga`` (one row per seed; ``seed`` is ``None``
    for the MILP rows).  ``value`` is the MILP objective / the GA's best (in ``unit``:
    cycles or pJ), ``bound`` the MILP's dual bound (warm start: the cold MILP's, which
    is valid for both), ``gap_to_milp`` / ``gap_to_bound`` are relative to the cold
    MILP's objective / bound, ``seconds`` wall time, ``status`` the MILP status or the
    GA's stop reason.
    """
    rows: list[dict[str, Any]] = []
    for entry in data.get("spaces") or []:
        base = {"space": entry.get("space"), "metric": entry.get("metric"),
                "unit": entry.get("unit")}  # fmt: skip
        milp = entry.get("milp") or None
        m_obj = m_bound = None
        if milp is not None:
            m_obj = _num(milp.get("objective"))
            m_bound = _num(milp.get("bound"))
            rows.append(
                {**base, "method": "milp", "seed": None, "value": m_obj,
                 "simulated": _num(milp.get("simulated")), "bound": m_bound,
                 "gap_to_milp": None, "gap_to_bound": _rel_gap(m_obj, m_bound),
                 "seconds": _num(milp.get("seconds")), "evaluations": None,
                 "status": milp.get("status"), "feasible": m_obj is not None}
            )  # fmt: skip
            warm = milp.get("warm_started")
            if warm:
                w_obj = _num(warm.get("objective"))
                rows.append(
                    {**base, "method": "milp_warm", "seed": None, "value": w_obj,
                     "simulated": _num(warm.get("simulated")), "bound": m_bound,
                     "gap_to_milp": _rel_gap(w_obj, m_obj),
                     "gap_to_bound": _rel_gap(w_obj, m_bound),
                     "seconds": _num(warm.get("seconds")), "evaluations": None,
                     "status": warm.get("status"), "feasible": w_obj is not None}
                )  # fmt: skip
        ga = entry.get("ga") or {}
        for run in ga.get("runs") or []:
            best = _num(run.get("best"))
            feasible = bool(run.get("feasible", best is not None)) and best is not None
            rows.append(
                {**base, "method": "ga", "seed": run.get("seed"), "value": best,
                 "simulated": _num(run.get("simulated")), "bound": None,
                 "gap_to_milp": _rel_gap(best, m_obj), "gap_to_bound": _rel_gap(best, m_bound),
                 "seconds": _num(run.get("seconds")), "evaluations": run.get("evaluations"),
                 "status": run.get("stop_reason"), "feasible": feasible}
            )  # fmt: skip
    return rows


def write_compare_csv(path: str | Path, data: Mapping[str, Any]) -> Path:
    """Write :func:`compare_rows` of ``data`` as CSV with the :data:`CSV_COLUMNS`
    header (atomically).  Missing values are empty fields, floats are ``repr``-exact."""
    return write_pareto_csv(path, compare_rows(data), CSV_COLUMNS)


# -- plots ------------------------------------------------------------------------------


def _axis_units(unit: str | None) -> tuple[float, Formatter, str]:
    """``(scale, tick formatter, display unit)`` for values in ``unit``.

    Bits and bytes are shown in MiB, pJ in J with an SI prefix (µJ, mJ), cycles with an
    SI prefix (k, M, G)."""
    if unit == "bits":
        return 1.0 / MIB_BITS, FuncFormatter(lambda v, _: f"{v:,.4g}"), "MiB"
    if unit == "bytes":
        return 8.0 / MIB_BITS, FuncFormatter(lambda v, _: f"{v:,.4g}"), "MiB"
    if unit == "pJ":
        return 1e-12, EngFormatter(unit="J", places=None), "J"
    if unit == "cycles":
        return 1.0, EngFormatter(places=None, sep=""), "cycles"
    return 1.0, EngFormatter(places=None, sep=""), unit or ""


def _run_curve(run: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(evaluations, seconds, best_so_far)`` of a run's history, extended to the run's
    final evaluation count and wall time; history points without a value are dropped."""
    pts = []
    for h in run.get("history") or []:
        if h is None or len(h) < 3:
            continue
        e, s, b = (_num(v) for v in h[:3])
        if e is not None and s is not None and b is not None:
            pts.append((e, s, b))
    if not pts:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    pts.sort(key=lambda p: (p[0], p[1]))
    e_end, s_end = _num(run.get("evaluations")), _num(run.get("seconds"))
    last = pts[-1]
    if (e_end is not None and e_end > last[0]) or (s_end is not None and s_end > last[1]):
        pts.append((max(last[0], e_end or 0.0), max(last[1], s_end or 0.0), last[2]))
    arr = np.asarray(pts, dtype=float)
    arr[:, 2] = np.minimum.accumulate(arr[:, 2])
    return arr[:, 0], arr[:, 1], arr[:, 2]


def _median_curve(curves: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, ...]:
    """Median best-so-far over runs on the union of their x values.

    Before its first point a run counts as +inf (no solution yet), after its last point
    it keeps its final value; where more than half of the runs have no value yet the
    median is undefined and dropped."""
    curves = [
        (x[o], np.minimum.accumulate(y[o]))
        for x, y in curves
        if len(x)
        for o in [np.argsort(x, kind="stable")]
    ]
    if not curves:
        return np.zeros(0), np.zeros(0)
    grid = np.unique(np.concatenate([x for x, _ in curves]))
    vals = np.full((len(curves), len(grid)), np.inf)
    for k, (x, y) in enumerate(curves):
        idx = np.searchsorted(x, grid, side="right") - 1
        ok = idx >= 0
        vals[k, ok] = y[idx[ok]]
    med = np.median(vals, axis=0)
    keep = np.isfinite(med)
    return grid[keep], med[keep]


def plot_convergence(space_entry: Mapping[str, Any], path: str | Path) -> Path:
    """GA convergence of one decision space against its MILP.

    Left: best-so-far value vs evaluations; right: vs wall seconds (per run).  One thin
    step line per seed (a dot where the run stopped), the median over seeds in bold,
    the MILP objective as a solid line ("MILP optimum" when proven optimal, else "MILP
    incumbent"), its simulated value dotted when it differs, its bound dashed and its
    wall time as a vertical line on the seconds panel, where the exact solve's incumbent
    and bound are also drawn over time (best so far at each of its progress reports,
    ``milp["trace"]``), so one sees how fast each method closes in.  Values are shown in
    the space's
    unit (cycles with SI prefixes; pJ as J with SI prefixes).  When the GA's early values
    are far above its final ones, the y axis is clipped (noted in the plot).

    Parameters
    ----------
    space_entry
        One element of ``data["spaces"]``.
    path
        Destination PNG.
    """
    unit = space_entry.get("unit")
    scale, fmt, _ = _axis_units(unit)
    milp = space_entry.get("milp") or {}
    ga = space_entry.get("ga") or {}
    runs = list(ga.get("runs") or [])
    curves = [_run_curve(r) for r in runs]
    n_ok = sum(1 for c in curves if len(c[0]))
    n_infeasible = sum(
        1 for r in runs if not r.get("feasible", True) or _num(r.get("best")) is None
    )

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), sharey=True)
    m_obj = _num(milp.get("objective"))
    m_sim = _num(milp.get("simulated"))
    m_bound = _num(milp.get("bound"))
    m_secs = _num(milp.get("seconds"))
    proven = bool(milp.get("proven_optimal"))
    same_bound = (
        m_bound is not None
        and m_obj is not None
        and (abs(m_obj - m_bound) <= 1e-9 * max(1.0, abs(m_obj)))
    )
    handles: dict[str, Any] = {}
    for k, ax in enumerate(axes):
        for c in curves:
            if not len(c[0]):
                continue
            x, y = c[k], c[2] * scale
            (h,) = ax.step(x, y, where="post", color=_BLUE, lw=0.9, alpha=0.55)
            ax.plot(x[-1:], y[-1:], "o", color=_BLUE, ms=3.5, alpha=0.8)
            handles.setdefault("runs", h)
        mx, my = _median_curve([(c[k], c[2]) for c in curves])
        if len(mx) and n_ok > 1:
            (h,) = ax.step(mx, my * scale, where="post", color=_DARK_BLUE, lw=2.4)
            handles.setdefault("median", h)
        if m_obj is not None:
            h = ax.axhline(m_obj * scale, color=_RED, lw=1.5)
            handles.setdefault("milp", h)
        if m_sim is not None and m_obj is not None and abs(m_sim - m_obj) > 1e-3 * abs(m_obj):
            h = ax.axhline(m_sim * scale, color=_PURPLE, lw=1.2, ls=":")
            handles.setdefault("sim", h)
        if m_bound is not None and not same_bound:
            h = ax.axhline(m_bound * scale, color=_RED, lw=1.2, ls="--")
            handles.setdefault("bound", h)
        xs = [float(v) for c in curves for v in c[k]]
        if k == 1:
            for key, (tx, ty) in _milp_over_time(milp).items():
                style = {"ls": "--", "lw": 1.6} if key == "bound_t" else {"lw": 2.2}
                (h,) = ax.step(tx, ty * scale, where="post", color=_RED, alpha=0.85, **style)
                ax.plot(tx, ty * scale, ".", color=_RED, ms=4, alpha=0.85)
                handles.setdefault(key, h)
                xs += [float(v) for v in tx]
        if k == 1 and m_secs is not None:
            h = ax.axvline(m_secs, color=_GREY, lw=1.2, ls="-.")
            handles.setdefault("milp_t", h)
            # log scale when the MILP's and the GA's wall times differ by > 20x
            ends = [t for t in (m_secs, max(xs, default=0.0)) if t > 0]
            pos = [x for x in xs + [m_secs] if x > 0]
            if len(ends) == 2 and max(ends) / min(ends) > 20:
                ax.set_xscale("log")
                ax.set_xlim(min(pos) / 1.5, max(pos) * 1.5)
            xs.append(m_secs)
        if ax.get_xscale() == "linear":
            if k == 0:
                ax.xaxis.set_major_formatter(EngFormatter(places=None, sep=""))
            if xs:
                ax.set_xlim(0, max(xs) * 1.03 if max(xs) > 0 else 1)
        ax.set_xlabel("evaluations" if k == 0 else "wall time per run [s]")
        ax.grid(color="#e5e5e5", lw=0.6, which="major")
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        if not n_ok:
            ax.text(0.5, 0.5, "no feasible GA solution", transform=ax.transAxes,
                    ha="center", va="center", color=_GREY)  # fmt: skip

    # y range: zoom on the final values when the start is far above them
    finals = [float(c[2][-1]) for c in curves if len(c[2])]
    starts = [float(c[2].max()) for c in curves if len(c[2])]
    refs = [v for v in (m_obj, m_bound, m_sim) if v is not None]
    lows = finals + refs
    clipped = False
    if lows:
        lo = min(lows)
        hi_final = max(lows)
        span = hi_final - lo or max(abs(lo) * 0.02, 1e-12)
        cap = lo + 10 * span
        top = max([hi_final] + starts)
        clipped = top > cap
        top = min(top, cap)
        pad = 0.06 * (top - lo or span)
        axes[0].set_ylim((lo - pad) * scale, (top + pad) * scale)
    axes[0].yaxis.set_major_formatter(fmt)
    label = space_entry.get("metric_label") or space_entry.get("metric") or "objective"
    if unit == "pJ":
        label = re.sub(r"\s*[\(\[]pJ[\)\]]\s*$", "", label)
    axes[0].set_ylabel(f"best so far: {label}")

    labels = {
        "runs": f"GA per seed ({n_ok} run{'s' if n_ok != 1 else ''})",
        "median": "GA median over seeds",
        "milp": "MILP optimum" if proven else "MILP incumbent",
        "sim": "MILP solution, simulated",
        "bound": "MILP bound",
        "milp_t": "MILP wall time" + (f" ({_fmt_s(m_secs)})" if m_secs is not None else ""),
        "inc_t": "exact: incumbent over time",
        "bound_t": "exact: bound over time",
    }
    if same_bound and "milp" in handles and not proven:
        labels["milp"] += " (= bound)"
    order = [k for k in labels if k in handles]
    if order:
        fig.legend(
            [handles[k] for k in order], [labels[k] for k in order],
            loc="lower center", ncol=min(len(order), 6), frameon=False, fontsize=9,
            bbox_to_anchor=(0.5, -0.01),
        )  # fmt: skip
    algo = ga.get("algorithm")
    preset = ga.get("preset")
    ga_txt = "GA" + (f" ({algo}" + (f", preset {preset}" if preset else "") + ")" if algo else "")
    title = space_entry.get("title") or space_entry.get("space") or "decision space"
    sub = f"{ga_txt}, {len(runs)} seed{'s' if len(runs) != 1 else ''} vs MILP"
    if milp.get("status"):
        sub += f" ({milp['status']})"
    if n_infeasible:
        sub += f"; {n_infeasible} GA run{'s' if n_infeasible != 1 else ''} infeasible"
    if clipped:
        sub += f"; y axis clipped (GA starts at up to {_fmt_value(max(starts), unit)})"
    fig.suptitle(f"{title}\n{sub}", fontsize=11, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return save_figure_atomic(fig, path)


def _milp_over_time(milp: Mapping[str, Any]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The exact solve's incumbent (best so far) and bound (best so far) against wall
    seconds, from ``milp["trace"]`` (``[seconds, incumbent, bound]`` rows); a curve
    needs two points."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    rows = [r for r in (milp.get("trace") or []) if len(r) == 3]
    for key, col, pick in (("inc_t", 1, min), ("bound_t", 2, max)):
        pts = [(float(r[0]), float(v)) for r in rows if (v := _num(r[col])) is not None]
        if len(pts) < 2:
            continue
        pts.sort()
        tx, ty, cur = [], [], None
        for t, v in pts:
            cur = v if cur is None else pick(cur, v)
            tx.append(t)
            ty.append(cur)
        out[key] = (np.asarray(tx), np.asarray(ty))
    return out


def _attainment(front: np.ndarray, ref: Sequence[float] | None) -> tuple[np.ndarray, ...]:
    """Staircase ``(x, y)`` of a sorted 2-D front, closed towards the reference point."""
    x, y = list(front[:, 0]), list(front[:, 1])
    if ref is not None and len(ref) == 2:
        x = [x[0]] + x + [max(ref[0], x[-1])]
        y = [max(ref[1], y[0])] + y + [y[-1]]
    return np.asarray(x), np.asarray(y)


def _axis_label(axis: Mapping[str, Any] | None, fallback: str) -> tuple[str, float, Formatter]:
    axis = axis or {}
    scale, fmt, disp = _axis_units(axis.get("unit"))
    name = axis.get("name") or fallback
    return (f"{name} [{disp}]" if disp else name), scale, fmt


def plot_pareto_compare(pareto: Mapping[str, Any], path: str | Path) -> Path:
    """Exact ε-constraint front vs the GA fronts (2-D, both axes minimized).

    The exact front is a staircase with markers (its dominated region shaded), each GA
    seed's front faint scatter, the nondominated union of all GA fronts a highlighted
    staircase, and the hypervolume reference point a cross.  The title gives the
    hypervolume ratio GA / exact (median [min-max] over seeds and of the union, see
    :func:`pareto_summary`).  Bits are shown in MiB, pJ in J.

    Parameters
    ----------
    pareto
        ``data["pareto"]``.
    path
        Destination PNG.
    """
    summ = pareto_summary(pareto)
    ref = summ["reference"] or None
    xlabel, sx, fx = _axis_label(pareto.get("x"), "objective 1")
    ylabel, sy, fy = _axis_label(pareto.get("y"), "objective 2")
    s = np.asarray([sx, sy])
    fig, ax = plt.subplots(figsize=(8.6, 5.6))
    exact = _nondominated(_as_points(pareto.get("exact")))
    fronts = [f for f in (pareto.get("ga_fronts") or []) if f is not None]
    ex_s = _num(pareto.get("exact_seconds"))
    if len(exact) and exact.shape[1] == 2:
        x, y = _attainment(exact * s, None if ref is None else np.asarray(ref) * s)
        ax.fill_between(x, y, np.max(y), step="post", color=_RED, alpha=0.06, lw=0)
        ax.step(x, y, where="post", color=_RED, lw=1.3)
        lab = f"exact front ({len(exact)} points"
        lab += f", {_fmt_s(ex_s)})" if ex_s is not None else ")"
        ax.plot(exact[:, 0] * sx, exact[:, 1] * sy, "o", color=_RED, ms=5.5, label=lab,
                zorder=4)  # fmt: skip
    all_pts = []
    for i, f in enumerate(fronts):
        pts = _as_points(f.get("points"))
        if not len(pts) or pts.shape[1] != 2:
            continue
        all_pts.append(pts)
        ax.scatter(pts[:, 0] * sx, pts[:, 1] * sy, s=18, color=_BLUE, alpha=0.4, lw=0,
                   label=f"GA front per seed ({len(fronts)} seeds)" if i == 0 else None,
                   zorder=2)  # fmt: skip
    if all_pts:
        union = _nondominated(np.vstack(all_pts))
        x, y = _attainment(union * s, None if ref is None else np.asarray(ref) * s)
        ax.step(x, y, where="post", color=_ORANGE, lw=1.6, zorder=3)
        ax.plot(union[:, 0] * sx, union[:, 1] * sy, "D", color=_ORANGE, ms=4.5, mec="white",
                mew=0.5, label=f"GA union front ({len(union)} points)", zorder=5)  # fmt: skip
    if ref is not None and len(ref) == 2:
        ax.plot([ref[0] * sx], [ref[1] * sy], "x", color="black", ms=8, mew=1.5,
                label="hypervolume reference point")  # fmt: skip
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_formatter(fx)
    ax.yaxis.set_major_formatter(fy)
    ax.grid(color="#e5e5e5", lw=0.6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if not len(exact) and not all_pts:
        ax.text(0.5, 0.5, "no points", transform=ax.transAxes, ha="center", va="center")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8.5, frameon=False, loc="lower left")
    space = pareto.get("space")
    head = f"Pareto fronts{f' ({space})' if space else ''}: exact vs GA"
    if summ["ratio_median"] is not None:
        hv = (
            f"hypervolume GA / exact: median {summ['ratio_median']:.3f} "
            f"[{summ['ratio_min']:.3f}–{summ['ratio_max']:.3f}] over "
            f"{len(summ['per_seed'])} seeds, union {summ['ratio_union']:.3f}"
        )
    else:
        hv = "hypervolume ratio undefined (no exact front)"
    ax.set_title(f"{head}\n{hv}", fontsize=10.5, loc="left")
    fig.tight_layout()
    return save_figure_atomic(fig, path)


# -- text formatting --------------------------------------------------------------------


def _fmt_value(v: Any, unit: str | None) -> str:
    """A value in ``unit`` (cycles, pJ, bits, bytes or other), ``—`` when missing."""
    f = _num(v)
    if f is None:
        return "—"
    if unit == "cycles":
        return fmt_cycles(f)
    if unit == "pJ":
        return fmt_energy(f)
    if unit == "bits":
        return fmt_bytes(f / 8)
    if unit == "bytes":
        return fmt_bytes(f)
    return f"{f:,.6g} {unit}" if unit else f"{f:,.6g}"


def _fmt_s(v: Any) -> str:
    """Wall time: ``4.2 ms``, ``2.10 s``, ``123 s``."""
    s = _num(v)
    if s is None:
        return "—"
    if s < 0.01:
        return f"{s * 1000:.2g} ms" if s > 0 else "0 s"
    return f"{s:.2f} s" if s < 100 else f"{s:,.0f} s"


def _fmt_duration(v: Any) -> str:
    """Long wall time: ``12.34 s``, ``2 min 03 s (123.4 s)``, ``1 h 02 min (3,720 s)``."""
    s = _num(v)
    if s is None or s < 60:
        return _fmt_s(s)
    m, r = divmod(round(s), 60)
    txt = f"{m} min {r:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"
    return f"{txt} ({s:,.1f} s)"


def _fmt_gap(g: Any, signed: bool = True) -> str:
    f = _num(g)
    if f is None:
        return "—"
    return f"{100 * f:+.2f} %" if signed else f"{100 * f:.2f} %"


def _fmt_int(v: Any) -> str:
    f = _num(v)
    return "—" if f is None else f"{f:,.0f}"


def _md_escape(text: Any) -> str:
    """Escape the characters :func:`markdown_to_html` (and common Markdown) interprets."""
    return re.sub(r"([\\`*|\[\]])", r"\\\1", str(text))


def space_verdict(space_entry: Mapping[str, Any]) -> str:
    """One sentence comparing the GA median with the MILP of a decision space.

    E.g. "GA median is 3.20 % above the proven optimum after 2.00 s per run (best seed
    +0.40 %; MILP: 0.05 s)."  A negative gap (GA better) is stated, with the likely
    reason (MILP not proven optimal, or its scope narrower than the simulated schedule).
    """
    milp = space_entry.get("milp") or {}
    unit = space_entry.get("unit")
    st = _ga_stats(space_entry)
    t_ga = _fmt_s(st.get("seconds_median"))
    t_milp = _fmt_s(milp.get("seconds"))
    status = milp.get("status") or "no result"
    m_obj = _num(milp.get("objective"))
    if not space_entry.get("milp"):
        m_txt = "no MILP was run"
    elif m_obj is None:
        m_txt = f"the MILP found no solution ({status}" + (
            f", {t_milp})" if milp.get("seconds") is not None else ")"
        )
    else:
        m_txt = f"the MILP ({status}) reached {_fmt_value(m_obj, unit)} in {t_milp}"
    n = st["n_runs"]
    if not n:
        return f"No GA runs; {m_txt}."
    if not st["n_feasible"] or _num(st.get("median")) is None:
        return (
            f"No GA run found a feasible solution (0/{n} seed{'s' if n != 1 else ''}, "
            f"median {t_ga} per run); {m_txt}."
        )
    med = _fmt_value(st["median"], unit)
    if m_obj is None:
        return f"GA median is {med} after {t_ga} per run; {m_txt}."
    proven = bool(milp.get("proven_optimal"))
    g = _num(st.get("gap_to_milp_median"))
    if proven:
        ref = "proven optimum"
    else:
        mg = _num(milp.get("gap"))
        ref = f"MILP incumbent ({status}" + (f", gap {_fmt_gap(mg, False)})" if mg else ")")
    milp_t = f"MILP: {t_milp}"
    if g is None:
        return f"GA median is {med} after {t_ga} per run vs the {ref} {_fmt_value(m_obj, unit)}."
    if abs(g) <= 5e-5:
        return f"GA median matches the {ref} after {t_ga} per run ({milp_t})."
    if g > 0:
        gmin = _num(st.get("gap_to_milp_min"))
        best = ""
        if gmin is not None and st["n_feasible"] > 1:
            best = (
                "best seed matches it; " if abs(gmin) <= 5e-5 else f"best seed {_fmt_gap(gmin)}; "
            )
        return (
            f"GA median is {100 * g:.2f} % above the {ref} after {t_ga} per run ({best}{milp_t})."
        )
    why = ""
    if proven:
        scope = milp.get("scope")
        why = (
            f" — the MILP is exact only within its scope: {_md_escape(scope)}"
            if scope
            else " — the MILP is optimal for its own model, not for the simulated schedule"
        )
    return f"GA median is {100 * -g:.2f} % below the {ref} after {t_ga} per run ({milp_t}){why}."


# -- images -----------------------------------------------------------------------------

_KIND_CAPTION = {
    "gantt": "Schedule (Gantt chart)",
    "schedule": "Schedule (Gantt chart)",
    "memory": "Memory occupancy",
    "footprint": "Activation footprint",
    "convergence": "GA convergence vs the MILP",
    "pareto": "Pareto fronts: exact vs GA",
}
_METHOD_CAPTION = {
    "milp": "the MILP solution",
    "milp_warm": "the warm-started MILP solution",
    "ga": "the best GA solution",
}


def _split_key(key: str, spaces: Sequence[str]) -> tuple[str, str | None]:
    """``(key without a trailing _<space>, space or None)`` (longest space name wins)."""
    for sp in sorted(spaces, key=len, reverse=True):
        if key.endswith("_" + sp) and len(key) > len(sp) + 1:
            return key[: -len(sp) - 1], sp
    return key, None


def image_caption(key: str, space_titles: Mapping[str, str] | None = None) -> str:
    """Readable caption of an image key.

    Known keys are ``<kind>_<method>`` (kind: ``gantt``, ``memory``, ``footprint``;
    method: ``milp``, ``milp_warm``, ``ga``; e.g. ``gantt_milp``), ``pareto`` and
    ``convergence``, each optionally suffixed ``_<space>`` (a key of ``space_titles``,
    e.g. ``convergence_fusion``).  Unknown keys are returned unchanged.
    """
    titles = dict(space_titles or {})
    base, space = _split_key(key, list(titles))
    kind, _, method = base.partition("_")
    if kind not in _KIND_CAPTION or (method and method not in _METHOD_CAPTION):
        return key
    cap = _KIND_CAPTION[kind]
    if method:
        cap += f" of {_METHOD_CAPTION[method]}"
    if space is not None:
        cap += f" — {titles.get(space) or space}"
    return cap


# -- Markdown -> HTML -------------------------------------------------------------------

_ESCAPES = "\\`*|[]"
_IMG_RE = re.compile(r"^!\[(?P<alt>(?:[^\]\\]|\\.)*)\]\((?P<src>[^)\s]+)\)$")

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; border-bottom: 2px solid #ddd; padding-bottom: .2em; }
h2 { font-size: 1.3em; margin-top: 1.8em; border-bottom: 1px solid #eee; }
h3 { font-size: 1.1em; }
table { border-collapse: collapse; margin: .8em 0; font-size: .92em; }
th, td { border: 1px solid #d0d7de; padding: .3em .7em; }
th { background: #f3f5f7; }
tr:nth-child(even) td { background: #fafbfc; }
td { font-variant-numeric: tabular-nums; }
code { background: #f3f5f7; padding: 0 .25em; border-radius: 3px; }
figure { margin: 1em 0; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
p.missing { color: #a00; }
""".strip()


def _inline(text: str) -> str:
    """Inline Markdown -> HTML: backslash escapes, ``code``, **bold**, *emphasis*."""
    saved: list[str] = []

    def stash(s: str) -> str:
        saved.append(s)
        return f"\x00{len(saved) - 1}\x00"

    text = re.sub(r"\\([\\`*|\[\]])", lambda m: stash(html.escape(m.group(1))), text)
    text = re.sub(r"`([^`]+)`", lambda m: stash(f"<code>{html.escape(m.group(1))}</code>"), text)
    text = html.escape(text, quote=False)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", text)
    return re.sub(r"\x00(\d+)\x00", lambda m: saved[int(m.group(1))], text)


def _cells(line: str) -> list[str]:
    s = line.strip()
    if s.startswith("|"):
        s = s[1:]
    if s.endswith("|") and not s.endswith("\\|"):
        s = s[:-1]
    return [c.strip() for c in re.split(r"(?<!\\)\|", s)]


def _table_html(lines: list[str]) -> str:
    head = _cells(lines[0])
    aligns = []
    for c in _cells(lines[1]) if len(lines) > 1 else []:
        c = c.strip()
        aligns.append(
            "center" if c.startswith(":") and c.endswith(":") else
            "right" if c.endswith(":") else "left"
        )  # fmt: skip

    def row(cells: list[str], tag: str) -> str:
        out = []
        for i, c in enumerate(cells):
            a = aligns[i] if i < len(aligns) else "left"
            style = f' style="text-align:{a}"' if a != "left" else ""
            out.append(f"<{tag}{style}>{_inline(c)}</{tag}>")
        return "<tr>" + "".join(out) + "</tr>"

    body = [row(_cells(ln), "td") for ln in lines[2:]]
    return (
        "<table>\n<thead>" + row(head, "th") + "</thead>\n<tbody>\n"
        + "\n".join(body) + "\n</tbody>\n</table>"
    )  # fmt: skip


def markdown_to_html(
    markdown: str,
    image_src: Callable[[str], str | None] | None = None,
    *,
    title: str = "report",
) -> str:
    """Render the Markdown subset :func:`write_report` emits as a standalone HTML page.

    Supported: ATX headings (``#`` to ``######``), pipe tables (with ``:---:`` /
    ``---:`` alignment), paragraphs, image-only lines ``![alt](src)`` (rendered as
    figures) and inline backslash escapes, ``code``, ``**bold**`` and ``*emphasis*``.

    Parameters
    ----------
    markdown
        The document.
    image_src
        Maps an image's ``src`` to the URL to use (e.g. a ``data:`` URI); ``None``
        from it renders a "missing image" note.  Default: ``src`` unchanged.
    title
        The page's ``<title>``.
    """
    blocks: list[str] = []
    para: list[str] = []
    table: list[str] = []

    def flush() -> None:
        if para:
            blocks.append("<p>" + _inline(" ".join(para)) + "</p>")
            para.clear()
        if table:
            blocks.append(_table_html(table))
            table.clear()

    for raw in markdown.splitlines():
        line = raw.strip()
        if line.startswith("|"):
            if para:
                flush()
            table.append(line)
            continue
        if table:
            flush()
        if not line:
            flush()
            continue
        m = re.match(r"^(#{1,6})\s+(.*)$", line)
        if m:
            flush()
            level = len(m.group(1))
            blocks.append(f"<h{level}>{_inline(m.group(2).strip())}</h{level}>")
            continue
        m = _IMG_RE.match(line)
        if m:
            flush()
            alt = re.sub(r"\\(.)", r"\1", m.group("alt"))
            src = m.group("src")
            url = image_src(src) if image_src is not None else src
            if url is None:
                blocks.append(f'<p class="missing">[image missing: {html.escape(src)}]</p>')
            else:
                blocks.append(
                    f'<figure><img src="{html.escape(url, quote=True)}" '
                    f'alt="{html.escape(alt, quote=True)}"></figure>'
                )
            continue
        para.append(line)
    flush()
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>\n{_CSS}\n</style>\n</head>\n<body>\n"
        + "\n".join(blocks)
        + "\n</body>\n</html>\n"
    )


# -- report -----------------------------------------------------------------------------


def _md_table(header: Sequence[str], rows: Sequence[Sequence[Any]], align: str) -> list[str]:
    """Markdown pipe table; ``align`` has one character per column (``l``/``r``/``c``)."""
    sep = {"l": "---", "r": "---:", "c": ":---:"}
    out = [
        "| " + " | ".join(_md_escape(h) for h in header) + " |",
        "|" + "|".join(sep[a] for a in align) + "|",
    ]
    for r in rows:
        out.append("| " + " | ".join(re.sub(r"(?<!\\)\|", r"\\|", str(c)) for c in r) + " |")
    return out


def _budget_text(budget: Mapping[str, Any] | None) -> str:
    budget = budget or {}
    evals, secs = _num(budget.get("evals")), _num(budget.get("seconds"))
    parts = []
    if evals is not None:
        parts.append(f"{evals:,.0f} evaluations")
    if secs is not None:
        parts.append(_fmt_s(secs))
    if not parts and budget.get("equal_wall_time"):
        floor = _num(budget.get("min_seconds"))
        return "the MILP's wall time on the same space" + (
            f" (at least {_fmt_s(floor)})" if floor else ""
        )
    if not parts:
        return "unlimited (generation count only)"
    return " or ".join(parts) + (" (whichever comes first)" if len(parts) > 1 else "")


def _space_table(entry: Mapping[str, Any]) -> list[str]:
    unit = entry.get("unit")
    milp = entry.get("milp") or {}
    st = _ga_stats(entry)
    v = functools.partial(_fmt_value, unit=unit)
    rows = []
    m_obj, m_bound = _num(milp.get("objective")), _num(milp.get("bound"))
    if entry.get("milp"):
        status = str(milp.get("status") or "—")
        if milp.get("proven_optimal"):
            status += " (proven)"
        rows.append(
            ["MILP (HiGHS)", status, v(m_obj), v(milp.get("simulated")), v(m_bound),
             _fmt_gap(milp.get("gap"), False), "—", "—", "—", _fmt_s(milp.get("seconds"))]
        )  # fmt: skip
        warm = milp.get("warm_started")
        if warm:
            w = _num(warm.get("objective"))
            rows.append(
                ["MILP warm-started from best GA", str(warm.get("status") or "—"), v(w),
                 v(warm.get("simulated")), "—", "—", _fmt_gap(_rel_gap(w, m_obj)),
                 _fmt_gap(_rel_gap(w, m_bound)), "—", _fmt_s(warm.get("seconds"))]
            )  # fmt: skip
    if st["n_runs"]:
        if _num(st.get("median")) is not None:
            obj = f"{v(st['median'])} [{v(st.get('min'))} – {v(st.get('max'))}]"
            gap = _fmt_gap(st.get("gap_to_milp_median"))
            if _num(st.get("gap_to_milp_min")) is not None:
                gap += (
                    f" [{_fmt_gap(st.get('gap_to_milp_min'))} – "
                    f"{_fmt_gap(st.get('gap_to_milp_max'))}]"
                )
        else:
            obj, gap = "—", "—"
        ga = entry.get("ga") or {}
        n = st["n_runs"]
        algo = f" ({ga['algorithm']})" if ga.get("algorithm") else ""
        name = f"GA{algo} median [min – max], {n} seed{'s' if n != 1 else ''}"
        rows.append(
            [name, f"{st['n_feasible']}/{st['n_runs']} feasible", obj,
             v(st.get("simulated_median")), "—", "—", gap,
             _fmt_gap(st.get("gap_to_bound_median")), _fmt_int(st.get("evaluations_median")),
             _fmt_s(st.get("seconds_median"))]
        )  # fmt: skip
    header = ["method", "status", "objective", "simulated", "bound", "MIP gap",
              "gap to MILP", "gap to bound", "evaluations", "wall time"]  # fmt: skip
    return _md_table(header, rows, "llrrrrrrrr")


def _image_lines(key: str, path: Path, out_dir: Path, caption: str) -> list[str]:
    rel = Path(os.path.relpath(Path(path).resolve(), out_dir.resolve())).as_posix()
    return [
        f"![{_md_escape(caption)}]({rel.replace(' ', '%20')})",
        "",
        f"*{_md_escape(caption)}*",
        "",
    ]


def _report_markdown(out_dir: Path, data: Mapping[str, Any], images: Mapping[str, Path]) -> str:
    spaces = [s for s in (data.get("spaces") or []) if s]
    titles = {str(s.get("space")): str(s.get("title") or s.get("space")) for s in spaces}
    workload = data.get("workload") or "?"
    acc = data.get("accelerator") or "?"
    lines = [f"# MILP vs genetic algorithm — {_md_escape(workload)} on {_md_escape(acc)}", ""]
    budget = data.get("budget") or {}
    seeds = list(data.get("seeds") or [])
    settings = [
        ("config", _md_escape(data.get("config") or "—")),
        ("workload", _md_escape(workload)),
        ("accelerator", _md_escape(acc)),
        ("objective", _md_escape(data.get("objective") or "—")),
        ("GA budget per run", _budget_text(budget)),
        ("equal wall time", "yes" if budget.get("equal_wall_time") else "no"),
        ("seeds", (", ".join(str(s) for s in seeds) or "—") + f" ({len(seeds)})"),
        ("total wall time", _fmt_duration(data.get("wall_seconds"))),
    ]
    lines += _md_table(["setting", "value"], settings, "ll") + [""]

    if spaces:
        lines += ["## Overview", ""]
        rows = []
        for s in spaces:
            milp = s.get("milp") or {}
            st = _ga_stats(s)
            unit = s.get("unit")
            rows.append(
                [_md_escape(titles[str(s.get("space"))]), _md_escape(s.get("metric_label") or
                 s.get("metric") or "—"), str(milp.get("status") or "—"),
                 _fmt_value(milp.get("objective"), unit), _fmt_s(milp.get("seconds")),
                 _fmt_value(st.get("median"), unit), _fmt_gap(st.get("gap_to_milp_median")),
                 _fmt_s(st.get("seconds_median"))]
            )  # fmt: skip
        lines += _md_table(
            ["decision space", "metric", "MILP status", "MILP", "MILP time", "GA median",
             "GA gap to MILP", "GA time"], rows, "lllrrrrr",
        )  # fmt: skip
        lines += [
            "",
            "Gaps are relative: (value − MILP objective) / MILP objective, resp. to the MILP's "
            "dual bound; negative means better than the MILP. GA times are per run (median "
            "over seeds).",
            "",
        ]

    used: set[str] = set()
    for i, s in enumerate(spaces, 1):
        key = str(s.get("space"))
        ga = s.get("ga") or {}
        milp = s.get("milp") or {}
        lines += [f"## {i}. {_md_escape(titles[key])}", ""]
        metric = s.get("metric_label") or s.get("metric") or "—"
        meta = f"Decision space `{key}`; metric: {_md_escape(metric)}"
        if ga.get("algorithm"):
            meta += f"; GA: `{ga['algorithm']}`"
            if ga.get("preset"):
                meta += f", preset `{ga['preset']}`"
        lines += [meta + ".", ""]
        lines += _space_table(s) + [""]
        lines += [f"**Verdict:** {space_verdict(s)}", ""]
        if milp.get("scope"):
            lines += [f"*MILP scope:* {_md_escape(milp['scope'])}", ""]
        for k, p in images.items():
            base, sp = _split_key(k, list(titles))
            if sp == key:
                used.add(k)
                if base == "convergence":
                    lines += _image_lines(k, p, out_dir, image_caption(k, titles))
        for k, p in images.items():
            base, sp = _split_key(k, list(titles))
            if sp == key and base != "convergence":
                lines += _image_lines(k, p, out_dir, image_caption(k, titles))

    pareto = data.get("pareto")
    if pareto:
        used.add("pareto")
        summ = pareto_summary(pareto)
        xa, ya = pareto.get("x") or {}, pareto.get("y") or {}
        xname, yname = xa.get("name") or "x", ya.get("name") or "y"
        sp = pareto.get("space")
        lines += [
            f"## Pareto front{f': {_md_escape(titles.get(str(sp), sp))}' if sp else ''}"
            f" — {_md_escape(xname)} vs {_md_escape(yname)}",
            "",
        ]
        ref = summ["reference"]
        ref_txt = (
            f"({_fmt_value(ref[0], xa.get('unit'))}, {_fmt_value(ref[1], ya.get('unit'))})"
            if len(ref) == 2
            else str(ref)
        )
        origin = "given" if pareto.get("reference") else "1.1 × the per-axis max of all fronts"
        lines += [
            "Both objectives are minimized. The exact front comes from the ε-constraint "
            "method (every point proven optimal). Hypervolumes are computed on axes divided "
            f"by the reference point {ref_txt} ({origin}), i.e. as a fraction of the box "
            "from the origin to the reference point.",
            "",
        ]
        rows = [
            ["exact (ε-constraint)", str(summ["n_exact"]), "—",
             _fmt_s(pareto.get("exact_seconds")), f"{summ['hv_exact']:.4f}", "1.000"]
        ]  # fmt: skip
        evals_total, secs_total = 0.0, 0.0
        for ps in summ["per_seed"]:
            evals_total += _num(ps.get("evaluations")) or 0.0
            secs_total += ps.get("seconds") or 0.0
            rows.append(
                [f"GA seed {ps['seed']}", str(ps["n_points"]), _fmt_int(ps.get("evaluations")),
                 _fmt_s(ps.get("seconds")), f"{ps['hv']:.4f}",
                 "—" if ps["ratio"] is None else f"{ps['ratio']:.3f}"]
            )  # fmt: skip
        if summ["per_seed"]:
            med = summ["ratio_median"]
            rows.append(
                [f"GA median [min – max] over {len(summ['per_seed'])} seeds", "—", "—", "—",
                 "—", "—" if med is None else
                 f"{med:.3f} [{summ['ratio_min']:.3f} – {summ['ratio_max']:.3f}]"]
            )  # fmt: skip
            ru = summ["ratio_union"]
            rows.append(
                ["GA union of all seeds (summed effort)", str(summ["n_union"]),
                 _fmt_int(evals_total), _fmt_s(secs_total), f"{summ['hv_union']:.4f}",
                 "—" if ru is None else f"{ru:.3f}"]
            )  # fmt: skip
        lines += _md_table(
            ["front", "points", "evaluations", "wall time", "hypervolume", "HV ratio GA / exact"],
            rows, "lrrrrr",
        )  # fmt: skip
        lines += [""]
        if summ["ratio_median"] is not None:
            lines += [
                f"**Verdict:** a single GA run reaches {100 * summ['ratio_median']:.1f} % of "
                f"the exact front's hypervolume (median over seeds), the union of all "
                f"{len(summ['per_seed'])} runs {100 * summ['ratio_union']:.1f} %; the exact "
                f"front took {_fmt_s(pareto.get('exact_seconds'))}, a GA run "
                f"{_fmt_s(_median(p.get('seconds') for p in summ['per_seed']))} (median).",
                "",
            ]
        if "pareto" in images:
            lines += _image_lines("pareto", images["pareto"], out_dir, image_caption("pareto"))

    rest = [k for k in images if k not in used]
    if rest:
        lines += ["## Schedules and memory", ""]
        for k in rest:
            lines += _image_lines(k, images[k], out_dir, image_caption(k, titles))
    return "\n".join(lines).rstrip() + "\n"


def write_report(
    out_dir: str | Path, data: Mapping[str, Any], images: Mapping[str, str | Path]
) -> tuple[Path, Path]:
    """Write ``report.md`` and a self-contained ``report.html`` of a compare run.

    Content: run settings (config, workload, accelerator, objective, GA budget, seeds,
    total wall time); an overview table; per decision space a table (MILP, MILP
    warm-started from the best GA solution if present, GA median [min – max] over seeds
    with gaps to the MILP objective and bound, evaluations, wall times), a one-sentence
    verdict (:func:`space_verdict`) and its images; the Pareto section (hypervolume
    table per seed and of the union, :func:`pareto_summary`, and its plot); then the
    remaining images.

    Parameters
    ----------
    out_dir
        Output folder (created if needed).
    data
        The ``compare.json`` dict.
    images
        Image key -> PNG path.  ``convergence_<space>`` and other keys ending in
        ``_<space>`` go to that space's section, ``pareto`` to the Pareto section,
        all others (e.g. ``gantt_milp``, ``gantt_ga``, ``memory_milp``, ``memory_ga``)
        to a final section; captions from :func:`image_caption`.  The Markdown links
        images by path relative to ``out_dir``; the HTML embeds them as base64 PNG
        (a missing file is noted, not an error).

    Returns
    -------
    tuple[Path, Path]
        ``(report.md, report.html)``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    imgs = {str(k): Path(v) for k, v in images.items()}
    md = _report_markdown(out, data, imgs)
    by_src = {
        Path(os.path.relpath(p.resolve(), out.resolve())).as_posix().replace(" ", "%20"): p
        for p in imgs.values()
    }

    def embed(src: str) -> str | None:
        p = by_src.get(src)
        if p is None or not p.is_file():
            return None
        return "data:image/png;base64," + base64.b64encode(p.read_bytes()).decode("ascii")

    title = f"MILP vs GA — {data.get('workload') or '?'} on {data.get('accelerator') or '?'}"
    page = markdown_to_html(md, embed, title=title)
    return write_text_atomic(out / "report.md", md), write_text_atomic(out / "report.html", page)
