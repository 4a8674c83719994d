"""Benchmark: single- against multi-level recomputation in ``solve`` (``checkpointing.levels``).

Run ``python benchmarks/remat_levels.py [--seconds S]`` from the repository root.  For
each instance and budget it runs ``monet_opt.api.solve`` with ``checkpointing.levels:
multi`` and prints the two candidates of
:func:`monet_opt.formulations.remat_levels.solve_multilevel`: the joint solver's
single-level answer written as a schedule and the least-work multi-level schedule, each
re-simulated (latency in cycles, whether it meets the multi-level budget and every
memory capacity, fused stacks kept), the one chosen, the certified bound and the gap.

Instances: an 8-layer MLP (512 wide, batch 16) on the TPU-like quad core with capacity
memories; ``examples/gpt2_mini_datacenter.yaml``; ``examples/resnet18_cifar_edge.yaml``
(fusion optimal).  Budgets are fractions of the store-all peak in the multi-level
accounting.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from monet_opt import api

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _mlp(fraction: float, seconds: float) -> dict[str, Any]:
    return {
        "workload": {"model": "mlp", "options": {"batch": 16, "sizes": [512] * 9}},
        "accelerator": str(EXAMPLES / "hardware" / "tpu_like_quad_core.yaml"),
        "schedule": {"memory": "capacity"},
        "solver": {"time_limit_s": seconds},
        "checkpointing": {"mode": "optimal", "budget_fraction": fraction, "levels": "multi"},
    }


def _example(name: str, fraction: float, seconds: float) -> dict[str, Any]:
    cfg = yaml.safe_load((EXAMPLES / name).read_text())
    cfg["accelerator"] = str(EXAMPLES / cfg["accelerator"])
    cfg.setdefault("solver", {})["time_limit_s"] = seconds
    cfg["checkpointing"] = {"mode": "optimal", "budget_fraction": fraction, "levels": "multi"}
    return cfg


def _cand(c: dict[str, Any] | None) -> str:
    if c is None:
        return "—"
    fits = "" if c["fits"] else ", over budget"
    return f"{c['value']:,.0f} ({c['stacks']} stacks{fits})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="time limit per solve")
    args = ap.parse_args()
    s = args.seconds
    runs = [
        ("MLP 8x512 b16, quad core", 0.4, _mlp(0.4, min(s, 3.0))),
        ("GPT-2 mini example", 0.5, _example("gpt2_mini_datacenter.yaml", 0.5, s)),
        ("GPT-2 mini example", 0.7, _example("gpt2_mini_datacenter.yaml", 0.7, s)),
        ("ResNet-18 CIFAR edge example", 0.6, _example("resnet18_cifar_edge.yaml", 0.6, s)),
    ]
    t = Table(title="checkpointing.levels: multi — the two candidates (latency, cycles)")
    for col in ("instance", "budget", "single level", "multi level", "chosen", "answer",
                "bound", "gap", "schedule", "wall s"):  # fmt: skip
        t.add_column(col)
    for name, frac, cfg in runs:
        w = time.perf_counter()
        m = api.solve(cfg).milp
        ex = m.extra
        c = ex.get("candidates", {})
        t.add_row(
            name, f"{frac:g}", _cand(c.get("single_level")), _cand(c.get("multi_level")),
            str(ex.get("chosen")), f"{m.simulated:,.0f}", f"{m.bound:,.0f}", f"{m.gap:.2%}",
            f"{ex.get('remat_method')} ({ex.get('remat_space')})",
            f"{time.perf_counter() - w:.1f}",
        )  # fmt: skip
    Console(width=220).print(t)


if __name__ == "__main__":
    main()
