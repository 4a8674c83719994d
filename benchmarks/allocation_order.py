"""Benchmark: core allocation and program order π together (allocation_order).

Run ``python benchmarks/allocation_order.py [--seconds 60] [--quick]``.  For each
instance it prints the nodes, the master MILP's size, the wall time, the incumbent
(re-simulated makespan, cycles), the bound valid over every allocation and every
program order π, the gap, and the fixed-π allocation MILP's value (the fast mode,
``solver.order: fixed``) on the default π.

Instances:

* ``resnet18-cifar edge``: the base problem of ``examples/resnet18_cifar_edge.yaml``
  (AdamW, batch 4, TPU-like quad core, memory capacities, layer-wise π);
* ``gpt2-small``: a GPT-2 small training step (12 layers, seq 1024, batch 1, AdamW) on
  the same accelerator without memory capacities (its DRAM cannot hold the step's
  weights and optimizer state, so the capacity semantics reject it), HEFT π.

``--quick`` gives each instance 10 s instead of 60 s.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from monet_opt.api.inputs import load
from monet_opt.config import config_from_dict
from monet_opt.formulations.allocation_order import solve_allocation_order
from monet_opt.formulations.options import SolverOptions

ROOT = Path(__file__).resolve().parents[1]


def _instances():
    yield "resnet18-cifar edge", load(ROOT / "examples" / "resnet18_cifar_edge.yaml").problem
    cfg = {
        "workload": {"model": "gpt2-small", "options": {"batch": 1}, "optimizer": "adamw"},
        "accelerator": "hardware/tpu_like_quad_core.yaml",
        "schedule": {"order": "heft", "memory": "unbounded"},
    }
    yield "gpt2-small (unbounded)", load(config_from_dict(cfg, base_dir=ROOT / "examples")).problem


def _m(v: float) -> str:
    return f"{v / 1e6:.3f} M"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="time limit per instance")
    ap.add_argument("--quick", action="store_true", help="10 s per instance")
    args = ap.parse_args()
    seconds = 10.0 if args.quick else args.seconds
    table = Table(title=f"allocation and program order π, {seconds:g} s per instance")
    for col in (
        "instance",
        "nodes",
        "vars / cons",
        "time s",
        "incumbent",
        "bound",
        "gap",
        "fixed-π value",
        "status",
    ):
        table.add_column(col, justify="left" if col == "instance" else "right")
    for name, pb in _instances():
        t0 = time.perf_counter()
        r = solve_allocation_order(pb, None, "latency", SolverOptions(time_limit=seconds))
        secs = time.perf_counter() - t0
        table.add_row(
            name,
            f"{pb.n_nodes} ({len(pb.flexible)} flexible)",
            f"{r.n_vars:,} / {r.n_cons:,}",
            f"{secs:.1f}",
            _m(r.simulated),
            _m(r.bound),
            f"{100 * r.gap:.2f} %",
            _m(float(r.extra["fixed_order_value"])),
            r.status,
        )
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
