"""Cost model: latency (cycles) and energy (pJ) of every node on every core, under the
capacity of the cores' memories (in-node DRAM streaming), and core-to-core transfers."""

from monet_opt.cost.op_cost import (
    INFEASIBLE,
    OpCost,
    can_run,
    kind_runs_on,
    op_cost,
    spatial_unrolling,
    supported_kinds,
)
from monet_opt.cost.tables import CostTables, build_cost_tables, route

__all__ = [
    "INFEASIBLE",
    "OpCost",
    "CostTables",
    "build_cost_tables",
    "can_run",
    "kind_runs_on",
    "supported_kinds",
    "op_cost",
    "route",
    "spatial_unrolling",
]
