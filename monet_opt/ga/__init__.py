"""Genetic-algorithm baseline (DEAP) for the core allocation."""

from monet_opt.ga.allocation import OBJECTIVES, GAResult, decode, encode, run_ga

__all__ = ["GAResult", "run_ga", "decode", "encode", "OBJECTIVES"]
