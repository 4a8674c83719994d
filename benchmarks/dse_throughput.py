"""Throughput of ``monet-opt dse`` on MONET's edge space, and NSGA-II against random.

Run (2 cores; the full measurement takes a few minutes)::

    python benchmarks/dse_throughput.py                      # 1000 fast points
    python benchmarks/dse_throughput.py --points 200 --hv-budget 60   # quicker

It prints two tables:

1. points/s of a random sample of ``examples/dse/edge_space.yaml`` (ResNet-18 CIFAR
   training, batch 4) with the ``fast`` inner mode and with ``exact`` at a 2 s limit per
   point, on ``--workers`` processes, wall time including the pool start; and the time of
   MONET's 10,000-point random edge sample extrapolated from the fast rate (said so). The
   space's area constraint is dropped here, so that every point runs the workload, as
   MONET's did (with it, designs over the area bound are not run and the sweep is
   faster).
2. the hypervolume (latency, energy, area, each divided by a reference point common to
   all runs: 1.1 × the worst value seen) of NSGA-II and random at the same number of
   evaluations, for ``--seeds`` seeds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monet_opt.api.dse import run_dse  # noqa: E402
from monet_opt.dse.runner import reference_point, sweep_hypervolume  # noqa: E402
from monet_opt.dse.space import DesignSpace, space_from_dict  # noqa: E402
from monet_opt.safe_yaml import load_yaml  # noqa: E402

SPACE = ROOT / "examples" / "dse" / "edge_space.yaml"
MONET_POINTS = 10_000


def _space(mode: str, time_limit: float = 2.0) -> DesignSpace:
    data: dict[str, Any] = load_yaml(SPACE, source=SPACE)
    data["constraints"] = [{"memory_fits": True}]
    data["inner"] = {"mode": mode, "time_limit_s": time_limit}
    return space_from_dict(data, source=SPACE)


def _timed(space: DesignSpace, budget: int, sampler: str, seed: int, workers: int,
           tmp: Path) -> tuple[float, Any]:  # fmt: skip
    out = tmp / f"{space.inner.mode}-{sampler}-{seed}-{budget}"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    run = run_dse(space, budget=budget, sampler=sampler, seed=seed, workers=workers, out_dir=out)
    return time.perf_counter() - t0, run


def _cache_line(n: int, tmp: Path) -> None:
    """Hit rate of the per-(node, core type) mapping cache over ``n`` fast points
    evaluated in this process (``workers=1``)."""
    from monet_opt.cost.mapping import best_mapping

    best_mapping.cache_clear()
    sec, _ = _timed(_space("fast"), n, "random", 1, 1, tmp)
    ci = best_mapping.cache_info()
    total = ci.hits + ci.misses
    print(
        f"\nper-(node, core type) mapping cache over {n} fast points in one process: "
        f"{ci.hits:,} hits / {total:,} look-ups ({100 * ci.hits / max(total, 1):.1f} %), "
        f"{n / sec:.2f} points/s on 1 worker"
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1000, help="fast points (default 1000)")
    ap.add_argument("--exact-points", type=int, default=10, help="exact points (default 10)")
    ap.add_argument("--time-limit", type=float, default=2.0, help="exact limit per point, s")
    ap.add_argument("--hv-budget", type=int, default=100, help="evaluations per HV run")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument(
        "--cache-points", type=int, default=100, help="points in this process (mapping cache)"
    )
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="dse-bench-"))
    try:
        rows = []
        for mode, n in (("fast", args.points), ("exact", args.exact_points)):
            if n <= 0:
                continue
            sec, run = _timed(_space(mode, args.time_limit), n, "random", 0, args.workers, tmp)
            c = run.summary["counts"]
            rows.append((mode, n, sec, n / sec, c))
        if rows:
            print(f"\n## DSE throughput: {SPACE.name}, random sample, {args.workers} workers\n")
            print("| inner mode | points | wall s | points/s | ok / infeasible / failed |")
            print("|---|---:|---:|---:|---|")
        for mode, n, sec, rate, c in rows:
            label = f"exact ({args.time_limit:g} s limit)" if mode == "exact" else mode
            counts = f"{c.get('ok', 0)} / {c.get('infeasible', 0)} / {c.get('failed', 0)}"
            print(f"| {label} | {n} | {sec:.1f} | {rate:.2f} | {counts} |")
        fast = next((r for r in rows if r[0] == "fast"), None)
        if fast is not None:
            est = MONET_POINTS / fast[3]
            how = "measured" if fast[1] >= MONET_POINTS else f"extrapolated from {fast[1]} points"
            print(
                f"\nMONET's {MONET_POINTS:,}-point random edge sample, fast mode: "
                f"{est / 60:.1f} min ({how}; target <= 60 min, >= 2.8 points/s)"
            )
        if args.cache_points > 0:
            _cache_line(args.cache_points, tmp)
        if args.hv_budget > 0 and args.seeds > 0:
            sp = _space("fast")
            runs: dict[tuple[str, int], Any] = {}
            for seed in range(args.seeds):
                for sampler in ("random", "nsga2"):
                    _, runs[sampler, seed] = _timed(
                        sp, args.hv_budget, sampler, seed, args.workers, tmp
                    )
            every = [r for run in runs.values() for r in run.records]
            ref = reference_point(every, sp.objectives)
            print(
                f"\n## NSGA-II vs random, {args.hv_budget} evaluations each; hypervolume of "
                f"({', '.join(sp.objectives)}) / reference (1.1 x worst seen)\n"
            )
            print("| seed | random | nsga2 |")
            print("|---:|---:|---:|")
            hv: dict[str, list[float]] = {"random": [], "nsga2": []}
            for seed in range(args.seeds):
                vals = []
                for sampler in ("random", "nsga2"):
                    v = sweep_hypervolume(runs[sampler, seed].records, sp.objectives, ref or [])
                    hv[sampler].append(v)
                    vals.append(v)
                print(f"| {seed} | {vals[0]:.4f} | {vals[1]:.4f} |")
            print(
                f"| mean | {statistics.mean(hv['random']):.4f} | "
                f"{statistics.mean(hv['nsga2']):.4f} |"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
