"""Benchmark: the GA's gap to the exact optimum at equal wall time (issue 4).

Run ``python benchmarks/ga_vs_milp.py [--config examples/resnet18_cifar_edge.yaml]
[--seconds 10] [--seeds 5] [--quick]``.  On ResNet-18 CIFAR training (the edge example:
AdamW, batch 4, TPU-like quad core) it prints, for every decision space of
:mod:`monet_opt.api.compare`:

1. the MILP: value, status, bound and wall time (build + solve), and the same MILP
   warm-started from the best GA answer;
2. the GA (5 seeds, median and range): best-so-far at the MILP's wall time (equal wall
   time), at 1 s, and at the end of the budget (``--seconds`` per run), with the gap to
   the MILP value ``(GA - MILP) / MILP``; evaluations per second;
3. the Pareto comparison of checkpointing: exact ε-constraint front vs NSGA-II with
   MONET's preset (20 × 6) and with 20 × 50 generations, as hypervolume ratios.

Every number is re-simulated by the same evaluator.  Nothing here is tuned: the GA
presets are those of :data:`monet_opt.ga.engine.PRESETS`.  The HiGHS settings are the
config's ``solver`` section; the time limit applies to each exact solve (for the joint
space: to the whole iterated solve).

``--quick`` runs a reduced version (under a minute): 2 seeds, 2 s GA runs, 10 s per
exact solve, 20 x 10 generations instead of 20 x 50 for the long NSGA-II runs.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from rich.console import Console
from rich.table import Table

from monet_opt.api import footprint_budget, load
from monet_opt.api.compare import CompareSettings, best_at, compare_problem, gap_to
from monet_opt.formulations.options import SolverOptions
from monet_opt.ga.engine import run_search
from monet_opt.ga.spaces import CheckpointSpace
from monet_opt.indicators import pareto_summary

ROOT = Path(__file__).resolve().parents[1]


def _pct(v: float | None) -> str:
    return "—" if v is None or v != v or abs(v) == float("inf") else f"{100 * v:+.2f} %"


def _stat(values: list[float], ref: float) -> str:
    vals = [v for v in values if v != float("inf")]
    if not vals:
        return f"none yet (0/{len(values)})"
    med = statistics.median(vals)
    lo, hi = min(vals), max(vals)
    tail = "" if len(vals) == len(values) else f", {len(vals)}/{len(values)} runs"
    return f"{_pct(gap_to(med, ref))} [{_pct(gap_to(lo, ref))}, {_pct(gap_to(hi, ref))}]{tail}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "examples" / "resnet18_cifar_edge.yaml"))
    ap.add_argument("--seconds", type=float, default=None, help="GA budget per run (10; quick 2)")
    ap.add_argument("--seeds", type=int, default=None, help="GA seeds (5; quick 2)")
    ap.add_argument("--processes", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="reduced run (under a minute)")
    args = ap.parse_args()
    if args.seconds is None:
        args.seconds = 2.0 if args.quick else 10.0
    if args.seeds is None:
        args.seeds = 2 if args.quick else 5
    long_generations = 10 if args.quick else 50

    inputs = load(args.config)
    cfg, graph, acc, problem = inputs.config, inputs.graph, inputs.accelerator, inputs.problem
    budget = footprint_budget(inputs).bits  # None unless checkpointing.mode is optimal
    st = CompareSettings(
        objective="latency",
        seeds=tuple(range(args.seeds)),
        budget_seconds=args.seconds,
        processes=args.processes,
        options=SolverOptions(
            time_limit=10.0 if args.quick else cfg.solver.time_limit_s,
            mip_gap=cfg.solver.mip_gap,
        ),
        budget_bits=budget,
        max_stack=cfg.fusion.max_stack,
    )
    con = Console(width=200)
    con.print(
        f"[bold]{graph.name} on {acc.name}[/]: {problem.n_nodes} nodes, "
        f"{len(problem.flexible)} flexible, {len(problem.checkpoint_tensors)} checkpoint "
        f"candidates; GA {args.seconds:g} s per run x {args.seeds} seeds"
    )
    res = compare_problem(problem, st, progress=lambda stage, best, bound: con.log(stage))

    t = Table(title="GA gap to the MILP value: median \\[min, max] over seeds")
    for col in (
        "space",
        "metric",
        "MILP",
        "status",
        "bound",
        "MILP s",
        "warm s",
        "GA @ MILP s",
        "GA @ 1 s",
        f"GA @ {args.seconds:g} s",
        "evals/s",
    ):
        t.add_column(col, justify="left" if col in ("space", "metric", "status") else "right")
    for s in res.spaces:
        ref = s.milp_value
        at = {
            "milp": [best_at(r.history, s.milp_seconds) for r in s.runs],
            "1s": [best_at(r.history, 1.0) for r in s.runs],
            "end": [r.best for r in s.runs],
        }
        rate = statistics.median(r.evaluations / max(r.seconds, 1e-9) for r in s.runs)
        t.add_row(
            s.space,
            s.metric,
            f"{ref:,.0f}",
            "optimal" if s.proven_optimal else s.milp.status,
            f"{s.bound:,.0f}",
            f"{s.milp_seconds:.2f}",
            "—" if s.warm_seconds is None else f"{s.warm_seconds:.2f}",
            _stat(at["milp"], ref),
            _stat(at["1s"], ref),
            _stat(at["end"], ref),
            f"{rate:,.0f}",
        )
    con.print(t)

    pa = res.pareto or {}
    alloc = res.space("allocation").milp.decision.allocation
    space = CheckpointSpace(problem, alloc)
    long_fronts = []
    for seed in st.seeds:
        r = run_search(
            space,
            ("memory", "recompute"),
            preset="monet",
            generations=long_generations,
            seed=seed,
            processes=args.processes,
        )
        long_fronts.append(
            {"seed": seed, "points": [list(v) for v, _ in r.front], "evaluations": r.evaluations}
        )
    long = pareto_summary({**pa, "ga_fronts": long_fronts, "reference": None})
    short = pa.get("summary") or {}
    p = Table(title="Checkpointing Pareto front: NSGA-II hypervolume / exact hypervolume")
    for col in ("NSGA-II budget", "evals per seed", "ratio median", "range", "union of seeds"):
        p.add_column(col, justify="right")
    for label, sm, fronts in (
        ("MONET preset 20 x 6", short, pa.get("ga_fronts", [])),
        (f"20 x {long_generations}", long, long_fronts),
    ):
        if not sm:
            continue
        ev = statistics.median(f["evaluations"] for f in fronts) if fronts else 0
        p.add_row(
            label,
            f"{ev:.0f}",
            f"{sm['ratio_median']:.3f}",
            f"{sm['ratio_min']:.3f}–{sm['ratio_max']:.3f}",
            f"{sm['ratio_union']:.3f}",
        )
    con.print(p)
    con.print(
        f"exact front: {len(pa.get('exact', []))} points in {pa.get('exact_seconds', 0):.2f} s"
        f" (all optimal: {pa.get('exact_all_optimal')}); total {res.wall_seconds:.0f} s"
    )


if __name__ == "__main__":
    main()
