"""Cost model: latency (cycles) and energy (pJ) of every node on every core, transfers."""

from monet_opt.cost.op_cost import OpCost, can_run, op_cost, spatial_unrolling
from monet_opt.cost.tables import CostTables, build_cost_tables, route

__all__ = [
    "OpCost",
    "CostTables",
    "build_cost_tables",
    "can_run",
    "op_cost",
    "route",
    "spatial_unrolling",
]
