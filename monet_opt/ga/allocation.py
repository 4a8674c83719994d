"""Genetic-algorithm baseline for the core allocation (Stream-style).

The genome holds one gene per *flexible* node (a node with more than one allowed
core): the index of its core in ``problem.allowed[node]``.  Nodes with a single allowed
core are fixed.  The fitness is :func:`monet_opt.schedule.evaluator.evaluate_fast` --
the same list-scheduling evaluator the MILP results are re-simulated with -- so GA and
MILP numbers are directly comparable.

Operators: tournament selection, uniform or two-point crossover, "reassign a gene to a
random allowed core" mutation, and elitism through a hall of fame.  The initial
population is seeded with :meth:`Problem.default_decision` (the greedy
earliest-finish allocation), so the GA never returns anything worse than it.

Reproducibility: the global ``random`` and ``numpy`` generators are seeded from
``seed`` (their previous states are restored on return); fitness values do not depend
on which process computes them, so ``processes > 1`` returns exactly the same result as
``processes=1`` for a given seed.  A ``time_limit`` makes the number of generations
(and so the result) depend on the machine speed; ``max_evals`` does not.

Parallel fitness uses :class:`concurrent.futures.ProcessPoolExecutor` with the
``fork`` start method: the problem (frozen dataclasses holding ``mappingproxy`` objects,
which cannot be pickled) is handed to the workers by the initializer and inherited
through ``fork``; only genomes (lists of ints) and floats cross process boundaries.
"""

from __future__ import annotations

import math
import multiprocessing
import random
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from deap import base, creator, tools

from monet_opt.schedule.types import Decision, Schedule

if TYPE_CHECKING:  # pragma: no cover
    from monet_opt.schedule.problem import Problem

__all__ = ["GAResult", "run_ga", "OBJECTIVES", "decode", "encode"]

#: Objectives the GA minimizes.
OBJECTIVES: tuple[str, ...] = ("latency", "energy", "edp")

# DEAP creator classes must be created exactly once, at module level: re-creating them
# replaces the classes (breaking isinstance and pickling of existing individuals).
if not hasattr(creator, "FitnessMin"):
    creator.create("FitnessMin", base.Fitness, weights=(-1.0,))
if not hasattr(creator, "Individual"):
    creator.create("Individual", list, fitness=creator.FitnessMin)

#: ``callback(generation, evaluations, seconds, best)`` called after every generation.
ProgressCallback = Callable[[int, int, float, float], None]


# -- genome <-> decision ------------------------------------------------------------------
def decode(problem: Problem, genome: Sequence[int]) -> tuple[int, ...]:
    """Core id per node for a genome (one allowed-core index per flexible node)."""
    alloc = [a[0] for a in problem.allowed]
    for gene, node in zip(genome, problem.flexible, strict=True):
        alloc[node] = problem.allowed[node][gene]
    return tuple(alloc)


def encode(problem: Problem, allocation: Sequence[int]) -> list[int]:
    """Genome of an allocation (core id per node).

    Raises
    ------
    ValueError
        If a flexible node is allocated to a core it is not allowed on.
    """
    genome = []
    for node in problem.flexible:
        allowed = problem.allowed[node]
        core = allocation[node]
        if core not in allowed:
            raise ValueError(
                f"node {problem.node_names[node]!r} allocated to core {core}, "
                f"allowed cores: {list(allowed)}"
            )
        genome.append(allowed.index(core))
    return genome


# -- fitness (shared by the serial path and the worker processes) -------------------------
class _Fitness:
    """Objective value of a genome: latency, energy or EDP from ``evaluate_fast``."""

    def __init__(self, problem: Problem, objective: str) -> None:
        from monet_opt.schedule.evaluator import evaluate_fast

        self.problem = problem
        self.objective = objective
        self._evaluate_fast = evaluate_fast

    def __call__(self, genome: Sequence[int]) -> float:
        latency, energy = self._evaluate_fast(self.problem, decode(self.problem, genome))
        value = _objective_value(self.objective, float(latency), float(energy))
        return value if math.isfinite(value) else math.inf


def _objective_value(objective: str, latency: float, energy: float) -> float:
    if objective == "latency":
        return latency
    if objective == "energy":
        return energy
    return latency * energy


_WORKER_FITNESS: _Fitness | None = None


def _init_worker(problem: Problem, objective: str) -> None:
    """Process-pool initializer: hold the problem in this worker."""
    global _WORKER_FITNESS
    _WORKER_FITNESS = _Fitness(problem, objective)


def _worker_fitness(genome: list[int]) -> float:
    """Process-pool task: fitness of one genome (plain list in, float out)."""
    assert _WORKER_FITNESS is not None, "worker not initialized"
    return _WORKER_FITNESS(genome)


# -- result -----------------------------------------------------------------------------
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
        Best objective value (cycles, pJ or pJ·cycles) as computed by ``evaluate_fast``.
    initial
        Objective value of the seeded default decision (the greedy allocation).
    history
        ``(evaluations, seconds, best)`` after the initial population and after every
        generation.
    evaluations
        Evaluator calls (distinct genomes; repeated genomes hit a cache).
    seconds
        Wall time of the search (excluding the final full evaluation).
    seed
        RNG seed.
    generations
        Generations completed.
    population
        Population size.
    stop_reason
        ``"generations"``, ``"max_evals"``, ``"time_limit"`` or ``"no_choice"`` (no
        flexible node: nothing to search).
    method
        Always ``"ga"``.
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

    @property
    def simulated(self) -> float:
        """Objective value re-computed from the full schedule."""
        s = self.schedule
        return _objective_value(self.objective, float(s.latency), float(s.energy.total))

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


# -- operators --------------------------------------------------------------------------
def _mutate(individual: list[int], n_choices: Sequence[int], indpb: float) -> None:
    """Reassign each gene with probability ``indpb`` (at least one gene) to another core."""
    movable = [k for k, n in enumerate(n_choices) if n > 1]
    if not movable:
        return
    hit = [k for k in movable if random.random() < indpb]
    if not hit:
        hit = [random.choice(movable)]
    for k in hit:
        new = random.randrange(n_choices[k] - 1)
        individual[k] = new if new < individual[k] else new + 1


def _crossover(a: list[int], b: list[int], kind: str) -> None:
    if len(a) < 2:
        return
    if kind == "two_point":
        tools.cxTwoPoint(a, b)
    else:
        tools.cxUniform(a, b, indpb=0.5)


# -- the search -------------------------------------------------------------------------
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
    chunksize: int | None = None,
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
        Optional budgets in evaluator calls and wall-clock seconds (whichever comes
        first, together with ``generations``).
    crossover
        ``"uniform"`` or ``"two_point"``.
    tournament_size
        Tournament size of the selection.
    elite
        Best individuals copied unchanged into the next generation (hall of fame).
    mut_indpb
        Per-gene reassignment probability of a mutation (default ``1/len(genome)``,
        at least one gene is always reassigned).
    chunksize
        Genomes per task sent to a worker (default: spread over ~4 tasks per worker).
    callback
        ``callback(generation, evaluations, seconds, best)`` after every generation
        (generation 0 is the initial population).

    Returns
    -------
    GAResult

    Raises
    ------
    ValueError
        On an unknown objective or crossover, or out-of-range parameters.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    if crossover not in ("uniform", "two_point"):
        raise ValueError(f"crossover must be 'uniform' or 'two_point', got {crossover!r}")
    if population < 2:
        raise ValueError(f"population must be >= 2, got {population}")
    if generations < 0:
        raise ValueError(f"generations must be >= 0, got {generations}")
    for name, p in (("cx_prob", cx_prob), ("mut_prob", mut_prob)):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {p}")
    if processes < 1:
        raise ValueError(f"processes must be >= 1, got {processes}")
    if max_evals is not None and max_evals < 1:
        raise ValueError(f"max_evals must be >= 1, got {max_evals}")
    elite = max(0, min(elite, population - 1))

    params = {
        "population": population,
        "generations": generations,
        "cx_prob": cx_prob,
        "mut_prob": mut_prob,
        "processes": processes,
        "max_evals": max_evals,
        "time_limit": time_limit,
        "crossover": crossover,
        "tournament_size": tournament_size,
        "elite": elite,
    }
    py_state = random.getstate()
    np_state = np.random.get_state()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        return _run(
            problem,
            objective,
            population=population,
            generations=generations,
            cx_prob=cx_prob,
            mut_prob=mut_prob,
            seed=seed,
            processes=processes,
            max_evals=max_evals,
            time_limit=time_limit,
            crossover=crossover,
            tournament_size=tournament_size,
            elite=elite,
            mut_indpb=mut_indpb,
            chunksize=chunksize,
            callback=callback,
            params=params,
        )
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def _make_pool(problem: Problem, objective: str, processes: int) -> ProcessPoolExecutor | None:
    if processes <= 1:
        return None
    if "fork" not in multiprocessing.get_all_start_methods():
        warnings.warn(
            "the 'fork' start method is unavailable; evaluating the GA fitness serially",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    return ProcessPoolExecutor(
        max_workers=processes,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_init_worker,
        initargs=(problem, objective),
    )


def _run(
    problem: Problem,
    objective: str,
    *,
    population: int,
    generations: int,
    cx_prob: float,
    mut_prob: float,
    seed: int,
    processes: int,
    max_evals: int | None,
    time_limit: float | None,
    crossover: str,
    tournament_size: int,
    elite: int,
    mut_indpb: float | None,
    chunksize: int | None,
    callback: ProgressCallback | None,
    params: dict[str, Any],
) -> GAResult:
    from monet_opt.schedule.evaluator import evaluate

    t0 = time.perf_counter()
    fitness = _Fitness(problem, objective)
    n_choices = [len(problem.allowed[i]) for i in problem.flexible]
    n_genes = len(n_choices)
    indpb = mut_indpb if mut_indpb is not None else (1.0 / n_genes if n_genes else 0.0)

    default = problem.default_decision()
    seed_genome = encode(problem, default.allocation)
    cache: dict[tuple[int, ...], float] = {}
    evaluations = 0
    history: list[tuple[int, float, float]] = []
    stop_reason = "generations"

    def finish(best_genome: Sequence[int], best: float, gens: int, reason: str) -> GAResult:
        seconds = time.perf_counter() - t0
        decision = Decision(allocation=decode(problem, best_genome))
        return GAResult(
            decision=decision,
            schedule=evaluate(problem, decision),
            objective=objective,
            best=best,
            initial=initial,
            history=tuple(history),
            evaluations=evaluations,
            seconds=seconds,
            seed=seed,
            generations=gens,
            population=population,
            stop_reason=reason,
            params=params,
        )

    if n_genes == 0:
        initial = fitness(seed_genome)
        evaluations = 1
        history.append((1, time.perf_counter() - t0, initial))
        if callback is not None:
            callback(0, 1, history[-1][1], initial)
        return finish(seed_genome, initial, 0, "no_choice")

    pool = _make_pool(problem, objective, processes)

    def evaluate_all(individuals: Sequence[list[int]]) -> bool:
        """Assign fitness to individuals; False once the evaluation budget ran out."""
        nonlocal evaluations
        todo: list[tuple[int, ...]] = []
        for ind in individuals:
            key = tuple(ind)
            if key not in cache and key not in todo:
                todo.append(key)
        within = True
        if max_evals is not None and len(todo) > max_evals - evaluations:
            todo = todo[: max(0, max_evals - evaluations)]
            within = False
        if todo:
            genomes = [list(k) for k in todo]
            if pool is None:
                values = [fitness(g) for g in genomes]
            else:
                cs = chunksize or max(1, math.ceil(len(genomes) / (4 * processes)))
                values = list(pool.map(_worker_fitness, genomes, chunksize=cs))
            evaluations += len(todo)
            cache.update(zip(todo, values, strict=True))
        for ind in individuals:
            ind.fitness.values = (cache.get(tuple(ind), math.inf),)
        return within

    try:
        pop = [creator.Individual(seed_genome)]
        while len(pop) < population:
            pop.append(creator.Individual(random.randrange(n) for n in n_choices))
        within = evaluate_all(pop)
        initial = cache[tuple(seed_genome)]
        hof = tools.HallOfFame(max(1, elite))
        hof.update(pop)
        history.append((evaluations, time.perf_counter() - t0, hof[0].fitness.values[0]))
        if callback is not None:
            callback(0, evaluations, history[-1][1], history[-1][2])

        gen = 0
        if not within:
            stop_reason = "max_evals"
        while within and gen < generations:
            if time_limit is not None and time.perf_counter() - t0 >= time_limit:
                stop_reason = "time_limit"
                break
            if max_evals is not None and evaluations >= max_evals:
                stop_reason = "max_evals"
                break
            gen += 1
            n_off = population - elite
            offspring = [
                creator.Individual(ind)
                for ind in tools.selTournament(pop, n_off, tournsize=tournament_size)
            ]
            for a, b in zip(offspring[::2], offspring[1::2], strict=False):
                if random.random() < cx_prob:
                    _crossover(a, b, crossover)
            for ind in offspring:
                if random.random() < mut_prob:
                    _mutate(ind, n_choices, indpb)
            within = evaluate_all(offspring)
            pop = [creator.Individual(h) for h in hof[:elite]] + offspring
            for ind in pop[:elite]:
                ind.fitness.values = (cache[tuple(ind)],)
            hof.update(pop)
            history.append((evaluations, time.perf_counter() - t0, hof[0].fitness.values[0]))
            if callback is not None:
                callback(gen, evaluations, history[-1][1], history[-1][2])
            if not within:
                stop_reason = "max_evals"
    finally:
        if pool is not None:
            pool.shutdown(wait=True)

    best = hof[0]
    return finish(list(best), best.fitness.values[0], gen, stop_reason)
