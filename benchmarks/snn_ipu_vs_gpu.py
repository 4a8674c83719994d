"""Benchmark: SNN training throughput, IPU-like tiles vs an A100-like GPU (issue 14 §4).

Run ``python benchmarks/snn_ipu_vs_gpu.py [--quick] [--plot docs/img/snn_ipu_vs_gpu.png]``
from the repository root (2 cores: about 2 minutes; ``--quick``: 2 and 5 hidden layers, 3
activities, the fused GPU only, a few seconds).

Workload: the NMNIST preset of :mod:`monet_opt.models.snn` (2312 input channels, T = 100
steps, 10 classes, batch 48, AdamW with FP16 weights and gradients and FP32 moments and
master copy), 2 to 5 hidden leaky integrate-and-fire layers of **1,024 neurons** (our
choice: the seed, Finkbeiner et al., arXiv:2311.04386, sizes its layers as tiles x
neurons per tile without a single width; 1,024 is the width of ``docs/mimd_tiles.md``,
and the placements of 2 to 5 such layers use 1,034 to 1,462 of the 1,472 tiles), activity
0.5 %-50 % (the same in every layer and in the input).

Where each number comes from (no constant is tuned per point):

* **IPU step** (``examples/hardware/ipu_like.yaml``, 1.33 GHz): the exact
  neuron-stationary placement of :mod:`monet_opt.formulations.tile_placement` (HiGHS
  optimum over neurons per tile and history mode per layer; per-tile capacity
  ``k (F (w + g + o) + T B h) <= 624 KiB``; BSP superstep per time step and layer
  ``k u + ceil((e + k e') / b_ex) + 2 sync``), layers from :func:`tile_layers_from_snn`
  with ``ops_per_cycle = 12`` (one accumulate per gathered FP16 weight: the tile's
  194 b/cc SRAM read port / 16 b, for the spike-driven accumulates and, conservatively,
  for the dense dX too).  The faster of the two exact schedules is taken
  (``sequential``: one layer at a time; ``pipelined``: every layer in every superstep, one
  step behind the previous).  Added to it: one weight-update superstep
  (``max_l k_l F_l 240 b / 194 b/cc + sync``: AdamW reads weight, gradient, m, v, master,
  16 B, and writes 14 B, per weight, from the tile's SRAM).  Weights, gradients and
  optimizer state stay on the tiles across steps, as on the IPU.
  ``monet-opt solve`` on ``ipu_like.yaml`` is *not* used for the step time: its schedule
  streams every weight and optimizer state from streaming memory each step (the
  compulsory traffic of a chip whose state lives in DRAM), which an IPU does not do
  (``docs/mimd_tiles.md``, "End to end").
* **Backward pass on the IPU**, two variants, both shown: the second threshold of the
  seed's code (``grad_activity = activity``: as many neurons carry a surrogate gradient as
  spike; our assumption, one rule for every point) and a dense dX (no second threshold).
  The ratio columns use the second threshold (the seed's setting).
* **GPU step** (``examples/hardware/gpu_like.yaml``, 1.41 GHz): ``monet_opt.api.solve``
  (allocation/placement MILPs, evaluator latency, 20 s limit) of the same workload with
  ``spike_format: dense`` (spikes as dense 0/1 tensors; dense GEMMs skip nothing, so the
  GPU's step does not depend on activity) and 3 µs per kernel.  Weights and AdamW state
  live in HBM and cross the HBM port every step, as on a GPU.  Two kernel granularities:
  ``fused`` (``steps_per_node = 10``: one kernel runs 10 time steps of a layer, e.g. a
  custom CUDA kernel; the ratio columns use it, the conservative baseline) and
  ``per step`` (``steps_per_node = 1``: one kernel per op and time step, as a PyTorch BPTT
  loop launches them; without ``--quick``).

Also printed: **tile memory caps T·B** (longest T of the 2 x 1,024 network at 5 % activity
that any placement fits, for B = 16, 48, 128, with no streaming memory) and **how
streaming memory extends it** (the placement's ``stream`` and ``recompute`` modes: a
history written to streaming memory, or membrane checkpoints every ``ceil(sqrt(T))``
steps with each segment recomputed on its tiles).

Differences from the seed (5-10x at moderate sparsity, up to 38x at the highest) are
printed under the tables; ``docs/mimd_tiles.md`` and the README quote them.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from monet_opt import api
from monet_opt.formulations.options import SolverOptions
from monet_opt.formulations.tile_placement import (
    TileChip,
    TileLayer,
    TilePlacement,
    solve_tile_placement,
    tile_chip_from_accelerator,
    tile_layers_from_snn,
)
from monet_opt.hardware import load_accelerator
from monet_opt.hardware.yaml_io import read_yaml
from monet_opt.models.snn import snn_spec

ROOT = Path(__file__).resolve().parents[1]
IPU_YAML = ROOT / "examples" / "hardware" / "ipu_like.yaml"
GPU_YAML = ROOT / "examples" / "hardware" / "gpu_like.yaml"
ACTIVITIES: tuple[float, ...] = (0.005, 0.01, 0.02, 0.05, 0.10, 0.20, 0.50)
DEPTHS: tuple[int, ...] = (2, 3, 4, 5)
WIDTH = 1024
BATCH = 48
#: Accumulates per tile cycle: one FP16 weight gathered per cycle from the tile's SRAM
#: (194 b/cc / 16 b, ``ipu_like.yaml``).
IPU_OPS_PER_CYCLE = 12.0
#: AdamW update traffic per weight in the tile's SRAM, bits: read FP16 weight and
#: gradient and FP32 m, v, master (128), write weight, m, v, master (112).
ADAMW_BITS_PER_WEIGHT = 240.0
#: Seed's reported ratios (Finkbeiner et al., arXiv:2311.04386: 5-10x, up to 38x).
SEED_MODERATE = (5.0, 10.0)
SEED_MAX = 38.0
PRECISION = {"activation": 16, "weight": 16, "gradient": 16, "optimizer_state": 32}


def _clock_hz(path: Path) -> float:
    """``extra.clock_hz`` of an accelerator YAML (Hz)."""
    return float(read_yaml(path)["extra"]["clock_hz"])


@dataclass(frozen=True)
class IpuPoint:
    """The IPU-like chip's training step from the exact tile placement.

    Attributes
    ----------
    cycles
        Step time in 1.33 GHz cycles: the placement's optimum plus the weight update.
    samples_per_s
        ``batch / (cycles / clock)``.
    placement
        The placement of the faster schedule.
    update_cycles
        Cycles of the weight-update superstep included in ``cycles``.
    """

    cycles: float
    samples_per_s: float
    placement: TilePlacement
    update_cycles: float


@dataclass(frozen=True)
class GpuPoint:
    """The GPU-like baseline's training step from ``api.solve``.

    Attributes
    ----------
    cycles
        Evaluator latency of the solved schedule, 1.41 GHz cycles.
    samples_per_s
        ``batch / (cycles / clock)``.
    status, gap
        The MILP's status and its gap to the bound.
    nodes
        Nodes of the training graph.
    """

    cycles: float
    samples_per_s: float
    status: str
    gap: float
    nodes: int


def ipu_chip() -> TileChip:
    """The :class:`TileChip` of ``examples/hardware/ipu_like.yaml``."""
    return tile_chip_from_accelerator(load_accelerator(IPU_YAML))


def ipu_layers(
    hidden_layers: int,
    activity: float,
    *,
    second_threshold: bool = True,
    width: int = WIDTH,
    steps: int | None = None,
    batch: int = BATCH,
) -> tuple[TileLayer, ...]:
    """The placement's layers of the NMNIST SNN (``grad_activity = activity`` with the
    second threshold, dense dX without)."""
    spec = snn_spec(
        "nmnist",
        hidden_layers=hidden_layers,
        hidden_width=width,
        activity=activity,
        grad_activity=activity if second_threshold else None,
        steps=steps,
        batch=batch,
    )
    return tile_layers_from_snn(spec, ops_per_cycle=IPU_OPS_PER_CYCLE)


def ipu_step(
    hidden_layers: int,
    activity: float,
    *,
    second_threshold: bool = True,
    width: int = WIDTH,
    batch: int = BATCH,
    chip: TileChip | None = None,
) -> IpuPoint:
    """IPU-like training step of the NMNIST SNN (module docstring: exact placement, the
    faster schedule, plus one AdamW update superstep).

    Raises
    ------
    RuntimeError
        If no placement fits the chip.
    """
    chip = chip or ipu_chip()
    layers = ipu_layers(
        hidden_layers, activity, second_threshold=second_threshold, width=width, batch=batch
    )
    opts = SolverOptions(time_limit=30.0, mip_gap=1e-6, threads=1)
    best = min(
        (solve_tile_placement(layers, chip, opts, schedule=s) for s in ("sequential", "pipelined")),
        key=lambda p: p.simulated,
    )
    if not math.isfinite(best.simulated):
        raise RuntimeError(f"no placement of {hidden_layers} x {width} fits the chip")
    sram_bits = 194.0  # ipu_like.yaml tile_sram read port, bits per cycle
    update = (
        max(
            math.ceil(k * ly.fan_in * ADAMW_BITS_PER_WEIGHT / sram_bits)
            for k, ly in zip(best.neurons_per_tile, layers, strict=True)
        )
        + chip.sync_cycles
    )
    cycles = best.simulated + update
    return IpuPoint(cycles, batch / (cycles / _clock_hz(IPU_YAML)), best, update)


def gpu_step(
    hidden_layers: int,
    *,
    steps_per_node: int = 10,
    width: int = WIDTH,
    batch: int = BATCH,
    time_limit: float = 20.0,
) -> GpuPoint:
    """GPU-like training step of the NMNIST SNN with dense spikes (``api.solve`` on
    ``gpu_like.yaml``; the activity does not change a dense step, so it is fixed at 5 %)."""
    cfg: dict[str, Any] = {
        "workload": {
            "model": "snn-nmnist",
            "options": {
                "batch": batch,
                "hidden_layers": hidden_layers,
                "hidden_width": width,
                "activity": 0.05,
                "steps_per_node": steps_per_node,
                "spike_format": "dense",
            },
            "optimizer": "adamw",
            "precision": dict(PRECISION),
        },
        "accelerator": str(GPU_YAML),
        "objective": "latency",
        "schedule": {"prefetch_depth": 2, "memory": "capacity"},
        "solver": {"time_limit_s": time_limit, "mip_gap": 1e-4, "threads": 1},
    }
    inputs = api.load(cfg)
    run = api.solve(inputs)
    m = run.milp
    if m is None or not math.isfinite(m.simulated):
        raise RuntimeError(f"GPU solve of {hidden_layers} x {width} found no schedule")
    cyc = float(m.simulated)
    return GpuPoint(
        cyc, batch / (cyc / _clock_hz(GPU_YAML)), m.status, float(m.gap), len(inputs.graph.ops)
    )


def ratio_curve(
    hidden_layers: int,
    activities: Sequence[float],
    *,
    width: int = WIDTH,
    second_threshold: bool = True,
    gpu: GpuPoint | None = None,
) -> list[float]:
    """IPU / GPU throughput ratio at each activity (the benchmark's core; the GPU step is
    the fused dense one, solved once: it does not depend on activity)."""
    g = gpu or gpu_step(hidden_layers, width=width)
    chip = ipu_chip()
    return [
        ipu_step(
            hidden_layers, a, second_threshold=second_threshold, width=width, chip=chip
        ).samples_per_s
        / g.samples_per_s
        for a in activities
    ]


def longest_sequence(
    chip: TileChip, *, batch: int, activity: float = 0.05, hidden_layers: int = 2
) -> tuple[int, TilePlacement]:
    """Largest T (1 .. 10^8) at which some placement of the network fits ``chip``
    (feasibility is monotone in T), with the placement at that T."""
    opts = SolverOptions(time_limit=30.0, mip_gap=1e-6, threads=1)

    def fit(t: int) -> TilePlacement:
        return solve_tile_placement(
            ipu_layers(hidden_layers, activity, steps=t, batch=batch), chip, opts
        )

    if fit(1).status == "infeasible":
        return 0, fit(1)
    lo, hi = 1, 2
    while hi <= 10**8 and fit(hi).status != "infeasible":
        lo, hi = hi, hi * 2
    hi = min(hi, 10**8 + 1)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fit(mid).status != "infeasible" else (lo, mid)
    return lo, fit(lo)


def _plot(
    path: Path,
    acts: Sequence[float],
    depths: Sequence[int],
    ipu: dict[tuple[int, float], IpuPoint],
    ipu_dense: dict[tuple[int, float], IpuPoint],
    gpu: dict[int, GpuPoint],
    gpu_step_kernels: dict[int, GpuPoint],
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    x = [100 * a for a in acts]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, d in enumerate(depths):
        c = colors[i % len(colors)]
        ax1.plot(
            x,
            [ipu[d, a].samples_per_s / gpu[d].samples_per_s for a in acts],
            "o-",
            color=c,
            label=f"{d} hidden",
        )
        ax1.plot(
            x,
            [ipu_dense[d, a].samples_per_s / gpu[d].samples_per_s for a in acts],
            "x--",
            color=c,
            alpha=0.6,
        )
        ax2.plot(x, [ipu[d, a].samples_per_s for a in acts], "o-", color=c, label=f"IPU {d}")
        ax2.axhline(gpu[d].samples_per_s, color=c, ls=":", lw=1.2)
        if d in gpu_step_kernels:
            ax2.axhline(gpu_step_kernels[d].samples_per_s, color=c, ls="-.", lw=0.8)
    ax1.axhspan(*SEED_MODERATE, color="0.85", zorder=0, label="seed 5-10x")
    ax1.axhline(SEED_MAX, color="0.4", ls="--", lw=1, label="seed max 38x")
    ax1.axhline(1.0, color="k", lw=0.6)
    ax1.plot([], [], "kx--", alpha=0.6, label="IPU with dense dX")
    ax1.set(
        xscale="log",
        yscale="log",
        xlabel="activity (% of neurons spiking per step)",
        ylabel="IPU / GPU (10 steps per kernel) throughput (x)",
        title="NMNIST SNN, B = 48, T = 100, 1,024 per hidden layer",
    )
    ax1.legend(fontsize=8)
    ax1.grid(True, which="both", alpha=0.3)
    ax2.plot([], [], "k:", label="GPU, 10 steps per kernel")
    if gpu_step_kernels:
        ax2.plot([], [], "k-.", lw=0.8, label="GPU, 1 step per kernel")
    ax2.set(
        xscale="log",
        yscale="log",
        xlabel="activity (% of neurons spiking per step)",
        ylabel="training throughput (samples/s)",
        title="IPU-like (second threshold) vs A100-like (dense)",
    )
    ax2.legend(fontsize=8, ncol=2)
    for ax in (ax1, ax2):
        ax.set_xticks(x, [f"{v:g}" for v in x])
        ax.minorticks_off()
    ax2.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 and 5 layers, 3 activities")
    ap.add_argument(
        "--plot",
        type=Path,
        default=ROOT / "docs" / "img" / "snn_ipu_vs_gpu.png",
        help="PNG to write (default docs/img/snn_ipu_vs_gpu.png)",
    )
    args = ap.parse_args()
    t0 = time.perf_counter()
    acts = (0.005, 0.05, 0.5) if args.quick else ACTIVITIES
    depths = (2, 5) if args.quick else DEPTHS
    con = Console(width=170)
    chip = ipu_chip()
    gpu = {d: gpu_step(d) for d in depths}
    per_step = {} if args.quick else {d: gpu_step(d, steps_per_node=1) for d in depths}
    ipu = {(d, a): ipu_step(d, a, chip=chip) for d in depths for a in acts}
    dense = {
        (d, a): ipu_step(d, a, second_threshold=False, chip=chip) for d in depths for a in acts
    }

    tab = Table(
        title="NMNIST SNN training step (B = 48, T = 100, hidden 1,024, AdamW): "
        "IPU-like (exact tile placement) vs A100-like (api.solve, dense spikes)"
    )
    for col in ("hidden", "activity", "IPU schedule", "neurons/tile", "tiles", "IPU step (cc)"):
        tab.add_column(col, justify="left" if col in ("IPU schedule", "neurons/tile") else "right")
    for col in ("IPU samples/s", "IPU dense dX", "GPU fused", "GPU per-step", "ratio", "ratio dX"):
        tab.add_column(col, justify="right")
    tab.add_column("ratio per-step", justify="right")
    for d in depths:
        for a in acts:
            p, q, g = ipu[d, a], dense[d, a], gpu[d]
            s = per_step.get(d)
            tab.add_row(
                str(d),
                f"{a:.1%}",
                p.placement.schedule,
                ",".join(map(str, p.placement.neurons_per_tile)),
                f"{sum(p.placement.tiles):,}",
                f"{p.cycles:,.0f}",
                f"{p.samples_per_s:,.0f}",
                f"{q.samples_per_s:,.0f}",
                f"{g.samples_per_s:,.0f}",
                "-" if s is None else f"{s.samples_per_s:,.0f}",
                f"{p.samples_per_s / g.samples_per_s:.2f}x",
                f"{q.samples_per_s / g.samples_per_s:.2f}x",
                "-" if s is None else f"{p.samples_per_s / s.samples_per_s:.1f}x",
            )
    con.print(tab)
    gtab = Table(title="GPU-like steps (api.solve, gpu_like.yaml, dense spikes, 20 s limit)")
    for col in ("hidden", "kernel", "nodes", "step (cc)", "step (us)", "status", "gap"):
        gtab.add_column(col, justify="right")
    for d in depths:
        for name, pt in (("10 steps", gpu[d]), ("1 step", per_step.get(d))):
            if pt is None:
                continue
            gtab.add_row(
                str(d),
                name,
                str(pt.nodes),
                f"{pt.cycles:,.0f}",
                f"{pt.cycles / _clock_hz(GPU_YAML) * 1e6:,.0f}",
                pt.status,
                f"{pt.gap:.1%}",
            )
    con.print(gtab)

    # tile memory caps T.B; streaming memory extends it
    no_stream = replace(chip, streaming_bytes_per_cycle=0.0)
    keep_stream = replace(chip, segment_steps=10**9)  # R = T: recompute never pays
    ctab = Table(
        title="Longest sequence T (2 x 1,024 hidden, 5 % activity, second threshold): "
        "tile memory caps T.B"
    )
    for col in ("history modes", "B", "longest T", "T.B", "x keep", "placement at that T"):
        ctab.add_column(
            col, justify="left" if col in ("history modes", "placement at that T") else "right"
        )
    caps: dict[tuple[str, int], int] = {}
    for label, ch, batches in (
        ("keep (no streaming memory)", no_stream, (16, 48, 128)),
        ("keep / stream", keep_stream, (48,)),
        ("keep / stream / recompute", chip, (48,)),
    ):
        for b in batches:
            t_max, pl = longest_sequence(ch, batch=b)
            caps[label, b] = t_max
            base = caps.get(("keep (no streaming memory)", b), t_max)
            ctab.add_row(
                label,
                str(b),
                f"{t_max:,}",
                f"{t_max * b:,}",
                f"{t_max / base:,.0f}x",
                f"{','.join(map(str, pl.neurons_per_tile))} per tile; {', '.join(pl.history)}",
            )
    con.print(ctab)
    per_t = []
    for t in (100, caps["keep (no streaming memory)", 48], 20_000):
        pl = solve_tile_placement(
            ipu_layers(2, 0.05, steps=t), chip, SolverOptions(time_limit=30.0, threads=1)
        )
        per_t.append(f"T = {t:,}: {pl.simulated / t:,.0f} cc per step ({', '.join(pl.history)})")

    lo = {d: ipu[d, acts[0]].samples_per_s / gpu[d].samples_per_s for d in depths}
    mid = {d: ipu[d, 0.05].samples_per_s / gpu[d].samples_per_s for d in depths}
    hi = {d: ipu[d, acts[-1]].samples_per_s / gpu[d].samples_per_s for d in depths}
    per_step_note = ""
    if per_step:
        ps = {d: ipu[d, 0.05].samples_per_s / per_step[d].samples_per_s for d in depths}
        ps_lo = {d: ipu[d, acts[0]].samples_per_s / per_step[d].samples_per_s for d in depths}
        per_step_note = (
            "- Against per-step GPU kernels (a PyTorch BPTT loop: one 3 us launch per op and "
            f"time step) the ratio is {', '.join(f'{ps[d]:.1f}x' for d in depths)} at 5 % and "
            f"{', '.join(f'{ps_lo[d]:.0f}x' for d in depths)} at {acts[0]:.1%}: the seed's "
            "5-10x and 38x lie between our two GPU columns (which kernel granularity its A100 "
            "implementation reaches is not in the figures we have).\n"
        )
    grows = all(
        ipu[d, a].cycles >= ipu[d, b].cycles
        for d in depths
        for a, b in zip(acts[1:], acts[:-1], strict=True)
    )
    con.print(
        "\n[b]Against the seed (Finkbeiner et al., arXiv:2311.04386: 5-10x an A100, up to 38x "
        "at high sparsity)[/b]\n"
        f"- The ratio grows as activity falls at every depth: {grows}. "
        f"At {acts[0]:.1%}: {', '.join(f'{lo[d]:.1f}x' for d in depths)}; at 5 %: "
        f"{', '.join(f'{mid[d]:.1f}x' for d in depths)}; at {acts[-1]:.0%}: "
        f"{', '.join(f'{hi[d]:.2f}x' for d in depths)} ({', '.join(map(str, depths))} hidden "
        "layers; GPU with 10 steps per kernel).\n"
        "- Deeper networks gain more: the GPU runs the layers one after another (its step, "
        "work and kernel launches grow with the depth), while the pipelined placement runs "
        "every layer in every superstep on its own tiles (the step is the slowest layer's "
        "supersteps), with weights, gradients and AdamW state resident on the tiles.\n"
        "- Dense spikes on the GPU do not depend on activity, so the whole trend is the IPU's "
        "event-driven cost. Without the second threshold (ratio dX) the dense dX (B F per "
        "neuron and step) caps the IPU and the ratio stays low: the seed's sparse backward "
        "pass is what makes the high-sparsity gains.\n"
        + per_step_note
        + (
            f"- Where we differ: at {acts[-1]:.0%} activity the IPU model is slower than the "
            "GPU with 10 steps per kernel (the tile's accumulates run at 12 per cycle, one "
            "gathered weight per SRAM read, against the GPU's dense tensor cores); the seed "
            "quotes no loss (5-10x, up to 38x), closer to our per-step GPU column. "
            if min(hi.values()) < 1
            else ""
        )
        + "Not modelled: partial-sum reductions of dX across tiles, the exchange code's "
        "overhead, load imbalance between threads; the GPU's HBM, launch and L2 figures are "
        "datasheet numbers, not measured kernels.\n"
        "- Sequence length: " + "; ".join(per_t) + ". The follow-up double-checkpointing "
        "work reports > 10x longer sequences; with recompute the on-tile segment "
        "(ceil(sqrt(T)) steps) is the limit, so ours grows as T_keep^2 and the 112 GB of "
        "streaming memory never binds.\n"
        f"(placement {len(ipu) + len(dense)} points, GPU {len(gpu) + len(per_step)} solves, "
        f"{time.perf_counter() - t0:.0f} s)"
    )
    _plot(args.plot, acts, depths, ipu, dense, gpu, per_step)
    con.print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
