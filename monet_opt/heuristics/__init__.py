"""Construction heuristics that give the exact formulations baselines and warm starts."""

from monet_opt.heuristics.stacks import greedy_stacks

__all__ = ["greedy_stacks"]
