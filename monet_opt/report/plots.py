"""Schedule (Gantt) and memory-occupancy plots (matplotlib, Agg backend, saved atomically)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import EngFormatter  # noqa: E402

from monet_opt.atomic import atomic_path  # noqa: E402
from monet_opt.report.summary import fmt_energy  # noqa: E402
from monet_opt.schedule.types import Schedule  # noqa: E402
from monet_opt.units import MIB_BITS  # noqa: E402

__all__ = [
    "PHASE_COLORS",
    "plot_schedule",
    "plot_memory",
    "plot_footprint",
    "save_figure_atomic",
    "node_phases",
]

#: Bar colours per training phase.
PHASE_COLORS: dict[str, str] = {
    "forward": "#4C72B0",
    "backward": "#DD8452",
    "optimizer": "#55A868",
    "recompute": "#DA8BC3",
    "other": "#8C8C8C",
}
_DRAM_READ = "#8172B3"
_DRAM_WRITE = "#C44E52"
_LINK = "#937860"


def save_figure_atomic(fig: Any, path: str | Path, *, dpi: int = 150) -> Path:
    """Save a figure as PNG via a temp file in the same directory + ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def node_phases(schedule: Schedule, problem: Any = None) -> list[str]:
    """Training phase per node: ``forward``/``backward``/``optimizer``, ``recompute``
    (copies made by checkpointing, ``name@recompute[...]``) or ``other``."""
    graph = getattr(problem, "graph", None)
    index = getattr(graph, "op_index", {}) if graph is not None else {}
    out = []
    for name in schedule.node_names:
        phase = "other"
        if "@recompute[" in name:
            phase = "recompute"
        elif name in index:
            phase = str(graph.ops[index[name]].phase.value)
        else:  # fused / renamed nodes: guess from the name
            low = name.lower()
            for p in ("optimizer", "backward", "forward"):
                if p in low:
                    phase = p
                    break
        out.append(phase if phase in PHASE_COLORS else "other")
    return out


def _core_label(problem: Any, cid: int) -> str:
    try:
        return f"core {cid}: {problem.accelerator.core(cid).name}"
    except (AttributeError, KeyError):
        return f"core {cid}"


def _spans(starts: np.ndarray, ends: np.ndarray) -> list[tuple[float, float]]:
    return [(float(s), float(e - s)) for s, e in zip(starts, ends, strict=True) if e > s]


def plot_schedule(
    schedule: Schedule,
    path: str | Path,
    problem: Any = None,
    *,
    title: str | None = None,
) -> Path:
    """Gantt chart: one row per core, then the DRAM port and every busy link.

    Compute intervals are coloured by training phase; each node's input-fetch phase
    (``start`` to ``fetch_end``) is drawn in a lighter shade of the same colour.  DRAM
    transfers are split into loads (DRAM -> chip) and stores (chip -> DRAM).
    """
    phases = node_phases(schedule, problem)
    core_ids: list[int] = list(getattr(problem, "core_ids", ()) or [])
    for c in np.unique(schedule.core).tolist():
        if int(c) not in core_ids:
            core_ids.append(int(c))
    offchip = getattr(getattr(problem, "accelerator", None), "offchip_core_id", None)

    channels = sorted({t.channel for t in schedule.transfers if t.channel != "dram"})
    has_dram = any(t.channel == "dram" for t in schedule.transfers)
    rows = [_core_label(problem, c) for c in core_ids]
    if has_dram:
        rows.append("DRAM port")
    rows += channels
    n_rows = max(1, len(rows))

    fig_h = 1.4 + 0.42 * n_rows
    fig, ax = plt.subplots(figsize=(13, fig_h))
    height = 0.72
    ypos = {label: n_rows - 1 - k for k, label in enumerate(rows)}

    phase_arr = np.array(phases, dtype=object)
    used_phases: list[str] = []
    any_fetch = False
    for cid in core_ids:
        y = ypos[_core_label(problem, cid)]
        on_core = schedule.core == cid
        for ph, color in PHASE_COLORS.items():
            mask = on_core & (phase_arr == ph)
            if not mask.any():
                continue
            if ph not in used_phases:
                used_phases.append(ph)
            fetch = _spans(schedule.start[mask], schedule.fetch_end[mask])
            if fetch:
                any_fetch = True
                ax.broken_barh(
                    fetch, (y - height / 2, height), facecolors=color, alpha=0.3, linewidth=0
                )
            ax.broken_barh(
                _spans(schedule.fetch_end[mask], schedule.end[mask]),
                (y - height / 2, height),
                facecolors=color,
                edgecolors=color,
                linewidth=0.6,
            )
        ax.axhspan(y - 0.5, y + 0.5, color="#000000", alpha=0.025 if y % 2 else 0.0, lw=0)

    transfer_legend: dict[str, str] = {}
    if has_dram:
        y = ypos["DRAM port"]
        groups: dict[str, list[tuple[float, float]]] = {}
        for t in schedule.transfers:
            if t.channel != "dram" or t.end <= t.start:
                continue
            if offchip is not None and t.src == offchip:
                kind = "DRAM load"
            elif offchip is not None and t.dst == offchip:
                kind = "DRAM store"
            else:
                kind = "DRAM transfer"
            groups.setdefault(kind, []).append((t.start, t.end - t.start))
        colors = {"DRAM load": _DRAM_READ, "DRAM store": _DRAM_WRITE, "DRAM transfer": _DRAM_READ}
        for kind, spans in groups.items():
            transfer_legend[kind] = colors[kind]
            c = colors[kind]
            ax.broken_barh(spans, (y - height / 2, height), facecolors=c, edgecolors=c, lw=0.4)
    for ch in channels:
        y = ypos[ch]
        spans = [
            (t.start, t.end - t.start)
            for t in schedule.transfers
            if t.channel == ch and t.end > t.start
        ]
        if spans:
            transfer_legend["core-to-core transfer"] = _LINK
            ax.broken_barh(
                spans, (y - height / 2, height), facecolors=_LINK, edgecolors=_LINK, lw=0.6
            )

    lat = float(schedule.latency)
    ax.set_yticks([ypos[r] for r in rows], rows)
    ax.set_ylim(-0.6, n_rows - 0.4)
    ax.set_xlim(0, lat * 1.01 if lat > 0 else 1)
    ax.xaxis.set_major_formatter(EngFormatter(places=1, sep=""))
    ax.set_xlabel("time [cycles]")
    ax.axvline(lat, color="black", lw=0.8, ls=":")
    ax.grid(axis="x", color="#dddddd", lw=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)

    handles = [Patch(facecolor=PHASE_COLORS[p], label=p) for p in used_phases]
    if any_fetch:
        handles.append(Patch(facecolor="#999999", alpha=0.3, label="input fetch (lighter)"))
    handles += [Patch(facecolor=c, label=k) for k, c in transfer_legend.items()]
    if handles:
        ax.legend(
            handles=handles,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.5 / fig_h - 0.08),
            ncol=min(len(handles), 7),
            frameon=False,
            fontsize=9,
        )
    if title is None:
        title = _default_title(schedule, problem)
    ax.set_title(title, fontsize=11, loc="left")
    return save_figure_atomic(fig, path)


def _default_title(schedule: Schedule, problem: Any) -> str:
    graph = getattr(problem, "graph", None)
    acc = getattr(problem, "accelerator", None)
    parts = [p for p in (getattr(graph, "name", None), getattr(acc, "name", None)) if p]
    head = " on ".join(parts) if parts else "schedule"
    energy = fmt_energy(schedule.energy.total)
    return f"{head} — latency {schedule.latency:,.0f} cycles, energy {energy}"


_UNITS = (("B", 1.0), ("KiB", 1024.0), ("MiB", 1024.0**2), ("GiB", 1024.0**3))


def _unit_for(max_bytes: float) -> tuple[str, float]:
    unit = _UNITS[0]
    for u in _UNITS:
        if max_bytes >= u[1]:
            unit = u
    return unit


def _fmt_bytes(b: float) -> str:
    name, scale = _unit_for(b)
    return f"{b / scale:,.1f} {name}"


def plot_memory(
    schedule: Schedule,
    path: str | Path,
    *,
    title: str | None = None,
    memories: Sequence[str] | None = None,
) -> Path:
    """Occupancy over time, one subplot per memory with nonzero use.

    The capacity is drawn as a dashed line when it is within 4x of the peak (otherwise
    it is given in the subplot title, so that small occupancies stay readable).
    """
    labels = [
        k
        for k, tr in schedule.memory.items()
        if tr.peak_bits > 0 and (memories is None or k in memories)
    ]
    lat = float(schedule.latency)
    n = max(1, len(labels))
    fig, axes = plt.subplots(n, 1, figsize=(12, 0.6 + 1.9 * n), sharex=True, squeeze=False)
    axes = axes[:, 0]
    if not labels:
        axes[0].text(0.5, 0.5, "no memory occupancy recorded", ha="center", va="center")
        axes[0].set_axis_off()
    for ax, label in zip(axes, labels, strict=False):
        tr = schedule.memory[label]
        t = np.asarray(tr.times, dtype=float)
        b = np.asarray(tr.bits, dtype=float) / 8
        if len(t) == len(b):
            t = np.append(t, max(lat, t[-1] if len(t) else 0.0))
            b = np.append(b, b[-1] if len(b) else 0.0)
        else:
            b = np.append(b, b[-1] if len(b) else 0.0)
        cap = float(tr.capacity_bits) / 8
        peak = float(tr.peak_bits) / 8
        show_cap = math.isfinite(cap) and 0 < cap <= 4 * peak
        unit, scale = _unit_for(max(peak, cap if show_cap else 0.0))
        ax.fill_between(t, b / scale, step="post", alpha=0.25, color="#4C72B0", lw=0)
        ax.step(t, b / scale, where="post", color="#4C72B0", lw=1.0, label="occupancy")
        ax.axhline(peak / scale, color="#4C72B0", lw=0.6, ls=":", alpha=0.8)
        if show_cap:
            ax.axhline(cap / scale, color="#C44E52", lw=1.2, ls="--", label="capacity")
            if peak > cap:
                ax.text(
                    0.995, 0.95, "OVER CAPACITY", transform=ax.transAxes, ha="right",
                    va="top", color="#C44E52", fontsize=9, fontweight="bold",
                )  # fmt: skip
        ymax = max(peak, cap if show_cap else 0.0) / scale
        ax.set_ylim(0, ymax * 1.12 if ymax > 0 else 1)
        ax.set_ylabel(unit)
        cap_txt = (
            f"capacity {_fmt_bytes(cap)}"
            + ("" if show_cap else " (off scale)")
            + (f", peak {100 * peak / cap:.0f} %" if cap > 0 and math.isfinite(cap) else "")
            if math.isfinite(cap) and cap > 0
            else "no capacity limit"
        )
        ax.set_title(f"{label} — peak {_fmt_bytes(peak)}; {cap_txt}", fontsize=9, loc="left")
        ax.grid(color="#e5e5e5", lw=0.6)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    if labels:
        fig.legend(
            handles=[
                Patch(facecolor="#4C72B0", alpha=0.5, label="occupancy"),
                Line2D([], [], color="#4C72B0", lw=0.6, ls=":", label="peak"),
                Line2D([], [], color="#C44E52", lw=1.2, ls="--", label="capacity"),
            ],
            loc="upper right",
            ncol=3,
            frameon=False,
            fontsize=9,
        )
    axes[-1].set_xlim(0, lat * 1.01 if lat > 0 else 1)
    axes[-1].xaxis.set_major_formatter(EngFormatter(places=1, sep=""))
    axes[-1].set_xlabel("time [cycles]")
    fig.suptitle(title or "memory occupancy", fontsize=11, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.985))
    return save_figure_atomic(fig, path)


def plot_footprint(
    schedule: Schedule,
    path: str | Path,
    *,
    budget_bits: float | None = None,
    store_all_bits: float | None = None,
    title: str | None = None,
) -> Path:
    """Activation footprint (MiB) per program-order position (``schedule.footprint``).

    The budget is a red dashed line, the store-all peak (when given) a grey dotted one
    and the schedule's peak a thin line in the profile's colour.  A schedule without a
    footprint gives a placeholder figure.
    """
    fig, ax = plt.subplots(figsize=(12, 3.6))
    fp = schedule.footprint
    if fp is None or not len(fp):
        ax.text(0.5, 0.5, "no activation footprint recorded", ha="center", va="center")
        ax.set_axis_off()
    else:
        y = np.asarray(fp, dtype=float) / MIB_BITS
        x = np.arange(len(y) + 1)
        yy = np.append(y, y[-1])
        ax.fill_between(x, yy, step="post", alpha=0.25, color="#4C72B0", lw=0)
        ax.step(x, yy, where="post", color="#4C72B0", lw=1.0, label="activation footprint")
        peak = float(y.max())
        ax.axhline(peak, color="#4C72B0", lw=0.6, ls=":", label=f"peak {peak:.3f} MiB")
        top = peak
        if store_all_bits is not None and math.isfinite(store_all_bits):
            sa = store_all_bits / MIB_BITS
            ax.axhline(sa, color="#777777", lw=0.9, ls=":", label=f"store-all peak {sa:.3f} MiB")
            top = max(top, sa)
        if budget_bits is not None and math.isfinite(budget_bits):
            b = budget_bits / MIB_BITS
            ax.axhline(b, color="#C44E52", lw=1.2, ls="--", label=f"budget {b:.3f} MiB")
            top = max(top, b)
            if peak > b * (1 + 1e-9):
                ax.text(
                    0.995, 0.95, "OVER BUDGET", transform=ax.transAxes, ha="right", va="top",
                    color="#C44E52", fontsize=9, fontweight="bold",
                )  # fmt: skip
        ax.set_xlim(0, len(y))
        ax.set_ylim(0, top * 1.25 if top > 0 else 1)
        ax.set_xlabel("program position")
        ax.set_ylabel("MiB")
        ax.grid(color="#e5e5e5", lw=0.6)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.legend(fontsize=8, frameon=False, loc="upper left", ncol=4)
    ax.set_title(title or "activation footprint", fontsize=11, loc="left")
    fig.tight_layout()
    return save_figure_atomic(fig, path)
