"""Genetic-algorithm baseline for the core allocation alone (Stream-style, per node).

:func:`run_ga` is the allocation GA of ``monet-opt solve --method ga``: the generational
GA of :mod:`monet_opt.ga.engine` (tournament selection, crossover, "reassign a gene to
another allowed core" mutation, elitism) over :class:`~monet_opt.ga.spaces.AllocationSpace`
with one gene per *flexible* node (a node with more than one allowed core), seeded with
the greedy earliest-finish allocation so it never returns anything worse.  The fitness
is the evaluator every MILP result is re-simulated with, so GA and MILP numbers are
directly comparable.  Reproducibility and parallel fitness are those of
:func:`monet_opt.ga.engine.run_search`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from monet_opt.ga.engine import ProgressCallback, SearchResult, run_search
from monet_opt.ga.spaces import AllocationSpace
from monet_opt.schedule.types import Decision, Schedule

if TYPE_CHECKING:  # pragma: no cover
    from monet_opt.schedule.problem import Problem

__all__ = ["GAResult", "run_ga", "OBJECTIVES", "decode", "encode"]

#: Objectives the GA minimizes.
OBJECTIVES: tuple[str, ...] = ("latency", "energy", "edp")


def decode(problem: Problem, genome: Sequence[int]) -> tuple[int, ...]:
    """Core id per node for a genome (one allowed-core index per flexible node)."""
    return AllocationSpace(problem, "node").allocation(genome)


def encode(problem: Problem, allocation: Sequence[int]) -> list[int]:
    """Genome of an allocation (core id per node).

    Raises
    ------
    ValueError
        If a flexible node is allocated to a core it is not allowed on.
    """
    return [int(g) for g in AllocationSpace(problem, "node").encode(Decision(tuple(allocation)))]


@dataclass(frozen=True)
class GAResult:
    """Outcome of :func:`run_ga`.

    Parameters
    ----------
    decision
        Best allocation found (``priority=None``: the evaluator's default order).
    schedule
        Full :func:`~monet_opt.schedule.evaluator.evaluate` of ``decision``.
    objective
        ``"latency"``, ``"energy"`` or ``"edp"``.
    best
        Best objective value (cycles, pJ or pJ·cycles).
    initial
        Objective value of the seeded greedy allocation.
    history
        ``(evaluations, seconds, best)`` after the initial population and every generation.
    evaluations, seconds, seed, generations, population
        Distinct genomes evaluated, wall time of the search, RNG seed, generations
        completed, population size.
    stop_reason
        ``"generations"``, ``"max_evals"``, ``"time_limit"``, ``"exhausted"``,
        ``"stalled"`` or ``"no_choice"`` (no flexible node: nothing to search).
    """

    decision: Decision
    schedule: Schedule
    objective: str
    best: float
    initial: float
    history: tuple[tuple[int, float, float], ...]
    evaluations: int
    seconds: float
    seed: int
    generations: int
    population: int
    stop_reason: str
    params: dict[str, Any] = field(default_factory=dict)
    method: str = "ga"

    @classmethod
    def from_search(cls, problem: Problem, objective: str, r: SearchResult) -> GAResult:
        """Wrap a single-objective :class:`~monet_opt.ga.engine.SearchResult`."""
        from monet_opt.schedule.evaluator import evaluate

        return cls(
            decision=r.decision,
            schedule=evaluate(problem, r.decision),
            objective=objective,
            best=r.values[0],
            initial=r.initial[0],
            history=r.history,
            evaluations=r.evaluations,
            seconds=r.seconds,
            seed=r.seed,
            generations=r.generations,
            population=int(r.params.get("population", 0)),
            stop_reason=r.stop_reason,
            params=r.params,
        )

    @property
    def simulated(self) -> float:
        """Objective value re-computed from the full schedule."""
        s = self.schedule
        lat, en = float(s.latency), float(s.energy.total)
        return {"latency": lat, "energy": en}.get(self.objective, lat * en)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able summary (without the schedule)."""
        return {
            "method": self.method,
            "objective": self.objective,
            "best": self.best,
            "simulated": self.simulated,
            "initial": self.initial,
            "improvement_over_initial": (
                1.0 - self.best / self.initial
                if self.initial and math.isfinite(self.initial)
                else None
            ),
            "evaluations": self.evaluations,
            "seconds": self.seconds,
            "seed": self.seed,
            "generations": self.generations,
            "population": self.population,
            "stop_reason": self.stop_reason,
            "params": dict(self.params),
            "allocation": list(self.decision.allocation),
            "history": [list(h) for h in self.history],
        }


def run_ga(
    problem: Problem,
    objective: str = "latency",
    *,
    population: int = 32,
    generations: int = 30,
    cx_prob: float = 0.7,
    mut_prob: float = 0.3,
    seed: int = 0,
    processes: int = 1,
    max_evals: int | None = None,
    time_limit: float | None = None,
    crossover: str = "uniform",
    tournament_size: int = 3,
    elite: int = 2,
    mut_indpb: float | None = None,
    callback: ProgressCallback | None = None,
) -> GAResult:
    """Search the core allocation with a genetic algorithm.

    Parameters
    ----------
    problem
        The scheduling problem (:func:`monet_opt.schedule.problem.build_problem`).
    objective
        ``"latency"`` (cycles), ``"energy"`` (pJ) or ``"edp"`` (pJ·cycles).
    population, generations
        Population size (>= 2) and maximum number of generations (>= 0).
    cx_prob, mut_prob
        Probability that a pair is crossed over / that an offspring is mutated.
    seed
        Seeds ``random`` and ``numpy`` (their states are restored on return).
    processes
        Fitness worker processes; 1 evaluates serially in this process.
    max_evals, time_limit
        Optional budgets in evaluator calls and wall-clock seconds.
    crossover
        ``"uniform"`` or ``"two_point"``.
    tournament_size, elite
        Tournament size of the selection; best individuals kept unchanged.
    mut_indpb
        Per-gene reassignment probability (default ``1/len(genome)``, at least one gene).
    callback
        ``callback(generation, evaluations, seconds, best)`` after every generation.

    Raises
    ------
    ValueError
        On an unknown objective or crossover, or out-of-range parameters.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    if generations < 0:
        raise ValueError(f"generations must be >= 0, got {generations}")
    r = run_search(
        AllocationSpace(problem, "node"),
        (objective,),
        algorithm="ga",
        population=population,
        generations=generations,
        cx_prob=cx_prob,
        mut_prob=mut_prob,
        indpb=mut_indpb,
        tournament_size=tournament_size,
        elite=elite,
        crossover=crossover,
        seed=seed,
        processes=processes,
        max_evals=max_evals,
        time_limit=time_limit,
        callback=callback,
    )
    return GAResult.from_search(problem, objective, r)
