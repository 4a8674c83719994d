"""Cost model: latency (cycles) and energy (pJ) of every node on every core, transfers."""

from monet_opt.cost.op_cost import (
    OpCost,
    can_run,
    kind_runs_on,
    op_cost,
    spatial_unrolling,
    supported_kinds,
)
from monet_opt.cost.tables import CostTables, build_cost_tables, route

__all__ = [
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
