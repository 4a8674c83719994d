"""Benchmark: certified joint gaps and the GAs at equal wall time (issue 12, section 4).

Run ``python benchmarks/joint_gap.py [--instances edge,resnet50-quad,resnet50-hetero]
[--seconds S] [--ga-seeds N] [--quick]``.  Every instance is the edge example's setting
(AdamW, capacity memories, optimal fusion, optimal checkpointing at half the store-all
footprint, the config's schedule section) on a workload and a chip:

* ``edge``: ``examples/resnet18_cifar_edge.yaml`` as it is (time limit 60 s);
* ``resnet50-quad`` / ``resnet50-hetero``: torchvision's ResNet-50 at batch 8 through
  our PyTorch importer (needs ``monet-opt[torch]`` and torchvision; skipped with a
  message without them) on ``examples/hardware/tpu_like_quad_core.yaml`` and
  ``tpu_like_hetero.yaml`` (time limit 600 s).

For each it prints: nodes, the decision space, the MILP sizes summed over the exact
blocks, the wall time, the incumbent (re-simulated), the certified bound of
:mod:`monet_opt.formulations.joint_bound` with its parts, the gap, and the best GA
answer of each preset (Stream's, MONET's, ours; and MAGMA's allocation + order genome on
the allocation space) after the same wall time, over ``--ga-seeds`` seeds.  ``--seconds``
overrides every time limit; ``--quick`` runs the edge instance with 20 s and 2 seeds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from monet_opt.api import footprint_budget, load
from monet_opt.formulations.joint import solve_joint
from monet_opt.formulations.options import SolverOptions
from monet_opt.ga.engine import run_search
from monet_opt.ga.spaces import AllocationSpace, JointSpace
from monet_opt.schedule.problem import Problem

ROOT = Path(__file__).resolve().parents[1]
EDGE = ROOT / "examples" / "resnet18_cifar_edge.yaml"
CHIPS = {
    "resnet50-quad": ROOT / "examples" / "hardware" / "tpu_like_quad_core.yaml",
    "resnet50-hetero": ROOT / "examples" / "hardware" / "tpu_like_hetero.yaml",
}
GA_RUNS = (("stream", "joint"), ("monet", "joint"), ("default", "joint"), ("default", "magma"))


def _resnet50_problem(chip: Path) -> tuple[Problem, float | None, str] | str:
    """The ResNet-50 training problem on ``chip`` with the edge example's settings, or a
    reason it cannot be built here."""
    try:
        import torchvision  # noqa: F401

        from monet_opt.models.torch_import import from_torch  # noqa: F401
    except ImportError as exc:  # the torch extra is optional
        return f"skipped: {exc} (pip install 'monet-opt[torch]' torchvision)"
    import tempfile

    import yaml

    base = yaml.safe_load(EDGE.read_text())
    base["workload"] = {
        "torch": "torchvision.models:resnet50",
        "options": {"batch": 8, "input_shape": [8, 3, 224, 224]},
        "optimizer": "adamw",
        "precision": base["workload"]["precision"],
    }
    base["accelerator"] = str(chip)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "resnet50.yaml"
        cfg.write_text(yaml.safe_dump(base))
        inputs = load(cfg)
    return inputs.problem, footprint_budget(inputs).bits, inputs.config.fusion.mode


def _ga_best(problem: Problem, style: str, preset: str, seconds: float, seed: int,
             budget: float | None) -> float:  # fmt: skip
    space = AllocationSpace(problem, "magma") if style == "magma" else JointSpace(problem)
    r = run_search(space, ("latency",), preset=preset, seed=seed, time_limit=seconds,
                   budget_bits=None if style == "magma" else budget)  # fmt: skip
    return float(r.best)


def run(name: str, problem: Problem, budget: float | None, seconds: float, seeds: int,
        con: Console, ga_runs: tuple[tuple[str, str], ...] = GA_RUNS) -> list[str]:  # fmt: skip
    con.log(f"{name}: {problem.n_nodes} nodes, joint solve {seconds:g} s")
    t0 = time.perf_counter()
    r = solve_joint(problem, None, "latency", SolverOptions(time_limit=seconds),
                    fusion="optimal", checkpointing="optimal" if budget else "store-all",
                    budget_bits=budget)  # fmt: skip
    wall = time.perf_counter() - t0
    parts = ", ".join(f"{k} {v / 1e6:,.2f} M" for k, v in r.extra["bounds"].items())
    ga = []
    for preset, style in ga_runs:
        vals = [_ga_best(problem, style, preset, wall, s, budget) for s in range(seeds)]
        feas = [v for v in vals if v < 1e29]
        best = min(feas) if feas else float("inf")
        med = statistics.median(feas) if feas else float("inf")
        note = " [store-all: ignores the footprint budget]" if style == "magma" and budget else ""
        ga.append(f"{preset}/{style}: {best / 1e6:,.2f} M (median {med / 1e6:,.2f} M){note}")
        con.log(ga[-1])
    return [
        name,
        f"{problem.n_nodes:,}",
        "allocation × fusion × checkpointing × placement",
        f"{r.n_vars:,} / {r.n_cons:,}",
        f"{wall:.1f}",
        f"{r.simulated / 1e6:,.3f} M",
        f"{r.bound / 1e6:,.3f} M",
        f"{100 * r.gap:.2f} % ({r.status})",
        "\n".join(ga),
        parts,
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", default="edge,resnet50-quad,resnet50-hetero")
    ap.add_argument("--seconds", type=float, default=None, help="override the time limits")
    ap.add_argument("--ga-seeds", type=int, default=5)
    ap.add_argument(
        "--ga", default=",".join(f"{p}/{s}" for p, s in GA_RUNS),
        help="GA runs as preset/space (space: joint or magma)",
    )  # fmt: skip
    ap.add_argument("--quick", action="store_true", help="edge only, 20 s, 2 GA seeds")
    args = ap.parse_args()
    names = ["edge"] if args.quick else args.instances.split(",")
    seeds = 2 if args.quick else args.ga_seeds
    con = Console(width=220)
    t = Table(title="Certified joint gap (latency, cycles) and the GAs at equal wall time")
    cols = ("instance", "nodes", "decision", "vars / cons", "time s", "incumbent", "bound",
            "gap", "best GA at equal time (min over seeds)", "bound parts")  # fmt: skip
    for col in cols:
        t.add_column(col)
    for name in names:
        if name == "edge":
            inputs = load(EDGE)
            problem, budget = inputs.problem, footprint_budget(inputs).bits
            limit = 20.0 if args.quick else 60.0
        elif name in CHIPS:
            built = _resnet50_problem(CHIPS[name])
            if isinstance(built, str):
                con.print(f"{name}: {built}")
                continue
            problem, budget, _ = built
            limit = 600.0
        else:
            raise SystemExit(f"unknown instance {name!r}; known: edge, {', '.join(CHIPS)}")
        ga_runs = tuple(tuple(r.split("/", 1)) for r in args.ga.split(","))
        t.add_row(*run(name, problem, budget, args.seconds or limit, seeds, con, ga_runs))
    con.print(t)


if __name__ == "__main__":
    main()
