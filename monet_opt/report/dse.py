"""Output files of the hardware design-space exploration (``monet-opt dse``).

Input is the sweep as plain data: a ``summary`` dict (the space, budget, sampler, seed,
inner mode, workloads, wall time, status counts, optional hypervolumes) and one record
dict per evaluated design point (see :func:`write_dse_outputs`).  Output, into one
folder:

* ``dse.csv``: one row per point (:func:`dse_columns`);
* ``pareto.csv``: the Pareto front, the non-dominated ``ok`` points over the summary's
  objectives (all minimized; :func:`front_indices`);
* ``pareto.png``: latency against energy coloured by area, the front highlighted
  (:func:`plot_dse_pareto`);
* ``parameter_effects.png``: one panel per (parameter, objective), the objective's
  distribution over ``ok`` points for each value of the parameter
  (:func:`plot_parameter_effects`);
* ``report.md`` and a self-contained ``report.html`` (images embedded as base64);
* ``designs/<id>.yaml``: the accelerator of each front point in our schema, loadable by
  :func:`monet_opt.hardware.yaml_io.load_monet_accelerator` (so by ``monet-opt solve``).

Objective units: ``latency_cycles`` in cycles, ``energy_pj`` in pJ, ``edp`` in
pJ x cycles, ``area_mm2`` in mm², ``peak_dram_bits`` in bits.  Missing and non-finite
values are empty CSV fields and are left out of fronts and plots.  The set is rendered in
a staging folder inside ``out_dir`` and moved into place only when complete.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import os
import re
import shutil
import statistics
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.cm import ScalarMappable  # noqa: E402
from matplotlib.colors import LogNorm, Normalize  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import (  # noqa: E402
    EngFormatter,
    FuncFormatter,
    LogLocator,
    NullFormatter,
)

from monet_opt.atomic import _exchange, write_text_atomic  # noqa: E402
from monet_opt.hardware.yaml_io import accelerator_from_dict, dump_accelerator  # noqa: E402
from monet_opt.indicators import finite_or_none, hypervolume, nondominated_indices  # noqa: E402
from monet_opt.report.compare import _md_escape, _md_table, markdown_to_html  # noqa: E402
from monet_opt.report.plots import save_figure_atomic  # noqa: E402
from monet_opt.units import GIB_BITS, KIB_BITS, MIB_BITS, fmt_bits, fmt_cycles, fmt_energy  # noqa: E402

__all__ = [
    "OBJECTIVES",
    "OUTPUT_NAMES",
    "Objective",
    "dse_columns",
    "dse_rows",
    "front_indices",
    "best_per_objective",
    "separation",
    "plot_dse_pareto",
    "plot_parameter_effects",
    "report_markdown",
    "write_dse_outputs",
]


# -- objectives ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Objective:
    """How one objective is named, scaled and printed.

    Attributes
    ----------
    key
        Key in a record's ``objectives`` (e.g. ``"latency_cycles"``).
    label
        Name for people (``"latency"``).
    scales
        ``(divisor, unit)`` pairs, largest first, for plot axes; the first divisor not
        above the largest value is used (the last pair otherwise).
    """

    key: str
    label: str
    scales: tuple[tuple[float, str], ...]

    def axis(self, vmax: float) -> tuple[float, str]:
        """``(divisor, axis label)`` for values up to ``vmax`` (raw units)."""
        for div, unit in self.scales:
            if abs(vmax) >= div:
                return div, f"{self.label} [{unit}]"
        div, unit = self.scales[-1]
        return div, f"{self.label} [{unit}]"

    def fmt(self, v: Any) -> str:
        """A value in raw units as text (``—`` when missing or non-finite)."""
        f = finite_or_none(v)
        if f is None:
            return "—"
        if self.key == "latency_cycles":
            return fmt_cycles(f)
        if self.key == "energy_pj":
            return fmt_energy(f)
        if self.key == "peak_dram_bits":
            return fmt_bits(f)
        if self.key == "area_mm2":
            return f"{f:,.3f} mm²"
        if self.key == "edp":
            return f"{f:.4g} pJ·cc"
        return f"{f:,.6g}"


#: The objectives the DSE knows, in their canonical order (all minimized).
OBJECTIVES: Mapping[str, Objective] = {
    o.key: o
    for o in (
        Objective(
            "latency_cycles",
            "latency",
            ((1e9, "G cycles"), (1e6, "M cycles"), (1e3, "k cycles"), (1.0, "cycles")),
        ),
        Objective(
            "energy_pj",
            "energy",
            ((1e12, "J"), (1e9, "mJ"), (1e6, "µJ"), (1e3, "nJ"), (1.0, "pJ")),
        ),
        Objective("edp", "EDP", ((1.0, "pJ·cycles"),)),
        Objective("area_mm2", "area", ((1.0, "mm²"),)),
        Objective(
            "peak_dram_bits",
            "peak DRAM",
            ((GIB_BITS, "GiB"), (MIB_BITS, "MiB"), (KIB_BITS, "KiB"), (8.0, "B")),
        ),
    )
}

#: Names of the files :func:`write_dse_outputs` always writes (plus ``designs/``).
OUTPUT_NAMES = (
    "dse.csv",
    "pareto.csv",
    "pareto.png",
    "parameter_effects.png",
    "report.md",
    "report.html",
)

_FIXED_COLUMNS = ("id", "sampler", "index", "status", "reason")
_OK = "ok"
_FRONT_COLOR = "#C44E52"
_REST_COLOR = "#8C8C8C"
_MAX_FRONT_ROWS = 100
_MAX_REASONS = 10
_MAX_LEVELS = 8  # numeric parameters with more distinct values are binned


def _objective(key: str) -> Objective:
    return OBJECTIVES.get(key) or Objective(key, key, ((1.0, "—"),))


# -- record access ------------------------------------------------------------------------


def _obj(rec: Mapping[str, Any], key: str) -> float | None:
    return finite_or_none((rec.get("objectives") or {}).get(key))


def _params(rec: Mapping[str, Any]) -> Mapping[str, Any]:
    return rec.get("params") or {}


def _pval(rec: Mapping[str, Any], name: str) -> Any:
    """A parameter's value for comparisons and plots: ``None`` when missing or a
    non-finite float, a string when not hashable (a list), else the value."""
    v = _params(rec).get(name)
    if isinstance(v, float) and not math.isfinite(v):
        return None
    try:
        hash(v)
    except TypeError:
        return json.dumps(v, default=str)
    return v


def _is_ok(rec: Mapping[str, Any]) -> bool:
    return rec.get("status") == _OK


def _sorted_records(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Records in sampling order (``index``, then ``id``), whatever order they finished in."""

    def key(r: Mapping[str, Any]) -> tuple[float, str]:
        i = finite_or_none(r.get("index"))
        return (math.inf if i is None else i, str(r.get("id")))

    return sorted(records, key=key)


def _safe_id(pid: Any) -> str:
    """A point id usable as a file name (characters other than ``[A-Za-z0-9_.-]`` -> ``_``)."""
    s = re.sub(r"[^A-Za-z0-9_.-]", "_", str(pid)) or "_"
    return "_" + s if s.startswith(".") else s


def _param_names(summary: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Parameters of the space file first (in its order), then any others seen in records."""
    names = [str(k) for k in (summary.get("space") or {})]
    for r in records:
        for k in _params(r):
            if str(k) not in names:
                names.append(str(k))
    return names


def _objective_names(summary: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> list[str]:
    """The summary's objectives, then the other known objectives seen, then unknown ones."""
    names = [str(k) for k in (summary.get("objectives") or [])]
    seen: list[str] = []
    for r in records:
        for k in r.get("objectives") or {}:
            if str(k) not in seen:
                seen.append(str(k))
    names += [k for k in OBJECTIVES if k in seen and k not in names]
    names += [k for k in seen if k not in names]
    return names


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings flattened to dotted keys (``{"a": {"b": 1}}`` -> ``{"a.b": 1}``)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


# -- front --------------------------------------------------------------------------------


def front_indices(records: Sequence[Mapping[str, Any]], objectives: Sequence[str]) -> list[int]:
    """Positions in ``records`` of the Pareto front (minimization).

    Parameters
    ----------
    records
        Point records.  Only ``ok`` points whose objectives in ``objectives`` are all
        finite take part.
    objectives
        Objective keys, ``d >= 1`` of them.

    Returns
    -------
    list[int]
        Positions of the non-dominated points, sorted by the objectives
        lexicographically.  Of several points with equal objective vectors the one that
        comes first in ``records`` is kept (:func:`monet_opt.indicators.nondominated_indices`).
        Empty when no point qualifies or ``objectives`` is empty.
    """
    if not objectives:
        return []
    pos, pts = [], []
    for i, r in enumerate(records):
        if not _is_ok(r):
            continue
        vec = [_obj(r, k) for k in objectives]
        if all(v is not None for v in vec):
            pos.append(i)
            pts.append(vec)
    return [pos[j] for j in nondominated_indices(pts)]


def best_per_objective(
    records: Sequence[Mapping[str, Any]], objectives: Sequence[str]
) -> dict[str, int]:
    """Position of the best ``ok`` point per objective.

    Ties on an objective are broken by the other objectives in order, then by position,
    so with all objectives finite the winner is on the front.  Objectives no point has a
    finite value for are left out.
    """
    out: dict[str, int] = {}
    for k in objectives:
        others = [o for o in objectives if o != k]
        cands = [(i, r) for i, r in enumerate(records) if _is_ok(r) and _obj(r, k) is not None]
        if not cands:
            continue

        def key(
            item: tuple[int, Mapping[str, Any]], k: str = k, others: list[str] = others
        ) -> tuple[float, ...]:
            i, r = item
            vals = [_obj(r, o) for o in (k, *others)]
            return (*[math.inf if v is None else v for v in vals], float(i))

        out[k] = min(cands, key=key)[0]
    return out


# -- CSV ----------------------------------------------------------------------------------


def _cell(v: Any) -> str:
    """A CSV field: empty for missing / non-finite, floats ``repr``-exact, bools
    ``true``/``false``, lists and mappings as JSON."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ""
    if isinstance(v, (list, tuple, Mapping)):
        return json.dumps(v, default=str, allow_nan=False) if _json_ok(v) else str(v)
    return str(v)


def _json_ok(v: Any) -> bool:
    try:
        json.dumps(v, default=str, allow_nan=False)
    except ValueError:
        return False
    return True


def _column_names(
    summary: Mapping[str, Any], records: Sequence[Mapping[str, Any]]
) -> tuple[dict[str, str], dict[str, str]]:
    """``(parameter -> column, objective -> column)``: the name itself, or
    ``param.<name>`` / ``objective.<name>`` when an earlier column has that name."""
    taken = set(_FIXED_COLUMNS) | {"on_front", "design"}
    pcols: dict[str, str] = {}
    for name in _param_names(summary, records):
        pcols[name] = name if name not in taken else f"param.{name}"
        taken.add(pcols[name])
    ocols: dict[str, str] = {}
    for name in _objective_names(summary, records):
        ocols[name] = name if name not in taken else f"objective.{name}"
        taken.add(ocols[name])
    return pcols, ocols


def _metric_column(key: str, reserved: set[str]) -> str:
    """CSV column of a flattened metric: its key, or ``metrics.<key>`` when the key is
    already the name of a fixed, parameter or objective column."""
    return f"metrics.{key}" if key in reserved else key


def dse_columns(summary: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Columns of ``dse.csv``, in order.

    ``id, sampler, index, status, reason``; one column per parameter (the space file's
    order, then others seen in records); one per objective (the summary's, then the
    other known ones seen, then unknown ones); the flattened metrics (nested keys
    joined with ``.``, in first-seen order); ``on_front``.  A parameter, objective or
    metric whose name is already taken gets the prefix ``param.``, ``objective.`` or
    ``metrics.``.
    """
    pcols, ocols = _column_names(summary, records)
    cols = [*_FIXED_COLUMNS, *pcols.values(), *ocols.values()]
    reserved = {*cols, "on_front", "design"}
    for r in records:
        for k in _flatten(r.get("metrics") or {}):
            col = _metric_column(k, reserved)
            if col not in cols:
                cols.append(col)
    return [*cols, "on_front"]


def dse_rows(
    summary: Mapping[str, Any],
    records: Sequence[Mapping[str, Any]],
    front: Iterable[int] = (),
) -> list[dict[str, Any]]:
    """One dict per record keyed by the columns of :func:`dse_columns`; ``front`` holds
    the positions of front points (``on_front``)."""
    on_front = set(front)
    pcols, ocols = _column_names(summary, records)
    reserved = {*_FIXED_COLUMNS, *pcols.values(), *ocols.values(), "on_front", "design"}
    rows = []
    for i, r in enumerate(records):
        row: dict[str, Any] = {c: r.get(c) for c in _FIXED_COLUMNS}
        for name, col in pcols.items():
            row[col] = _params(r).get(name)
        for name, col in ocols.items():
            row[col] = (r.get("objectives") or {}).get(name)
        for k, v in _flatten(r.get("metrics") or {}).items():
            row[_metric_column(k, reserved)] = v
        row["on_front"] = i in on_front
        rows.append(row)
    return rows


def _write_csv(path: Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for row in rows:
        w.writerow([_cell(row.get(c)) for c in columns])
    return write_text_atomic(path, buf.getvalue())


# -- plots --------------------------------------------------------------------------------


def _tick(v: float, _pos: Any = None) -> str:
    """Short tick label: ``0.5``, ``12``, ``250``, ``1,200``."""
    if v == 0 or not math.isfinite(v):
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def _setup_axis(ax: Any, which: str, values: np.ndarray, obj: Objective) -> float:
    """Scale, label and tick one axis for ``values`` (raw units); returns the divisor.

    The axis is logarithmic when the positive values span more than 10x, with ticks at
    1, 2 and 5 per decade.
    """
    finite = values[np.isfinite(values)]
    vmax = float(np.max(np.abs(finite))) if finite.size else 1.0
    div, label = obj.axis(vmax)
    getattr(ax, f"set_{which}label")(label)
    axis = ax.xaxis if which == "x" else ax.yaxis
    pos = finite[finite > 0]
    if pos.size and np.all(finite > 0) and pos.max() > 10 * pos.min():
        getattr(ax, f"set_{which}scale")("log")
        decades = math.log10(float(pos.max()) / float(pos.min()))
        subs = (1.0, 2.0, 5.0) if decades <= 2.5 else (1.0, 3.0) if decades <= 4 else (1.0,)
        axis.set_major_locator(LogLocator(base=10, subs=subs))
        axis.set_minor_formatter(NullFormatter())
    fmt = EngFormatter(sep="") if obj.key == "edp" else FuncFormatter(_tick)
    axis.set_major_formatter(fmt)
    return div


def _xy_keys(ok: Sequence[Mapping[str, Any]], objectives: Sequence[str]) -> list[str]:
    """Axes of the Pareto plot: latency and energy when the points have both, else the
    first two objectives with values, else one (plotted against the sampling index)."""
    have = [k for k in objectives if any(_obj(r, k) is not None for r in ok)]
    if "latency_cycles" in have and "energy_pj" in have:
        return ["latency_cycles", "energy_pj"]
    return have[:2]


def _status_counts(records: Sequence[Mapping[str, Any]]) -> Counter[str]:
    return Counter(str(r.get("status")) for r in records)


def _counts_text(records: Sequence[Mapping[str, Any]]) -> str:
    c = _status_counts(records)
    bad = [f"{n} {s}" for s, n in sorted(c.items()) if s != _OK]
    text = f"{c.get(_OK, 0)} ok of {len(records)} points"
    return text + (f" ({', '.join(bad)}; not plotted)" if bad else "")


def _empty_figure(path: Path, title: str, message: str) -> Path:
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=11, color="#555555")
    ax.set_axis_off()
    fig.suptitle(title, fontsize=11, x=0.01, ha="left")
    return save_figure_atomic(fig, path)


def plot_dse_pareto(
    records: Sequence[Mapping[str, Any]],
    objectives: Sequence[str],
    front: Sequence[int],
    path: str | Path,
    *,
    title: str = "design-space exploration",
) -> Path:
    """Latency against energy of the ``ok`` points, coloured by area, front highlighted.

    Parameters
    ----------
    records
        All point records (failed and infeasible ones are counted in the title, not
        drawn).
    objectives
        The front's objectives; used for the legend and, when the points lack latency
        or energy, to pick the axes (:func:`_xy_keys`).  One objective is plotted
        against the sampling index.
    front
        Positions in ``records`` of the front (:func:`front_indices`); drawn with
        outlined markers.  A step line joins the non-dominated points of the two
        plotted axes.
    path
        PNG file, written atomically.
    title
        First line of the title; the second gives the status counts.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    ok = [(i, r) for i, r in enumerate(records) if _is_ok(r)]
    keys = _xy_keys([r for _, r in ok], list(objectives) + [k for k in OBJECTIVES])
    head = f"{title}\n{_counts_text(records)}"
    if not keys:
        return _empty_figure(path, head, "no successful design point to plot")
    if len(keys) == 1:
        xk, yk = None, keys[0]
        pts = [(i, float(r.get("index") or i), _obj(r, yk)) for i, r in ok]
    else:
        xk, yk = keys
        pts = [(i, _obj(r, xk), _obj(r, yk)) for i, r in ok]
    pts = [p for p in pts if p[1] is not None and p[2] is not None]
    if not pts:
        return _empty_figure(path, head, "no successful design point to plot")
    pos = np.array([p[0] for p in pts])
    x = np.array([p[1] for p in pts], dtype=float)
    y = np.array([p[2] for p in pts], dtype=float)
    area = np.array([_nan_if_none(_obj(records[i], "area_mm2")) for i in pos], dtype=float)
    has_area = bool(np.isfinite(area).any())

    fig, ax = plt.subplots(figsize=(8.0, 5.6))
    xdiv = 1.0
    if xk is None:
        ax.set_xlabel("sampling index")
    else:
        xdiv = _setup_axis(ax, "x", x, _objective(xk))
    ydiv = _setup_axis(ax, "y", y, _objective(yk))
    xs, ys = x / xdiv, y / ydiv
    on = np.isin(pos, np.asarray(list(front), dtype=int))
    kw: dict[str, Any] = {}
    if has_area:
        finite_area = area[np.isfinite(area)]
        lo, hi = float(finite_area.min()), float(finite_area.max())
        norm = LogNorm(lo, hi) if lo > 0 and hi > 10 * lo else Normalize(lo, hi)
        cmap = plt.get_cmap("viridis").with_extremes(bad="#b0b0b0")  # no area: grey
        kw = {"c": area, "cmap": cmap, "norm": norm, "plotnonfinite": True}
    else:
        kw = {"color": "#4C72B0"}
    ax.scatter(xs[~on], ys[~on], s=14, alpha=0.55, lw=0, zorder=2, rasterized=True,
                    **_sub(kw, ~on))  # fmt: skip
    ax.scatter(xs[on], ys[on], s=46, edgecolors="black", linewidths=1.1, zorder=4,
               **_sub(kw, on))  # fmt: skip
    handles = [
        Line2D([], [], ls="", marker="o", ms=4, color="#777777", alpha=0.6,
               label=f"design point ({int((~on).sum())})"),
        Line2D([], [], ls="", marker="o", ms=7, mfc="#cccccc", mec="black",
               label=f"Pareto front over {', '.join(_objective(k).label for k in objectives)} "
               f"({int(on.sum())})"),
    ]  # fmt: skip
    if xk is not None:
        nd = nondominated_indices(list(zip(x.tolist(), y.tolist(), strict=True)))
        order = sorted(nd, key=lambda j: x[j])
        fx, fy = xs[order], ys[order]
        if len(order) > 1:
            ax.step(fx, fy, where="post", color=_FRONT_COLOR, lw=1.2, alpha=0.9, zorder=5)
        if sorted(set(objectives)) != sorted(keys):
            handles.append(
                Line2D([], [], color=_FRONT_COLOR, lw=1.3,
                       label=f"{_objective(xk).label}–{_objective(yk).label} front")
            )  # fmt: skip
        else:
            handles[1] = Line2D([], [], ls="-", marker="o", ms=7, mfc="#cccccc", mec="black",
                                color=_FRONT_COLOR, label=handles[1].get_label())  # fmt: skip
    n_bad = sum(1 for r in records if not _is_ok(r))
    if n_bad:
        handles.append(Line2D([], [], ls="", marker="x", color="#aa0000",
                              label=f"failed / infeasible: {n_bad} (not plotted)"))  # fmt: skip
    if has_area:
        cb = fig.colorbar(ScalarMappable(norm=kw["norm"], cmap=kw["cmap"]), ax=ax, pad=0.02)
        cb.set_label("area [mm²]")
        cb.ax.yaxis.set_major_formatter(FuncFormatter(_tick))
    ax.legend(handles=handles, fontsize=8, frameon=True, framealpha=0.9, loc="best")
    ax.grid(color="#e5e5e5", lw=0.6, which="major")
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    ax.set_title(head, fontsize=10, loc="left")
    fig.tight_layout()
    return save_figure_atomic(fig, path)


def _nan_if_none(v: float | None) -> float:
    return math.nan if v is None else v


def _sub(kw: Mapping[str, Any], mask: np.ndarray) -> dict[str, Any]:
    """Scatter keywords restricted to the points of ``mask`` (the colour array)."""
    out = dict(kw)
    if "c" in out:
        out["c"] = np.asarray(out["c"])[mask]
    return out


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _value_key(v: Any) -> tuple[int, float, str]:
    """Sort key of parameter values: numbers ascending, then other values by text."""
    if _is_number(v) and math.isfinite(float(v)):
        return (0, float(v), "")
    return (1, 0.0, str(v))


def _fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _levels(values: Sequence[Any]) -> tuple[list[str], list[int | None]]:
    """Group parameter values into at most :data:`_MAX_LEVELS` levels for plotting.

    Returns ``(labels, level of each value)``; ``None`` for missing values.  Numeric
    parameters with more distinct values are cut into quantile bins ``[a, b]``.
    """
    present = [v for v in values if v is not None]
    distinct = sorted(set(present), key=_value_key)
    numeric = bool(present) and all(_is_number(v) for v in present)
    if not numeric or len(distinct) <= _MAX_LEVELS:
        labels = [_fmt_value(v) for v in distinct]
        index = {v: i for i, v in enumerate(distinct)}
        return labels, [None if v is None else index[v] for v in values]
    arr = np.array([float(v) for v in present])
    edges = np.unique(np.quantile(arr, np.linspace(0, 1, _MAX_LEVELS + 1)))
    labels = [f"[{edges[i]:.3g}, {edges[i + 1]:.3g}]" for i in range(len(edges) - 1)]
    bins = np.clip(np.searchsorted(edges, arr, side="right") - 1, 0, len(labels) - 1)
    it = iter(bins.tolist())
    return labels, [None if v is None else int(next(it)) for v in values]


def plot_parameter_effects(
    records: Sequence[Mapping[str, Any]],
    params: Sequence[str],
    objectives: Sequence[str],
    path: str | Path,
    *,
    front: Sequence[int] = (),
    title: str = "parameter effects",
) -> Path:
    """Grid of box plots: rows = parameters, columns = objectives, ``ok`` points only.

    Each panel shows, for every value of the parameter (numeric ones with more than
    :data:`_MAX_LEVELS` values in quantile bins), a box (quartiles, whiskers at 1.5 IQR,
    a black median line) of the objective, the points as a jittered strip (front points
    in red) and the number of points under each box.  Points without the parameter or
    with a non-finite objective are left out of that panel.  The panels of one objective
    share their y axis, logarithmic when the values span more than 10x.
    """
    path = Path(path)
    ok = [(i, r) for i, r in enumerate(records) if _is_ok(r)]
    objs = [k for k in objectives if any(_obj(r, k) is not None for _, r in ok)]
    if not ok or not params or not objs:
        what = "no successful design point" if not ok else "no parameter or objective values"
        return _empty_figure(path, title, what)
    on_front = set(front)
    fig, axes = plt.subplots(
        len(params), len(objs), figsize=(3.3 * len(objs) + 0.6, 2.4 * len(params) + 0.8),
        squeeze=False, sharey="col",
    )  # fmt: skip
    rng = np.random.default_rng(0)
    for col, k in enumerate(objs):
        obj = _objective(k)
        vals_all = np.array([_obj(r, k) if _obj(r, k) is not None else np.nan for _, r in ok])
        for row, p in enumerate(params):
            ax = axes[row][col]
            labels, level = _levels([_pval(r, p) for _, r in ok])
            groups: list[list[float]] = [[] for _ in labels]
            strip: list[tuple[float, float, bool]] = []
            for (i, _r), lv, v in zip(ok, level, vals_all, strict=True):
                if lv is None or not math.isfinite(v):
                    continue
                groups[lv].append(v)
                strip.append((lv, v, i in on_front))
            div = _setup_axis(ax, "y", vals_all, obj)
            data = [np.asarray(g) / div for g in groups]
            shown = [j for j, g in enumerate(data) if len(g)]
            if shown:
                ax.boxplot(
                    [data[j] for j in shown], positions=shown, widths=0.55, showfliers=False,
                    patch_artist=True, medianprops={"color": "black", "lw": 1.6},
                    boxprops={"facecolor": "#dfe7f2b0", "edgecolor": "#4C72B0"},
                    whiskerprops={"color": "#4C72B0"}, capprops={"color": "#4C72B0"},
                )  # fmt: skip
            if strip:
                sx = np.array([s[0] for s in strip], dtype=float)
                sx += rng.uniform(-0.18, 0.18, len(sx))
                sy = np.array([s[1] for s in strip]) / div
                sf = np.array([s[2] for s in strip])
                few = len(strip) <= 300
                ax.scatter(sx[~sf], sy[~sf], s=12 if few else 5, color=_REST_COLOR,
                           alpha=0.7 if few else 0.35, lw=0, zorder=3, rasterized=True)  # fmt: skip
                ax.scatter(sx[sf], sy[sf], s=14 if few else 10, color=_FRONT_COLOR, alpha=0.9,
                           lw=0, zorder=4)  # fmt: skip
            ax.set_xticks(range(len(labels)))
            ax.set_xticklabels(
                [f"{lab}\nn={len(g)}" for lab, g in zip(labels, groups, strict=True)],
                fontsize=7, rotation=30 if len(labels) > 5 else 0,
            )  # fmt: skip
            ax.set_xlim(-0.6, max(len(labels), 1) - 0.4)
            ax.tick_params(axis="y", labelsize=7)
            ax.grid(axis="y", color="#e5e5e5", lw=0.6)
            ax.spines["top"].set_visible(False)
            ax.spines["right"].set_visible(False)
            if row == 0:
                ax.set_title(obj.label, fontsize=10)
            ax.set_xlabel(p, fontsize=8)
            ax.yaxis.label.set_size(7)
    handles = [
        Line2D([], [], ls="", marker="o", ms=4, color=_REST_COLOR, label="design point"),
        Line2D([], [], ls="", marker="o", ms=4, color=_FRONT_COLOR, label="on the Pareto front"),
        Line2D([], [], color="black", lw=1.6, label="median (box: quartiles)"),
    ]
    fig.legend(handles=handles, loc="upper right", fontsize=8, ncol=3, frameon=False)
    fig.suptitle(f"{title} ({len(ok)} ok points)", fontsize=11, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.97 if len(params) > 2 else 0.93))
    return save_figure_atomic(fig, path)


# -- front vs rest ------------------------------------------------------------------------


@dataclass(frozen=True)
class Separation:
    """How one parameter's values differ between the front and the other ``ok`` points.

    Attributes
    ----------
    param
        Parameter name.
    front, rest
        Value -> share of points (0..1) on / off the front that have it (points
        without the parameter left out); values in :func:`_value_key` order.
    n_front, n_rest
        Points with the parameter on / off the front.
    distance
        Total variation distance between the two distributions (0: same, 1: disjoint).
    sentence
        One data-driven sentence (Markdown, no trailing period needed).
    """

    param: str
    front: Mapping[Any, float]
    rest: Mapping[Any, float]
    n_front: int
    n_rest: int
    distance: float
    sentence: str


def _shares(values: Sequence[Any]) -> dict[Any, float]:
    c = Counter(values)
    n = len(values)
    return {v: c[v] / n for v in sorted(c, key=_value_key)} if n else {}


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def separation(param: str, front_values: Sequence[Any], rest_values: Sequence[Any]) -> Separation:
    """Compare a parameter's values on the front with those off it.

    The sentence names the most telling fact the data support, in this order:

    * one value on the whole front: "all front points have ``p`` = v (rest: 41 % do)";
    * numeric: a one-sided threshold that every front point meets and the fewest other
      points do, "all front points have ``p`` >= 2 (rest: 41 % do)";
    * a strict subset of the values: "all front points have ``p`` in {a, b} (rest: ...)";
    * else the value most over-represented on the front, "``p`` = a on 70 % of front
      points (rest: 20 %)", or that the parameter does not separate them.

    Missing values (``None``) are left out.
    """
    fv = [v for v in front_values if v is not None]
    rv = [v for v in rest_values if v is not None]
    fs, rs = _shares(fv), _shares(rv)
    dist = 0.5 * sum(abs(fs.get(v, 0.0) - rs.get(v, 0.0)) for v in {*fs, *rs}) if fv and rv else 0.0
    name = f"`{param}`"

    def make(sentence: str) -> Separation:
        return Separation(param, fs, rs, len(fv), len(rv), dist, sentence)

    if not fv:
        return make(f"no front point has {name}")
    if not rv:
        return make(f"every ok point with {name} is on the front")
    distinct = list(fs)
    if len(distinct) == 1:
        v = distinct[0]
        return make(
            f"all front points have {name} = {_fmt_value(v)} (rest: {_pct(rs.get(v, 0.0))} do)"
        )
    numeric = all(_is_number(v) for v in fv + rv)
    cands: list[tuple[float, str]] = []
    if numeric:
        lo, hi = min(fv), max(fv)
        share_ge = sum(1 for v in rv if v >= lo) / len(rv)
        share_le = sum(1 for v in rv if v <= hi) / len(rv)
        cands.append((share_ge, f"{name} >= {_fmt_value(lo)}"))
        cands.append((share_le, f"{name} <= {_fmt_value(hi)}"))
        if share_ge < 1 and share_le < 1:
            inside = sum(1 for v in rv if lo <= v <= hi) / len(rv)
            cands.append((inside, f"{_fmt_value(lo)} <= {name} <= {_fmt_value(hi)}"))
    if set(rs) - set(fs):
        shown = ", ".join(_fmt_value(v) for v in distinct)
        cands.append((sum(rs.get(v, 0.0) for v in distinct), f"{name} in {{{shown}}}"))
    cands = [c for c in cands if c[0] < 1.0 - 1e-12]
    if cands:
        share, cond = min(cands, key=lambda c: c[0])
        return make(f"all front points have {cond} (rest: {_pct(share)} do)")
    v = max(distinct, key=lambda u: (fs[u] - rs.get(u, 0.0), -_value_key(u)[1]))
    if fs[v] - rs.get(v, 0.0) < 0.1:
        if numeric:
            fm, rm = statistics.median(fv), statistics.median(rv)
            return make(
                f"{name} does not separate the front from the rest "
                f"(median {_fmt_value(fm)} on the front, {_fmt_value(rm)} off it)"
            )
        return make(f"{name} does not separate the front from the rest")
    return make(
        f"{name} = {_fmt_value(v)} on {_pct(fs[v])} of front points (rest: {_pct(rs.get(v, 0.0))})"
    )


def _dist_text(shares: Mapping[Any, float], n: int) -> str:
    """``"1: 20 %, 2: 80 % (n=5)"``; numeric with many values: min / median / max."""
    if not shares:
        return "—"
    if len(shares) > _MAX_LEVELS and all(_is_number(v) for v in shares):
        vals = list(shares)
        return f"{_fmt_value(vals[0])} … {_fmt_value(vals[-1])}, {len(vals)} values (n={n})"
    return ", ".join(f"{_fmt_value(v)}: {_pct(s)}" for v, s in shares.items()) + f" (n={n})"


# -- report -------------------------------------------------------------------------------


def _fmt_s(v: Any) -> str:
    s = finite_or_none(v)
    if s is None:
        return "—"
    if s < 60:
        return f"{s:.2f} s"
    m, r = divmod(round(s), 60)
    return (f"{m} min {r:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min") + f" ({s:,.1f} s)"


def _choices_text(spec: Any) -> str:
    if isinstance(spec, Mapping):
        lo, hi = spec.get("low"), spec.get("high")
        extra = {k: v for k, v in spec.items() if k not in ("low", "high")}
        text = f"{_fmt_value(lo)} … {_fmt_value(hi)}"
        if extra:
            text += " (" + ", ".join(f"{k} {_fmt_value(v)}" for k, v in extra.items()) + ")"
        return text
    if isinstance(spec, (list, tuple)):
        return "{" + ", ".join(_fmt_value(v) for v in spec) + "}"
    return _fmt_value(spec)


def _one_line(text: Any, limit: int = 200) -> str:
    """``text`` on one line (whitespace runs collapsed), cut to ``limit`` characters."""
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _constraint_text(c: Any) -> str:
    """``area_mm2 <= 10`` or ``{memory_fits: true}`` as inline code."""
    if isinstance(c, Mapping):
        c = ", ".join(f"{k}: {json.dumps(v, default=str)}" for k, v in c.items())
    return f"`{str(c).replace('`', '')}`"


def _design_link(rec: Mapping[str, Any], designs: Mapping[str, str]) -> str:
    pid = str(rec.get("id"))
    rel = designs.get(pid)
    return f"[{_md_escape(pid)}]({rel})" if rel else _md_escape(pid)


def _param_cell(rec: Mapping[str, Any], p: str) -> str:
    v = _pval(rec, p)
    return "—" if v is None else _md_escape(_one_line(_fmt_value(v)))


def _reason(r: Mapping[str, Any]) -> str:
    return str(r.get("reason") or "no reason given")


def _reason_kind(reason: str) -> str:
    """A reason with its standalone numbers replaced by ``#``, so that reasons which
    differ only in values (areas, sizes) group together."""
    return _NUMBER.sub("#", reason)


_NUMBER = re.compile(r"(?<![A-Za-z_\d.])\d[\d,]*(?:\.\d+)?(?:[eE][+-]?\d+)?")


def report_markdown(
    summary: Mapping[str, Any],
    records: Sequence[Mapping[str, Any]],
    front: Sequence[int],
    *,
    designs: Mapping[str, str] | None = None,
    images: Mapping[str, str] | None = None,
    notes: Sequence[str] = (),
) -> str:
    """The DSE report as Markdown (the subset :func:`markdown_to_html` renders, plus
    links to design files).

    Parameters
    ----------
    summary, records
        As for :func:`write_dse_outputs`; ``records`` in sampling order.
    front
        Positions of the front in ``records``.
    designs
        Point id -> design file path relative to the report (``designs/<id>.yaml``).
    images
        Caption -> image path relative to the report.
    notes
        Extra lines for the "Notes" section (e.g. designs that could not be written).
    """
    designs = designs or {}
    images = dict(images or {})
    objectives = [str(k) for k in (summary.get("objectives") or [])]
    params = _param_names(summary, records)
    space_file = str(summary.get("space_file") or "?")
    counts = _status_counts(records)
    n_ok = counts.get(_OK, 0)
    lines = [f"# Hardware design-space exploration — {_md_escape(Path(space_file).name)}", ""]

    workloads = summary.get("workloads") or []
    wl = ", ".join(
        f"{_md_escape(w.get('name'))} (weight {_fmt_value(w.get('weight', 1))})"
        for w in workloads
        if isinstance(w, Mapping)
    )
    pps = finite_or_none(summary.get("points_per_second"))
    settings = [
        ("space file", f"`{space_file}`"),
        ("sampler", _md_escape(summary.get("sampler", "—"))),
        ("seed", _md_escape(summary.get("seed", "—"))),
        ("budget", f"{summary.get('budget', '—')} points"),
        ("inner mode", _md_escape(summary.get("inner_mode", "—"))),
        ("objectives", ", ".join(f"{_objective(k).label} (`{k}`)" for k in objectives) or "—"),
        (
            "constraints",
            ", ".join(_constraint_text(c) for c in summary.get("constraints") or []) or "none",
        ),
        ("workloads", wl or "—"),
        ("points evaluated", f"{len(records):,}"),
        ("wall time", _fmt_s(summary.get("seconds"))),
        ("points/s", "—" if pps is None else f"{pps:,.2f}"),
    ]
    lines += _md_table(["setting", "value"], settings, "ll") + [""]

    lines += ["## Design space", ""]
    space = summary.get("space") or {}
    rows = []
    for p in params:
        seen = {_pval(r, p) for r in records} - {None}
        spec = space.get(p)
        choices = _choices_text(spec) if spec is not None else "(not in the space file)"
        rows.append([f"`{p}`", _md_escape(choices), str(len(seen))])
    if rows:
        lines += _md_table(["parameter", "choices", "distinct values sampled"], rows, "llr")
    else:
        lines.append("The space has no parameters.")
    lines.append("")

    lines += ["## Points", ""]
    by_count = sorted(counts.items(), key=lambda kv: (kv[0] != _OK, -kv[1], kv[0]))
    status_rows = [[_md_escape(s), f"{n:,}", _pct(n / len(records))] for s, n in by_count]
    for s in summary.get("counts") or {}:
        if s not in counts:
            status_rows.append([_md_escape(s), "0", "0 %"])
    if status_rows:
        lines += _md_table(["status", "points", "share"], status_rows, "lrr") + [""]
    else:
        lines += ["No point was evaluated.", ""]
    given = {str(k): v for k, v in (summary.get("counts") or {}).items()}
    if given and any(int(given.get(s, 0) or 0) != counts.get(s, 0) for s in {*given, *counts}):
        lines += [
            "The summary's status counts ("
            + ", ".join(f"{k} {v}" for k, v in sorted(given.items()))
            + ") differ from the records passed to the report; the tables use the records.",
            "",
        ]
    failed = [r for r in records if not _is_ok(r)]
    reasons = Counter((str(r.get("status")), _reason_kind(_reason(r))) for r in failed)
    if reasons:
        lines += [
            "Failure reasons (alike reasons with other numbers grouped), most frequent first:",
            "",
        ]
        top = reasons.most_common(_MAX_REASONS)
        rows = []
        for (status, kind), n in top:
            alike = [
                r
                for r in failed
                if str(r.get("status")) == status and _reason_kind(_reason(r)) == kind
            ]
            ids = [str(r.get("id")) for r in alike]
            shown = _one_line(_reason(alike[0]))
            if len({_reason(r) for r in alike}) > 1:
                shown += " (and alike)"
            example = ", ".join(ids[:3]) + (" …" if len(ids) > 3 else "")
            rows.append([_md_escape(status), _md_escape(shown), f"{n:,}", _md_escape(example)])
        lines += _md_table(["status", "reason", "points", "e.g."], rows, "llrl")
        if len(reasons) > _MAX_REASONS:
            rest = sum(n for _, n in reasons.most_common()[_MAX_REASONS:])
            lines += ["", f"… and {len(reasons) - _MAX_REASONS} other reasons ({rest} points)."]
        lines.append("")

    lines += ["## Pareto front", ""]
    obj_text = ", ".join(_objective(k).label for k in objectives) or "no objective"
    if not n_ok:
        lines += [
            f"**No design point succeeded** (0 ok of {len(records)}), so there is no "
            "Pareto front, no best design and no comparison of the front with the rest.",
            "",
        ]
    elif not front:
        lines += [
            f"No ok point has finite values of every objective ({obj_text}); no front.",
            "",
        ]
    else:
        lines += [
            f"**{len(front)} design{'s' if len(front) != 1 else ''}** of {n_ok:,} ok points "
            f"{'are' if len(front) != 1 else 'is'} non-dominated over {obj_text} "
            "(all minimized). Each links to its accelerator file, which `monet-opt solve` "
            "loads.",
            "",
        ]
        first = objectives[0] if objectives else None
        order = sorted(front, key=lambda i: _obj(records[i], first) if first else 0.0)
        header = ["design", *list(params), *[_objective(k).label for k in objectives]]
        rows = []
        for i in order[:_MAX_FRONT_ROWS]:
            r = records[i]
            rows.append(
                [_design_link(r, designs), *[_param_cell(r, p) for p in params],
                 *[_objective(k).fmt(_obj(r, k)) for k in objectives]]
            )  # fmt: skip
        lines += _md_table(header, rows, "l" + "r" * (len(params) + len(objectives)))
        if len(order) > _MAX_FRONT_ROWS:
            lines += ["", f"The first {_MAX_FRONT_ROWS} of {len(order)}; all in `pareto.csv`."]
        lines.append("")
    if "pareto" in images and n_ok:
        lines += [f"![Pareto front]({images['pareto']})", "", "*" + _md_escape(
            "The ok points, latency against energy when both are known, coloured by area; "
            "outlined markers: the Pareto front; red line: the front in the plotted plane."
        ) + "*", ""]  # fmt: skip

    best = best_per_objective(records, objectives)
    if best:
        lines += ["## Best design per objective", ""]
        header = ["objective", "best", "design", *list(params)]
        header += [f"its {_objective(o).label}" for o in objectives]
        rows = []
        for k, i in best.items():
            r = records[i]
            rows.append(
                [_objective(k).label, _objective(k).fmt(_obj(r, k)), _design_link(r, designs),
                 *[_param_cell(r, p) for p in params],
                 *[_objective(o).fmt(_obj(r, o)) for o in objectives]]
            )  # fmt: skip
        lines += _md_table(header, rows, "lrl" + "r" * (len(params) + len(objectives))) + [""]

    hv = summary.get("hypervolume") or {}
    ref = summary.get("reference_point")
    if hv:
        lines += ["## Hypervolume per sampler", ""]
        rows = [[_md_escape(s), f"{finite_or_none(v):.6g}" if finite_or_none(v) is not None
                 else "—"] for s, v in hv.items()]  # fmt: skip
        lines += _md_table(["sampler", "hypervolume"], rows, "lr") + [""]
        if ref:
            lines += [_ref_text(ref, objectives), ""]
    elif (
        ref
        and n_ok
        and len(ref) == len(objectives) > 0
        and all(finite_or_none(v) is not None for v in ref)
    ):
        lines += ["## Hypervolume per sampler", ""]
        rows = []
        for s in dict.fromkeys(str(r.get("sampler")) for r in records):
            pts = [[_obj(r, k) for k in objectives] for r in records
                   if _is_ok(r) and str(r.get("sampler")) == s]  # fmt: skip
            vol = hypervolume([p for p in pts if None not in p], [float(v) for v in ref])
            rows.append([_md_escape(s), f"{vol:.6g}", str(len(pts))])
        lines += _md_table(["sampler", "hypervolume", "ok points"], rows, "lrr") + [""]
        lines += [_ref_text(ref, objectives) + " Computed from the records.", ""]

    if n_ok:
        lines += _separation_lines(records, front, params)
    if "effects" in images and n_ok:
        lines += ["## Parameter effects", "", f"![Parameter effects]({images['effects']})", "",
                  "*" + _md_escape("Each objective per parameter value over the ok points: "
                  "box = quartiles, black line = median, red dots = front points.") + "*",
                  ""]  # fmt: skip
    if notes:
        lines += ["## Notes", ""]
        for n in notes:
            lines += [n, ""]
    return "\n".join(lines).rstrip() + "\n"


def _separation_lines(
    records: Sequence[Mapping[str, Any]], front: Sequence[int], params: Sequence[str]
) -> list[str]:
    """The section "What separates the front from the rest" (Markdown lines)."""
    lines = ["## What separates the front from the rest", ""]
    on = set(front)
    rest = [i for i, r in enumerate(records) if _is_ok(r) and i not in on]
    if not front:
        lines += ["There is no front to compare.", ""]
    elif not rest:
        lines += ["Every ok point is on the front; there is nothing to compare it with.", ""]
    elif not params:
        lines += ["The space has no parameters.", ""]
    else:
        seps = [
            separation(p, [_pval(records[i], p) for i in front],
                       [_pval(records[i], p) for i in rest])
            for p in params
        ]  # fmt: skip
        seps.sort(key=lambda s: -s.distance)
        lines += [
            f"The {len(front)} front points against the other {len(rest):,} ok points, "
            "parameters in order of how much their distributions differ (total variation "
            "distance: 0 = same distribution, 1 = no value in common).",
            "",
        ]
        rows = [
            [f"`{s.param}`", _md_escape(_dist_text(s.front, s.n_front)),
             _md_escape(_dist_text(s.rest, s.n_rest)), f"{s.distance:.2f}"]
            for s in seps
        ]  # fmt: skip
        lines += _md_table(["parameter", "on the front", "off the front", "distance"], rows,
                           "lllr") + [""]  # fmt: skip
        for s in seps:
            lines += [s.sentence[0].upper() + s.sentence[1:] + ".", ""]
    return lines


def _ref_text(ref: Sequence[Any], objectives: Sequence[str]) -> str:
    parts = [
        f"{_objective(k).label} {_objective(k).fmt(v)}"
        for k, v in zip(objectives, ref, strict=False)
    ]
    return "Reference point: " + (", ".join(parts) if parts else str(list(ref))) + "."


_LINK_RE = re.compile(r"\[([A-Za-z0-9_.\-\\]+)\]\((designs/[A-Za-z0-9_.\-]+\.yaml)\)")


def _html(markdown: str, folder: Path, title: str) -> str:
    """Self-contained HTML of the report: images embedded, design links clickable."""

    def embed(src: str) -> str | None:
        p = folder / src
        if not p.is_file():
            return None
        return "data:image/png;base64," + base64.b64encode(p.read_bytes()).decode("ascii")

    page = markdown_to_html(markdown, embed, title=title)
    return _LINK_RE.sub(lambda m: f'<a href="{m.group(2)}">{m.group(1)}</a>', page)


# -- designs ------------------------------------------------------------------------------


def _write_designs(
    folder: Path,
    records: Sequence[Mapping[str, Any]],
    front: Sequence[int],
    summary: Mapping[str, Any],
) -> tuple[dict[str, str], list[Path], list[str]]:
    """Write ``designs/<id>.yaml`` for each front point with an accelerator.

    Returns ``(id -> relative path, files written, notes)``; an accelerator dict that
    does not validate is noted, not raised.
    """
    ddir = folder / "designs"
    ddir.mkdir(parents=True, exist_ok=True)
    links: dict[str, str] = {}
    written: list[Path] = []
    notes: list[str] = []
    space_file = str(summary.get("space_file") or "design space")
    for i in front:
        r = records[i]
        acc_dict = r.get("accelerator")
        pid = str(r.get("id"))
        if not isinstance(acc_dict, Mapping):
            notes.append(f"Front point {_md_escape(pid)} has no accelerator; no design file.")
            continue
        doc = dict(acc_dict)
        extra = dict(doc.get("extra") or {})
        extra["dse"] = {
            "id": pid,
            "space_file": space_file,
            "params": dict(_params(r)),
            "objectives": {k: finite_or_none(v) for k, v in (r.get("objectives") or {}).items()},
        }
        doc["extra"] = extra
        name = f"{_safe_id(pid)}.yaml"
        try:
            acc = accelerator_from_dict(doc, source=f"{space_file}, point {pid}")
        except Exception as exc:  # noqa: BLE001 - a bad design must not stop the report
            notes.append(
                f"Front point {_md_escape(pid)}: its accelerator does not validate, no design "
                f"file ({_md_escape(_one_line(exc))})."
            )
            continue
        written.append(dump_accelerator(acc, ddir / name))
        links[pid] = f"designs/{name}"
    return links, written, notes


# -- writing the set ----------------------------------------------------------------------

_STAGING_PREFIX = ".dse-outputs-"


def _commit(staged: Path, out_dir: Path, names: Sequence[str]) -> None:
    """Move the staged files and ``designs/`` into ``out_dir``.

    ``designs/`` is swapped whole (``renameat2(RENAME_EXCHANGE)`` where Linux offers it),
    then the files are replaced one by one with ``os.replace``, the reports last, so a
    report never names a design file that is not there.
    """
    new_designs, dest = staged / "designs", out_dir / "designs"
    if dest.is_dir() and not dest.is_symlink():
        if not _exchange(new_designs, dest):
            old = staged / "designs.old"
            os.replace(dest, old)
            os.replace(new_designs, dest)
    else:
        if dest.exists() or dest.is_symlink():
            dest.unlink()
        os.replace(new_designs, dest)
    for n in names:
        os.replace(staged / n, out_dir / n)


def write_dse_outputs(
    out_dir: Path, summary: Mapping[str, Any], records: Sequence[Mapping[str, Any]]
) -> dict[str, Path]:
    """Write the DSE result files into ``out_dir``.

    Parameters
    ----------
    out_dir
        Output folder (created if needed).  Other files in it (``dse.sqlite``) are left
        alone; ``designs/`` is replaced whole.
    summary
        ``space_file`` (str), ``space`` (parameter -> list of choices or
        ``{"low", "high"}``), ``objectives`` (objective keys, in order; the front is taken
        over these), ``constraints`` (list of str), ``budget`` (int), ``sampler`` (str),
        ``seed`` (int), ``inner_mode`` (str), ``workloads`` (list of ``{"name",
        "weight"}``), ``seconds`` (wall time, s), ``points_per_second``, ``counts``
        (status -> int), optional ``hypervolume`` (sampler -> float) and
        ``reference_point`` (list, one value per objective, raw units).  Missing keys
        are shown as ``—``.
    records
        One mapping per evaluated point: ``id`` (str), ``sampler``, ``index`` (sampling
        order), ``params`` (name -> int, float or str), ``status`` (``"ok"``,
        ``"failed"`` or ``"infeasible"``), ``reason`` (str or None), ``objectives``
        (key -> float in raw units, see the module docstring), ``metrics`` (name ->
        value, nested mappings allowed), ``accelerator`` (the dict of
        :func:`monet_opt.hardware.yaml_io.accelerator_to_dict`, or None).  Any order;
        the files list them in sampling order (``index``, then ``id``).

    Returns
    -------
    dict[str, Path]
        Output name -> path in ``out_dir``: every name of :data:`OUTPUT_NAMES`,
        ``"designs"`` (the folder) and ``"designs/<id>.yaml"`` per design written.

    Notes
    -----
    All files are rendered into a staging folder ``out_dir/.dse-outputs-*`` (removed on
    error, and by the next call if a kill left it), then moved into place: an error
    while rendering leaves the previous set untouched.  For a strict all-or-nothing
    swap of the whole folder, call this on the staging path of a
    :class:`monet_opt.atomic.OutputFolder`.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob(f"{_STAGING_PREFIX}*"):  # left by a killed run
        shutil.rmtree(old, ignore_errors=True)
    recs = _sorted_records(records)
    objectives = [str(k) for k in (summary.get("objectives") or [])]
    front = front_indices(recs, objectives)
    staged = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=out_dir))
    try:
        columns = dse_columns(summary, recs)
        all_rows = dse_rows(summary, recs, front)
        _write_csv(staged / "dse.csv", all_rows, columns)
        first = objectives[0] if objectives else None
        order = sorted(front, key=lambda i: _obj(recs[i], first) if first else 0.0)
        links, design_files, notes = _write_designs(staged, recs, order, summary)
        pcols = [c for c in columns if c != "on_front"] + ["design"]
        prow = []
        for i in order:
            row = dict(all_rows[i])
            row["design"] = links.get(str(recs[i].get("id")))
            prow.append(row)
        _write_csv(staged / "pareto.csv", prow, pcols)
        name = Path(str(summary.get("space_file") or "design space")).name
        plot_dse_pareto(recs, objectives, front, staged / "pareto.png", title=name)
        effect_objs = objectives or _objective_names(summary, recs)
        plot_parameter_effects(
            recs, _param_names(summary, recs), effect_objs, staged / "parameter_effects.png",
            front=front, title=f"{name}: parameter effects",
        )  # fmt: skip
        notes += _data_notes(recs, objectives)
        md = report_markdown(
            summary, recs, front, designs=links,
            images={"pareto": "pareto.png", "effects": "parameter_effects.png"}, notes=notes,
        )  # fmt: skip
        write_text_atomic(staged / "report.md", md)
        write_text_atomic(staged / "report.html", _html(md, staged, f"Hardware DSE — {name}"))
        _commit(staged, out_dir, OUTPUT_NAMES)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    out = {n: out_dir / n for n in OUTPUT_NAMES}
    out["designs"] = out_dir / "designs"
    for p in design_files:
        out[f"designs/{p.name}"] = out_dir / "designs" / p.name
    return out


def _data_notes(records: Sequence[Mapping[str, Any]], objectives: Sequence[str]) -> list[str]:
    """Sentences about data the report leaves out: ok points with missing or
    non-finite objectives, points without some parameter."""
    notes = []
    bad = [
        str(r.get("id"))
        for r in records
        if _is_ok(r) and any(_obj(r, k) is None for k in objectives)
    ]
    if bad:
        ex = ", ".join(bad[:5]) + (" …" if len(bad) > 5 else "")
        notes.append(
            f"{len(bad)} ok point{'s' if len(bad) != 1 else ''} lack a finite value of some "
            f"objective and are not on the front ({_md_escape(ex)})."
        )
    for p in _param_names({}, records):
        missing = [str(r.get("id")) for r in records if _pval(r, p) is None]
        if missing:
            ex = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
            notes.append(
                f"{len(missing)} point{'s have' if len(missing) != 1 else ' has'} no value of "
                f"`{p}` ({_md_escape(ex)}); they are left out of its comparisons and plots."
            )
    return notes
