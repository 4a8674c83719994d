"""Benchmark: exact multi-level rematerialization against the Checkmate MILP and single level.

Run ``python benchmarks/remat_multilevel.py [--quick] [--checkmate-time-limit S]`` from
the repository root.  Prints two tables.

1. Multi-level (:mod:`monet_opt.formulations.remat_multilevel`: chain DP or A* search)
   against Checkmate's MILP (:mod:`monet_opt.formulations.checkmate`, HiGHS) on the same
   abstract instances: instance, nodes, budget, multi-level seconds and optimum,
   Checkmate seconds, status and optimum, speedup (Checkmate / multi-level wall time),
   and the single-level optimum (MONET's bit vector,
   :mod:`monet_opt.formulations.checkpointing`, budget ``s`` activations) where an
   equivalent instance exists, counted like the multi-level optimum: ``L + 1`` plus its
   extra forward steps.
   Instances: Revolve chains of L = 10, 20, 40 layers (``revolve_chain(L + 1)``, budget
   ``s + 2`` for ``s`` snapshots; the optimum is the total number of forward
   computations, ``T(L + 1, s) + 1``) and random training DAGs (the generator of
   ``tests/formulations/test_checkmate.py``).  A Checkmate time is a lower bound when its
   status is ``time_limit``.
2. The recompute work of single-level and multi-level checkpointing on the homogeneous
   chains (extra forward steps over one forward pass, budget of ``s`` activations for
   the single-level model), L up to 60.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monet_opt.formulations.checkmate import solve_checkmate  # noqa: E402
from monet_opt.formulations.checkpointing import revolve_steps, solve_checkpointing  # noqa: E402
from monet_opt.formulations.remat_multilevel import (  # noqa: E402
    revolve_chain,
    solve_remat,
    validate_schedule,
)
from monet_opt.models.ir import Phase  # noqa: E402
from tests.formulations.test_checkmate import training_dag  # noqa: E402
from tests.formulations.test_checkpointing import chain_problem  # noqa: E402


def single_level_extra(layers: int, snapshots: int) -> int:
    """Extra forward steps of the single-level optimum, budget ``snapshots`` activations."""
    p, unit = chain_problem(layers)
    fwd = [i for i, op in enumerate(p.nodes) if op.op_type == "Gemm" and op.phase == Phase.FORWARD]
    lat = float(p.costs.latency[fwd[0], 0])
    r = solve_checkpointing(p, budget_bits=snapshots * unit)
    return round(r.objective / lat)


def fmt(x: float) -> str:
    return "inf" if x == float("inf") else f"{x:g}"


def speed_table(console: Console, quick: bool, limit: float) -> None:
    t = Table(title="Multi-level rematerialization (exact) vs Checkmate MILP, same instances")
    for c in ("instance", "n", "budget", "multi s", "multi opt", "method", "Checkmate s",
              "Checkmate status", "Checkmate opt", "speedup", "single-level opt"):  # fmt: skip
        t.add_column(c)
    cases = []
    chains = ((10, (2, 4)), (20, (4,))) if quick else ((10, (2, 4)), (20, (4,)), (40, (4,)))
    for layers, ss in chains:
        for s in ss:
            g = revolve_chain(layers + 1)
            single = layers + 1 + single_level_extra(layers, s)
            cases.append((f"Revolve chain L={layers}, s={s}", g, float(s + 2), single))
    dags = ((6, (0, 1, 5)), (8, (2,))) if quick else ((6, (0, 1, 5)), (8, (2, 3)), (10, (4,)))
    for n_fwd, seeds in dags:
        for seed in seeds:
            g = training_dag(seed, n_fwd)
            cost, mem, preds = g
            need = max(mem[i] + sum(mem[p] for p in preds[i]) for i in range(len(mem)))
            b = float(need + (sum(mem) - need) // 3)
            cases.append((f"training DAG seed={seed}, {n_fwd} fwd", g, b, None))
    speedups = []
    for name, (cost, mem, preds), b, single in cases:
        w = time.perf_counter()
        r = solve_remat(cost, mem, preds, b)
        ms = time.perf_counter() - w
        if r.status == "optimal":
            validate_schedule(r.schedule, cost, mem, preds, b)
        w = time.perf_counter()
        cm = solve_checkmate(cost, mem, preds, b, time_limit=limit)
        cs = time.perf_counter() - w
        speedups.append(cs / ms)
        t.add_row(
            name, str(len(cost)), fmt(b), f"{ms:.4f}", fmt(r.objective), r.method, f"{cs:.2f}",
            cm.status, fmt(cm.objective), f"{cs / ms:,.0f}x", "" if single is None else str(single),
        )  # fmt: skip
        console.print(f"  done: {name}", style="dim")
    console.print(t)
    console.print(f"smallest speedup: {min(speedups):,.0f}x")


def gap_table(console: Console, quick: bool) -> None:
    t = Table(title="Recompute work (extra forward steps) on homogeneous chains of L layers")
    for c in ("L", "s", "single-level", "multi-level = Revolve", "ratio", "multi-level s"):
        t.add_column(c)
    for layers in (10, 20, 40) if quick else (10, 20, 40, 60):
        for s in (2, 4, 8):
            single = single_level_extra(layers, s)
            w = time.perf_counter()
            r = solve_remat(*revolve_chain(layers + 1), s + 2)
            ms = time.perf_counter() - w
            multi = round(r.recompute_cost)
            assert multi == revolve_steps(layers + 1, s) - layers
            t.add_row(str(layers), str(s), str(single), str(multi), f"{single / multi:.2f}",
                      f"{ms:.3f}")  # fmt: skip
    console.print(t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller instances")
    ap.add_argument("--checkmate-time-limit", type=float, default=600.0)
    args = ap.parse_args()
    console = Console(width=200)
    gap_table(console, args.quick)
    speed_table(console, args.quick, args.checkmate_time_limit)


if __name__ == "__main__":
    main()
