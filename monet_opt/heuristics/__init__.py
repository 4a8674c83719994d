"""Construction heuristics that give the exact formulations baselines and warm starts."""

from monet_opt.heuristics.allocation import greedy_allocation, greedy_decision
from monet_opt.heuristics.checkpoints import greedy_keep_set
from monet_opt.heuristics.stacks import greedy_stacks

__all__ = ["greedy_allocation", "greedy_decision", "greedy_keep_set", "greedy_stacks"]
