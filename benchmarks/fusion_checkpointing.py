"""Benchmark: exact layer fusion, activation checkpointing, joint mode and Pareto fronts.

Run ``python benchmarks/fusion_checkpointing.py [--quick]``.  ``--quick`` runs a reduced
version (under a minute): one budget and objective per checkpointing row, the two-layer
mini-LM instead of GPT-2 small, fusion on ``layer_io="dram"`` only, no joint mode, a
6-point front with a small time limit, the two smallest Checkmate instances.  Prints:

1. The main table (issue 3): instance, decision, variables, constraints, build s,
   solve s, status, gap, MILP objective and simulated value, for
   * checkpointing on ResNet-18 CIFAR training (target ≤ 10 s) and GPT-2 small
     (12 layers, sequence 1024; target ≤ 60 s at gap ≤ 1 %),
   * fusion on ResNet-18 CIFAR with ``layer_io="dram"`` and ``"onchip"``,
   * the joint (iterated) mode on the edge example settings.
2. Fusion against its baselines: layer by layer, greedy (cut when the weights
   overflow, DeFiNES/Stream) and a fixed stack list (every residual block's convs).
3. Our checkpointing MILP against a Checkmate-style MILP on the same small training
   graphs (speed ratio; Checkmate allows multi-level recomputation and counts all
   tensors, so its budget is its own store-all peak minus the activation bits ours
   must save at the same point).
4. Exact Pareto fronts (footprint budget vs recompute latency and vs energy) on
   ResNet-18 CIFAR: points and wall time (target ≥ 10 points in ≤ 2 min).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from monet_opt.formulations.allocation import solve_allocation
from monet_opt.formulations.checkmate import solve_checkmate
from monet_opt.formulations.checkpointing import (
    checkpoint_front,
    min_feasible_budget,
    solve_checkpointing,
    store_all_footprint,
)
from monet_opt.formulations.fusion import fusion_baselines, solve_fusion, stacks_from_names
from monet_opt.formulations.joint import solve_joint
from monet_opt.formulations.options import SolverOptions
from monet_opt.hardware import load_accelerator
from monet_opt.heuristics.allocation import greedy_decision
from monet_opt.models import build_model, derive_training_graph
from monet_opt.models.zoo import gpt2_preset
from monet_opt.schedule.problem import build_problem
from monet_opt.schedule.types import Decision

ROOT = Path(__file__).resolve().parents[1]
HW = ROOT / "examples" / "hardware"
#: HiGHS settings, as before the common solve contract: the allocation MILP's defaults
#: (60 s, gap 1e-4), exact checkpointing at gap 1e-6, 60 s per call.
ALLOC = SolverOptions(time_limit=60.0, mip_gap=1e-4)
CKPT = SolverOptions(time_limit=60.0, mip_gap=1e-6)
FUSION = SolverOptions(time_limit=60.0, mip_gap=1e-4)
#: The joint mode's limit is now that of the whole call: 60 s for each of its at most
#: 1 + 3 x 3 MILP blocks (it had 60 s per block).
JOINT = SolverOptions(time_limit=600.0, mip_gap=1e-4)
#: ``--quick``: small limits.
QUICK = SolverOptions(time_limit=10.0, mip_gap=1e-4)
COLS = ("instance", "decision", "vars", "cons", "build s", "solve s", "status", "gap",
        "MILP objective", "simulated")  # fmt: skip


def _row(t: Table, inst: str, dec: str, r) -> None:  # noqa: ANN001
    t.add_row(
        inst, dec, str(r.n_vars), str(r.n_cons), f"{r.build_seconds:.2f}",
        f"{r.solve_seconds:.2f}", r.status, f"{r.gap:.2e}", f"{r.objective:,.6g}",
        f"{r.simulated:,.6g}",
    )  # fmt: skip


def resnet_problem(layer_io: str = "onchip"):  # noqa: ANN201
    g = derive_training_graph(build_model("resnet18", stem="cifar", batch=4))
    acc = load_accelerator(HW / "tpu_like_quad_core.yaml")
    return build_problem(g, acc, order="layerwise", layer_io=layer_io)


def _allocation(p, quick: bool = False) -> tuple[int, ...]:  # noqa: ANN001
    """The latency-optimal allocation of the layer-by-layer, store-all problem."""
    return solve_allocation(p, None, "latency", QUICK if quick else ALLOC).decision.allocation


def main_table(console: Console, quick: bool) -> None:
    t = Table(title="Exact fusion / checkpointing / joint solves")
    for c in COLS:
        t.add_column(c, justify="right" if c not in ("instance", "decision", "status") else "left")
    p = resnet_problem()
    alloc = _allocation(p, quick)
    fall = store_all_footprint(p)
    ckpt = CKPT.with_time(10.0) if quick else CKPT
    for frac in (0.5,) if quick else (0.75, 0.5):
        for obj in ("latency",) if quick else ("latency", "energy"):
            w = time.perf_counter()
            r = solve_checkpointing(p, Decision(alloc), obj, ckpt, budget_bits=frac * fall)
            _row(
                t,
                "resnet18-cifar b4 AdamW",
                f"ckpt {obj} @{frac:.0%} ({time.perf_counter() - w:.1f} s)",
                r,
            )
    preset, label = ("mini-lm-2l", "mini-lm-2l") if quick else ("gpt2-small", "gpt2-small seq1024")
    g = derive_training_graph(gpt2_preset(preset))
    pg = build_problem(g, load_accelerator(HW / "fusemax_like.yaml"), order="layerwise")
    fmin, fall_g = min_feasible_budget(pg), store_all_footprint(pg)
    gpt_opts = SolverOptions(time_limit=10.0 if quick else 60.0, mip_gap=0.01)
    for frac in (0.25,) if quick else (0.5, 0.25, 0.0):
        b = fmin + frac * (fall_g - fmin)
        w = time.perf_counter()
        r = solve_checkpointing(pg, None, "latency", gpt_opts, budget_bits=b)
        _row(t, f"{label} ({pg.n_nodes} nodes)",
             f"ckpt latency @{b / fall_g:.0%} ({time.perf_counter() - w:.1f} s)", r)  # fmt: skip
    for lio in ("dram",) if quick else ("dram", "onchip"):
        pf = resnet_problem(lio)
        af = _allocation(pf, quick)
        for obj in ("latency",) if quick else ("latency", "energy"):
            w = time.perf_counter()
            r = solve_fusion(pf, Decision(af), obj, QUICK if quick else FUSION)
            _row(t, f"resnet18-cifar layer_io={lio}",
                 f"fusion {obj} ({time.perf_counter() - w:.1f} s)", r)  # fmt: skip
    if not quick:
        w = time.perf_counter()
        j = solve_joint(p, None, "latency", JOINT, None, fusion="optimal",
                        checkpointing="optimal", budget_bits=0.5 * fall)  # fmt: skip
        _row(t, "resnet18-cifar edge",
             f"joint {j.extra['mode']} ({time.perf_counter() - w:.1f} s)", j)  # fmt: skip
    console.print(t)


def fusion_table(console: Console, quick: bool) -> None:
    t = Table(title="Fusion vs baselines (ResNet-18 CIFAR b4, layer_io=dram, same allocation)")
    for c in ("strategy", "stacks", "latency cc", "energy pJ", "over capacity"):
        t.add_column(c)
    p = resnet_problem("dram")
    alloc = _allocation(p, quick)
    blocks = []
    for layer in (1, 2, 3, 4):
        for b in (0, 1):
            blocks.append([f"layer{layer}.{b}.conv1", f"layer{layer}.{b}.conv2"])
    order = p.program_order()
    pos = {p.nodes[i].name: k for k, i in enumerate(order)}
    fixed = [s for s in blocks if abs(pos[s[0]] - pos[s[1]]) == 1]
    base = fusion_baselines(p, alloc, fixed=stacks_from_names(p, fixed))
    opt = solve_fusion(p, Decision(alloc), "latency", QUICK if quick else FUSION)
    base["optimal (MILP)"] = {
        "latency": opt.schedule.latency, "energy_pj": opt.schedule.energy.total,
        "n_stacks": len(opt.decision.stacks), "stack_overflow": opt.extra["stack_overflow"],
    }  # fmt: skip
    for k, v in base.items():
        t.add_row(k, str(v["n_stacks"]), f"{v['latency']:,.0f}", f"{v['energy_pj']:.4g}",
                  str(v["stack_overflow"]))  # fmt: skip
    console.print(t)


def _checkmate_inputs(p, alloc):  # noqa: ANN001, ANN202
    order = p.program_order()
    pos = {i: k for k, i in enumerate(order)}
    ids = {c: k for k, c in enumerate(p.core_ids)}
    cost = [float(p.costs.latency[i, ids[alloc[i]]]) for i in order]
    g = p.graph
    mem = [float(sum(g.tensors[t].bits for t in p.nodes[i].outputs)) for i in order]
    preds = [sorted(pos[q] for q in p.preds[i]) for i in order]
    last = list(range(len(order)))
    for k, ps in enumerate(preds):
        for q in ps:
            last[q] = max(last[q], k)
    peak = max(sum(mem[q] for q in range(k + 1) if last[q] >= k) for k in range(len(order)))
    return cost, mem, preds, peak


def checkmate_table(console: Console, quick: bool) -> None:
    t = Table(title="Our checkpointing MILP vs a Checkmate-style MILP (same graphs)")
    for c in ("instance", "nodes", "budget", "ours vars/bin", "ours s", "ours status",
              "Checkmate vars/bin", "Checkmate s", "Checkmate status", "speed ratio"):  # fmt: skip
        t.add_column(c)
    acc = load_accelerator(HW / "tpu_like_quad_core.yaml")
    widths = (4, 6) if quick else (4, 6, 8, 10)
    ratios = []
    for L in widths:
        g = derive_training_graph(build_model("mlp", batch=4, sizes=(64,) * (L + 1)),
                                  optimizer="sgd")  # fmt: skip
        p = build_problem(g, acc, order="layerwise")
        alloc = greedy_decision(p).allocation
        cost, mem, preds, cm_peak = _checkmate_inputs(p, alloc)
        fall, fmin = store_all_footprint(p), min_feasible_budget(p)
        for frac in (1.0, 0.75, 0.5):
            b = max(fmin, frac * fall)
            w = time.perf_counter()
            r = solve_checkpointing(p, Decision(alloc), "latency", CKPT, budget_bits=b)
            ours = time.perf_counter() - w
            w = time.perf_counter()
            # same activation saving for both: Checkmate's budget is its own store-all
            # peak minus what ours must save (fall - b)
            cm = solve_checkmate(cost, mem, preds, cm_peak - (fall - b), time_limit=120)
            cms = time.perf_counter() - w
            ratios.append(cms / max(ours, 1e-9))
            t.add_row(
                f"mlp chain L={L}", str(p.n_nodes), f"{frac:.0%}",
                f"{r.n_vars}/{r.n_binaries}", f"{ours:.3f}", r.status,
                f"{cm.n_vars}/{cm.n_binaries}", f"{cms:.3f}", cm.status, f"{cms / ours:.0f}×",
            )  # fmt: skip
    console.print(t)
    console.print(f"median speed ratio (Checkmate / ours, wall): {np.median(ratios):.0f}×")


def pareto_table(console: Console, quick: bool) -> None:
    t = Table(title="Exact Pareto fronts, ResNet-18 CIFAR b4 AdamW (one HiGHS model per front)")
    for c in ("objective", "points", "optimal", "wall s", "budget MiB range", "objective range"):
        t.add_column(c)
    p = resnet_problem()
    alloc = _allocation(p, quick)
    budgets = np.linspace(min_feasible_budget(p), store_all_footprint(p), 6 if quick else 12)
    # the front's time limit is shared by its points: 60 s per point as before (2 s quick)
    opts = CKPT.with_time((2.0 if quick else 60.0) * len(budgets))
    for obj in ("latency", "energy"):
        w = time.perf_counter()
        res = checkpoint_front(p, budgets, Decision(alloc), obj, opts)
        wall = time.perf_counter() - w
        vals = [r.objective for r in res if r.status == "optimal"]
        t.add_row(
            obj, str(len(res)), str(len(vals)), f"{wall:.2f}",
            f"{budgets[0] / 8 / 2**20:.2f}–{budgets[-1] / 8 / 2**20:.2f}",
            f"{min(vals):,.4g}–{max(vals):,.4g}",
        )  # fmt: skip
    console.print(t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="reduced run (under a minute), no joint")
    args = ap.parse_args()
    console = Console(width=200)
    main_table(console, args.quick)
    fusion_table(console, args.quick)
    pareto_table(console, args.quick)
    checkmate_table(console, args.quick)


if __name__ == "__main__":
    main()
