"""Benchmark: Stream calibration case, evaluator speed and the exact allocation solve.

Run ``python benchmarks/calibration_and_speed.py [--quick]`` (``--quick``: one
calibration setting, short speed runs, the two small allocation instances with a 10 s
limit; well under a minute).  Prints three tables:

1. ResNet-18 224 inference (batch 1, 8-bit) layer by layer on the shipped TPU-like quad
   core, next to Stream 0.0.8's 3,931,020 cycles and 2.316e9 pJ (docs/calibration_stream.md:
   stream-dse 0.0.8 with zigzag-dse 2.4.3, GA 16 x 16, seed 0), for the
   tensor-placement and prefetch settings of the schedule semantics.
2. Evaluator throughput on the ResNet-18 CIFAR training graph (batch 4, AdamW).
3. The allocation MILP on the edge case and the GPT mini-LM data-center case:
   variables, constraints, status, objective, simulated value, bound, gap, seconds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from monet_opt.formulations.allocation import solve_allocation
from monet_opt.formulations.options import SolverOptions
from monet_opt.hardware import load_accelerator
from monet_opt.heuristics.allocation import greedy_decision
from monet_opt.models import Precision, build_model, derive_training_graph
from monet_opt.schedule.evaluator import evaluate, evaluate_fast
from monet_opt.schedule.problem import build_problem

ROOT = Path(__file__).resolve().parents[1]
HW = ROOT / "examples" / "hardware"
STREAM_CYCLES = 3_931_020
STREAM_PJ = 2.316e9
STREAM_DRAM_PJ = 1.845e9
STREAM_ONCHIP_PJ = 4.667e8
#: HiGHS settings of every solve here (the allocation MILP's defaults: 60 s, gap 1e-4).
OPTIONS = SolverOptions(time_limit=60.0, mip_gap=1e-4)
#: ``--quick``: the same gap, a 10 s limit.
QUICK_OPTIONS = SolverOptions(time_limit=10.0, mip_gap=1e-4)


def calibration(console: Console, quick: bool = False) -> None:
    g = build_model("resnet18", stem="imagenet", batch=1, precision=8)
    acc = load_accelerator(HW / "tpu_like_quad_core.yaml")
    t = Table(title="ResNet-18 224 inference on the TPU-like quad core vs Stream 0.0.8")
    for col in ("layer_io", "prefetch", "latency cc", "Δ vs Stream", "energy pJ", "Δ vs Stream",
                "DRAM pJ", "on-chip pJ", "MILP status", "solve s"):  # fmt: skip
        t.add_column(col, justify="right")
    settings = (("onchip", 2),) if quick else (("onchip", 1), ("onchip", 2), ("onchip", 4),
                                                ("dram", 2))  # fmt: skip
    opts = QUICK_OPTIONS if quick else OPTIONS
    for layer_io, depth in settings:
        pb = build_problem(g, acc, prefetch_depth=depth, layer_io=layer_io)
        r = solve_allocation(pb, None, "latency", opts)
        e = r.schedule.energy
        t.add_row(
            layer_io,
            str(depth),
            f"{r.simulated:,.0f}",
            f"{100 * (r.simulated / STREAM_CYCLES - 1):+.1f} %",
            f"{e.total:.3e}",
            f"{100 * (e.total / STREAM_PJ - 1):+.1f} %",
            f"{e.dram:.3e}",
            f"{e.compute + e.onchip_memory:.3e}",
            r.status,
            f"{r.solve_seconds:.2f}",
        )
    t.add_row("Stream 0.0.8", "GA 16x16", f"{STREAM_CYCLES:,}", "", f"{STREAM_PJ:.3e}", "",
              f"{STREAM_DRAM_PJ:.3e}", f"{STREAM_ONCHIP_PJ:.3e}", "", "71.5 (wall)")  # fmt: skip
    console.print(t)


def evaluator_speed(console: Console, quick: bool = False) -> None:
    g = derive_training_graph(build_model("resnet18-cifar", batch=4), "adamw")
    acc = load_accelerator(HW / "tpu_like_quad_core.yaml")
    pb = build_problem(g, acc)
    dec = greedy_decision(pb)
    t = Table(title=f"Evaluator speed, ResNet-18 CIFAR training ({pb.n_nodes} nodes)")
    t.add_column("function")
    t.add_column("evaluations/s", justify="right")
    for name, fn in (("evaluate_fast", lambda: evaluate_fast(pb, dec.allocation)),
                     ("evaluate (full schedule)", lambda: evaluate(pb, dec))):  # fmt: skip
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < (0.5 if quick else 2.0):
            fn()
            n += 1
        t.add_row(name, f"{n / (time.perf_counter() - t0):,.0f}")
    t.add_row("Stream 0.0.8 (31 nodes, docs/calibration_stream.md)", "~50")
    console.print(t)


def exact_solves(console: Console, quick: bool = False) -> None:
    r18 = ("resnet18-cifar", {"batch": 4}, "adamw", Precision())
    int8_sgd = ("resnet18-cifar", {"batch": 32}, "sgd", Precision(8, 8, 8, 16))
    cases = [
        ("resnet18-cifar b4 adamw / tpu_like_quad_core", *r18, "tpu_like_quad_core.yaml"),
        ("resnet18-cifar b4 adamw / tpu_like_hetero", *r18, "tpu_like_hetero.yaml"),
        ("resnet18-cifar b32 sgd int8 / tpu_like_hetero", *int8_sgd, "tpu_like_hetero.yaml"),
        ("  same, prefetch 4", *int8_sgd, "tpu_like_hetero.yaml"),
        ("mini-lm b1 adamw / fusemax_like", "mini-lm", {"batch": 1}, "adamw", Precision(),
         "fusemax_like.yaml"),
    ]  # fmt: skip
    if quick:
        cases = cases[:2]
    solver = QUICK_OPTIONS if quick else OPTIONS
    t = Table(title="Allocation MILP (latency), decoded and re-simulated")
    for col in ("instance", "nodes", "vars", "cons", "build s", "solve s", "status",
                "objective cc", "simulated cc", "bound cc", "gap", "greedy cc"):  # fmt: skip
        t.add_column(col, justify="right")
    for label, model, opts, optimizer, prec, hw in cases:
        if not (HW / hw).exists():
            continue
        g = derive_training_graph(build_model(model, **opts), optimizer, prec)
        t0 = time.perf_counter()
        depth = 4 if "prefetch 4" in label else 2
        pb = build_problem(g, load_accelerator(HW / hw), prefetch_depth=depth)
        r = solve_allocation(pb, None, "latency", solver)
        greedy = evaluate_fast(pb, greedy_decision(pb).allocation)[0]
        t.add_row(label, str(pb.n_nodes), str(r.n_vars), str(r.n_cons),
                  f"{time.perf_counter() - t0 - r.solve_seconds:.2f}", f"{r.solve_seconds:.2f}",
                  r.status, f"{r.objective:,.0f}", f"{r.simulated:,.0f}", f"{r.bound:,.0f}",
                  f"{r.gap:.2e}", f"{greedy:,.0f}")  # fmt: skip
    console.print(t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="reduced run (under a minute)")
    args = ap.parse_args()
    console = Console(width=220)
    calibration(console, args.quick)
    evaluator_speed(console, args.quick)
    exact_solves(console, args.quick)


if __name__ == "__main__":
    main()
