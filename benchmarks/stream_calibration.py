"""Stream calibration: ResNet-18 224 inference on the TPU-like quad core, whole network.

Runs ``examples/resnet18_stream_calibration.yaml`` (layer by layer, batch 1, 8 bit) with
memory capacities and prints, next to Stream 0.0.8's measured numbers
(``docs/calibration_stream.md``):

1. total latency and energy, with the on-chip / DRAM / link split and the DRAM traffic
   split (compulsory, spill, re-fetch);
2. peak use of every memory against its capacity (Stream stays ≤ 100 % everywhere);
3. per-layer latency of the scheduled nodes against Stream's per-layer numbers;
4. the same totals without capacities (``schedule.memory: unbounded``), to show what the
   memory model changes;
5. fusion on the same case (Stream: fusing every layer row by row is 2.3x slower and
   costs 4.1x the energy of layer by layer, because layer4's weights are re-streamed for
   each of its 7 row tiles; fusing the early layers, ONNX nodes 0-21 = conv1 to
   layer2.0, is faster and cheaper): layer by layer, all layers in one stack and conv1 to
   layer2.0 in one stack, with the layer-by-layer allocation, each at the smallest tile
   count from 7 (layer4's output rows) at which every memory fits.

The allocation is the exact capacity MILP's (for the default placement of the greedy
allocation), the workload the built-in ResNet-18; with ``../shared`` present Stream's own
``resnet18.onnx`` is run too.  Run ``python benchmarks/stream_calibration.py``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from monet_opt import api
from monet_opt.config import config_from_dict

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "resnet18_stream_calibration.yaml"
STREAM_ONNX = (
    ROOT.parent
    / "shared/peer-data/stream/v0.0.8_b2bc4ac4/stream/inputs/examples/workload/resnet18.onnx"
)

#: Stream 0.0.8 (docs/calibration_stream.md).
STREAM = {
    "latency": 3_931_020.0,
    "energy": 2.316e9,
    "onchip": 4.667e8,
    "dram": 1.845e9,
    "links": 4.36e6,
}
STREAM_PEAK_KB = {"sram_1MB_W": (864, 0, 940, 992), "sram_1MB_A": 392, "pooling": 25, "simd": 588}
STREAM_LAYER = {
    "conv1": 1_232_482,
    "maxpool": 254_015,
    "layer1.0.conv1": 113_960,
    "layer1.0.conv2": 113_960,
    "layer1.1.conv1": 113_960,
    "layer1.1.conv2": 113_960,
    "layer1.0.add": 6_270,
    "layer1.1.add": 6_270,
    "layer2.0.conv1": 56_969,
    "layer2.0.conv2": 113_940,
    "layer2.1.conv1": 113_940,
    "layer2.1.conv2": 113_940,
    "layer2.0.downsample": 7_041,
    "layer3.0.conv1": 58_500,
    "layer3.0.conv2": 118_172,
    "layer3.1.conv1": 118_172,
    "layer3.1.conv2": 118_172,
    "layer3.0.downsample": 6_709,
    "layer4.0.conv1": 151_056,
    "layer4.0.conv2": 302_040,
    "layer4.1.conv1": 302_040,
    "layer4.1.conv2": 302_040,
    "layer4.0.downsample": 6_528,
    "avgpool": 9_214,
    "fc": 4_128,
}


def _config(memory: str, onnx: Path | None = None) -> Any:
    data = yaml.safe_load(EXAMPLE.read_text())
    data = copy.deepcopy(data)
    data["schedule"]["memory"] = memory
    if onnx is not None:
        data["workload"] = {
            "onnx": str(onnx),
            "options": {"batch": 1, "precision": 8},
            "mode": "inference",
        }
    return config_from_dict(data, base_dir=EXAMPLE.parent, source=EXAMPLE)


def _pct(v: float, ref: float) -> str:
    return f"{100 * (v - ref) / ref:+.1f} %"


def _run(memory: str, onnx: Path | None = None) -> Any:
    return api.solve(_config(memory, onnx), method="milp")


def main() -> None:
    con = Console(width=140)
    runs = {"capacity": _run("capacity"), "unbounded": _run("unbounded")}
    if STREAM_ONNX.is_file():
        runs["capacity, Stream's ONNX"] = _run("capacity", STREAM_ONNX)
    t = Table(title="ResNet-18 224 inference, TPU-like quad core: whole network vs Stream 0.0.8")
    for col in ("run", "status", "latency cc", "vs Stream", "energy pJ", "vs Stream",
                "on-chip pJ", "DRAM pJ", "vs Stream", "links pJ"):  # fmt: skip
        t.add_column(col, justify="left" if col in ("run", "status") else "right")
    for name, run in runs.items():
        s = run.milp.schedule
        e = s.energy
        t.add_row(
            name, run.milp.status, f"{s.latency:,.0f}", _pct(s.latency, STREAM["latency"]),
            f"{e.total:.4g}", _pct(e.total, STREAM["energy"]),
            f"{e.compute + e.onchip_memory:.4g}", f"{e.dram:.4g}", _pct(e.dram, STREAM["dram"]),
            f"{e.links:.3g}",
        )  # fmt: skip
    t.add_row(
        "Stream 0.0.8", "GA 16x16", f"{STREAM['latency']:,.0f}", "", f"{STREAM['energy']:.4g}",
        "", f"{STREAM['onchip']:.4g}", f"{STREAM['dram']:.4g}", "", f"{STREAM['links']:.3g}",
    )  # fmt: skip
    con.print(t)
    cap = runs["capacity"].milp.schedule
    split = cap.stats.get("dram_traffic_bits", {})
    t = Table(title="DRAM traffic (capacity model)")
    for col in ("kind", "MB", "port cycles", "pJ"):
        t.add_column(col, justify="left" if col == "kind" else "right")
    cyc = cap.stats.get("dram_traffic_cycles", {})
    pj = cap.stats.get("dram_traffic_pj", {})
    for k, b in split.items():
        t.add_row(k, f"{b / 8e6:.3f}", f"{cyc.get(k, 0):,.0f}", f"{pj.get(k, 0):.4g}")
    con.print(t)
    t = Table(title="Peak use per memory (capacity model); Stream stays <= 100 %")
    for col in ("memory", "peak kB", "capacity kB", "use"):
        t.add_column(col, justify="left" if col == "memory" else "right")
    for label, tr in cap.memory.items():
        cap_b = tr.capacity_bits / 8e3
        t.add_row(label, f"{tr.peak_bits / 8e3:,.0f}", f"{cap_b:,.0f}",
                  f"{100 * tr.peak_bits / tr.capacity_bits:.0f} %")  # fmt: skip
    con.print(t)
    con.print(
        f"Stream's peaks: sram_1MB_W {STREAM_PEAK_KB['sram_1MB_W']} kB on cores 0-3, "
        f"sram_1MB_A <= {STREAM_PEAK_KB['sram_1MB_A']} kB, pooling "
        f"{STREAM_PEAK_KB['pooling']} kB, SIMD {STREAM_PEAK_KB['simd']} kB"
    )
    t = Table(title="Per layer (capacity model): node duration on its core vs Stream")
    for col in ("layer", "core", "cycles", "Stream", "diff"):
        t.add_column(col, justify="left" if col in ("layer", "core") else "right")
    worst = ("", 0.0)
    for i, name in enumerate(cap.node_names):
        key = name.replace("/", ".")
        ref = STREAM_LAYER.get(key)
        if ref is None:
            ref = next((v for k, v in STREAM_LAYER.items() if key.endswith("." + k)), None)
        dur = float(cap.end[i] - cap.fetch_end[i])
        if ref is None:
            continue
        d = (dur - ref) / ref
        if abs(d) > abs(worst[1]):
            worst = (name, d)
        t.add_row(name, str(int(cap.core[i])), f"{dur:,.0f}", f"{ref:,}", _pct(dur, ref))
    con.print(t)
    con.print(f"worst layer: {worst[0]} ({100 * worst[1]:+.1f} %)")
    _fusion_table(con, runs["capacity"].milp.decision.allocation)


#: Stream 0.0.8 on the same case, relative to its layer by layer (our Stream 0.0.8 run,
#: docs/calibration_stream.md).
STREAM_FUSION = {"all fused": (2.3, 4.1), "conv1..layer2.0 fused": ("< 1", "< 1")}
#: Tile counts tried, from layer4's 7 output rows (Stream's row tiles of layer4).
TILE_COUNTS = (7, 8, 10, 12, 14, 16, 28, 56)


def _fusion_table(con: Console, allocation: tuple[int, ...]) -> None:
    """Layer by layer vs all layers fused vs the early layers fused (module docstring):
    each stacking at the smallest tile count from 7 (layer4's output rows) at which every
    memory stays within capacity, so every number printed is one the chip can run."""
    from monet_opt.schedule.evaluator import evaluate, stacks_over_capacity
    from monet_opt.schedule.types import Decision

    t = Table(title="Fusion on the same case (capacity model, layer-by-layer allocation)")
    for col in ("stacking", "tiles", "latency cc", "x layer by layer", "energy pJ",
                "x layer by layer", "DRAM re-fetch MB", "Stream x latency / energy"):  # fmt: skip
        t.add_column(col, justify="left" if col == "stacking" else "right")
    skipped: list[str] = []
    ref = None
    for name in ("layer by layer", "all fused", "conv1..layer2.0 fused"):
        for tiles in TILE_COUNTS:
            cfg = _config("capacity")
            sched = cfg.schedule.model_copy(update={"tiles": tiles})
            p = api.load(cfg.model_copy(update={"schedule": sched})).problem
            order = p.program_order()
            names = [p.nodes[i].name for i in order]
            early = max(k for k, n in enumerate(names) if n.startswith("layer2.0")) + 1
            stacks = {"layer by layer": (), "all fused": (tuple(order),)}.get(
                name, (tuple(order[:early]),)
            )
            dec = Decision(tuple(allocation), None, stacks)
            s = evaluate(p, dec)
            if stacks_over_capacity(p, dec) or s.stats["memory_overflow"]:
                skipped.append(f"{name} at {tiles} tiles")
                continue
            ref = ref or s
            sx = STREAM_FUSION.get(name, (1, 1))
            t.add_row(
                name, str(tiles), f"{s.latency:,.0f}", f"{s.latency / ref.latency:.2f}",
                f"{s.energy.total:.4g}", f"{s.energy.total / ref.energy.total:.2f}",
                f"{s.stats['dram_traffic_bits']['refetch'] / 8e6:.1f}", f"{sx[0]} / {sx[1]}",
            )  # fmt: skip
            break
    con.print(t)
    if skipped:
        con.print("over capacity, not shown: " + ", ".join(skipped))


if __name__ == "__main__":
    main()
