"""DEAP search engine shared by every GA decision space (:mod:`monet_opt.ga.spaces`).

Algorithms
----------
``"ga"``
    Generational GA: tournament selection, crossover / mutation, ``elite`` best kept
    (a hall of fame).  Single objective.
``"mu_plus_lambda"``
    DEAP's :math:`(\\mu + \\lambda)` scheme (``algorithms.varOr``): λ = μ offspring, each
    from crossover *or* mutation, survivors the μ best of parents and offspring
    (``selBest``; ``selNSGA2`` with several objectives).  Stream's GA allocator.
``"nsga2"``
    NSGA-II (Deb et al., IEEE TEC 2002) as in DEAP's example: crowded binary
    tournament (``selTournamentDCD``), ``varAnd``, survivors by ``selNSGA2``.  MONET's
    search.

Presets (:data:`PRESETS`): ``"monet"`` NSGA-II, population 20, 6 generations, crossover
0.9, bit-flip 0.1 (MONET: Morlier et al., arXiv:2603.15002, 2026); ``"stream"`` μ + λ
with population 16, 16 generations, crossover 0.3, mutation 0.7 (Stream's GA);
``"default"`` the generational GA, population 32, 30 generations, crossover 0.7,
mutation 0.3.

Fitness and constraints
-----------------------
A genome is decoded by its space and scored by
:func:`~monet_opt.schedule.evaluator.evaluate_metrics` -- the evaluator every MILP
solution is re-simulated with.  Objectives (all minimized) are metric names of
:meth:`~monet_opt.schedule.evaluator.Metrics.value`: ``latency`` (cycles), ``energy``
(pJ), ``edp``, ``memory`` (peak activation footprint, bits), ``recompute`` (serial
recompute cycles).  A decision is infeasible when a fused stack overflows on-chip memory
or the peak footprint exceeds ``budget_bits``; infeasible genomes get every objective
equal to ``PENALTY × (1 + violation)``, so any feasible genome dominates them and less
violation ranks first (a static penalty in the spirit of Deb's constraint domination).

Budgets and reproducibility
---------------------------
The search stops at the first of ``generations``, ``max_evals`` (distinct genomes sent
to the evaluator; repeated genomes hit a cache) and ``time_limit`` seconds.  The global
``random`` and ``numpy`` generators are seeded from ``seed`` and restored on return;
fitness values do not depend on the process that computes them, so with ``max_evals``
(and no ``time_limit``) a seed gives the same result for any ``processes``.

Parallel fitness uses :class:`~concurrent.futures.ProcessPoolExecutor` with the
``fork`` start method: the space (which holds the problem, not picklable) reaches the
workers through the initializer and ``fork``; only genomes and floats are pickled.
"""

from __future__ import annotations

import copy
import math
import multiprocessing
import os
import random
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from deap import algorithms, base, creator, tools

from monet_opt.ga.spaces import Space
from monet_opt.indicators import nondominated_indices as pareto_front
from monet_opt.schedule.evaluator import evaluate_metrics
from monet_opt.schedule.types import Decision

__all__ = [
    "ALGORITHMS",
    "METRICS",
    "PENALTY",
    "PRESETS",
    "SearchResult",
    "run_search",
    "pareto_front",
]

ALGORITHMS: tuple[str, ...] = ("ga", "mu_plus_lambda", "nsga2")
METRICS: tuple[str, ...] = ("latency", "energy", "edp", "memory", "recompute")
PENALTY = 1e30
#: Generations without a new genome after which a search without a generation limit stops.
STALL_GENERATIONS = 50

#: Algorithm parameters of the named presets (module docstring).
PRESETS: dict[str, dict[str, Any]] = {
    "default": {
        "algorithm": "ga",
        "population": 32,
        "generations": 30,
        "cx_prob": 0.7,
        "mut_prob": 0.3,
        "indpb": None,
    },
    "stream": {
        "algorithm": "mu_plus_lambda",
        "population": 16,
        "generations": 16,
        "cx_prob": 0.3,
        "mut_prob": 0.7,
        "indpb": None,
    },
    "monet": {
        "algorithm": "nsga2",
        "population": 20,
        "generations": 6,
        "cx_prob": 0.9,
        "mut_prob": 1.0,
        "indpb": 0.1,
    },
}

# DEAP creator classes, created once at module level (one per number of objectives).
for _k in range(1, 5):
    if not hasattr(creator, f"FitnessMin{_k}"):
        creator.create(f"FitnessMin{_k}", base.Fitness, weights=(-1.0,) * _k)
    if not hasattr(creator, f"Genome{_k}"):
        creator.create(f"Genome{_k}", list, fitness=getattr(creator, f"FitnessMin{_k}"))

#: ``callback(generation, evaluations, seconds, best)`` after every generation.
ProgressCallback = Callable[[int, int, float, float], None]


# -- fitness --------------------------------------------------------------------------
class _Fitness:
    """Objective values and constraint violation of a genome."""

    def __init__(self, space: Space, objectives: Sequence[str], budget_bits: float | None):
        self.space = space
        self.objectives = tuple(objectives)
        self.budget = budget_bits

    def __call__(self, genome: Sequence[float]) -> tuple[tuple[float, ...], float]:
        m = evaluate_metrics(self.space.problem, self.space.decode(genome))
        violation = float(m.stack_overflow + m.memory_overflow)
        if self.budget is not None and m.peak_footprint_bits > self.budget * (1 + 1e-9):
            violation += (m.peak_footprint_bits - self.budget) / max(self.budget, 1.0)
        values = tuple(float(m.value(o)) for o in self.objectives)
        if not all(math.isfinite(v) for v in values):
            violation = max(violation, 1.0)
        return values, violation


_WORKER: _Fitness | None = None


def _init_worker(fitness: _Fitness) -> None:
    global _WORKER
    _WORKER = fitness


def _worker_eval(genome: list[float]) -> tuple[tuple[float, ...], float]:
    assert _WORKER is not None, "worker not initialized"
    return _WORKER(genome)


def worker_count(processes: int) -> int:
    """Fitness workers actually started: ``processes`` capped at the machine's CPU count
    (more workers than CPUs only add fork and memory cost; results do not depend on
    the count)."""
    return max(1, min(int(processes), os.cpu_count() or 1))


def _make_pool(fitness: _Fitness, processes: int) -> ProcessPoolExecutor | None:
    processes = worker_count(processes)
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
        initargs=(fitness,),
    )


# -- result -----------------------------------------------------------------------------
@dataclass(frozen=True)
class SearchResult:
    """Outcome of :func:`run_search`.

    Attributes
    ----------
    decision
        Best decision: the feasible genome with the least first objective (least
        violation when none is feasible).
    values
        Its objective values, in the units of :data:`METRICS`.
    feasible
        Whether ``decision`` satisfies the budget and the on-chip capacity.
    front
        Non-dominated feasible ``(values, decision)`` pairs over *every* evaluated
        genome (an archive), sorted by the first objective; ``()`` for one objective.
    history
        ``(evaluations, seconds, best first objective so far)`` after the initial
        population and every generation (``inf`` while nothing is feasible).
    evaluations, seconds, generations, stop_reason
        Distinct genomes evaluated, wall time, generations completed, and why it
        stopped (``"generations"``, ``"max_evals"``, ``"time_limit"``, ``"no_choice"``,
        ``"exhausted"``: every genome of the space evaluated, ``"stalled"``:
        :data:`STALL_GENERATIONS` generations without a new genome).
    """

    space: str
    objectives: tuple[str, ...]
    algorithm: str
    decision: Decision
    values: tuple[float, ...]
    feasible: bool
    initial: tuple[float, ...]
    front: tuple[tuple[tuple[float, ...], Decision], ...]
    history: tuple[tuple[int, float, float], ...]
    evaluations: int
    seconds: float
    generations: int
    seed: int
    stop_reason: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def best(self) -> float:
        """First objective of :attr:`decision` (``inf`` if infeasible)."""
        return self.values[0] if self.feasible else math.inf

    def as_dict(self) -> dict[str, Any]:
        """JSON-able summary (decisions as allocation / stack / kept lists)."""
        return {
            "space": self.space,
            "objectives": list(self.objectives),
            "algorithm": self.algorithm,
            "values": list(self.values),
            "feasible": self.feasible,
            "initial": list(self.initial),
            "evaluations": self.evaluations,
            "seconds": self.seconds,
            "generations": self.generations,
            "seed": self.seed,
            "stop_reason": self.stop_reason,
            "params": dict(self.params),
            "history": [list(h) for h in self.history],
            "front": [list(v) for v, _ in self.front],
            "decision": _decision_dict(self.decision),
        }


def _decision_dict(d: Decision) -> dict[str, Any]:
    return {
        "allocation": list(d.allocation),
        "priority": None if d.priority is None else list(d.priority),
        "stacks": [list(s) for s in d.stacks],
        "checkpoints": None if d.checkpoints is None else sorted(d.checkpoints),
    }


# -- the search -------------------------------------------------------------------------
def run_search(
    space: Space,
    objectives: Sequence[str] = ("latency",),
    *,
    preset: str | None = None,
    algorithm: str | None = None,
    population: int | None = None,
    generations: int | None = None,
    cx_prob: float | None = None,
    mut_prob: float | None = None,
    indpb: float | None = None,
    tournament_size: int = 3,
    elite: int = 2,
    crossover: str = "two_point",
    budget_bits: float | None = None,
    seed: int = 0,
    processes: int = 1,
    max_evals: int | None = None,
    time_limit: float | None = None,
    initial: Sequence[Sequence[float]] = (),
    callback: ProgressCallback | None = None,
) -> SearchResult:
    """Search a decision space with a DEAP genetic algorithm (module docstring).

    Parameters
    ----------
    space
        A :mod:`monet_opt.ga.spaces` space.
    objectives
        One or more of :data:`METRICS`, all minimized.
    preset
        ``"default"``, ``"stream"`` or ``"monet"``; explicit arguments override it
        (default preset: ``"monet"`` for several objectives, else ``"default"``).
    algorithm, population, generations, cx_prob, mut_prob, indpb
        Algorithm (:data:`ALGORITHMS`), population (≥ 2; a multiple of 4 is used for
        NSGA-II's crowded tournament), generations (``None``: until a budget runs out),
        crossover and mutation probabilities, per-gene mutation probability (default
        ``1 / n_genes``).
    tournament_size, elite
        Tournament size and hall-of-fame elites of the ``"ga"`` algorithm.
    crossover
        ``"two_point"`` (DEAP ``cxTwoPoint``) or ``"uniform"`` (``cxUniform``, 0.5).
    budget_bits
        Peak activation-footprint budget in bits (``None``: unconstrained).
    seed
        Seeds ``random`` and ``numpy`` (restored on return).
    processes
        Fitness worker processes (1: serial); at most the machine's CPU count are
        started (:func:`worker_count`).
    max_evals, time_limit
        Budgets in distinct evaluations and wall-clock seconds.
    initial
        Extra genomes for the initial population (after the space's seeds).
    callback
        ``callback(generation, evaluations, seconds, best)`` after each generation.

    Raises
    ------
    ValueError
        On unknown objectives / algorithm / preset, out-of-range parameters, or no
        stopping rule (``generations``, ``max_evals`` and ``time_limit`` all ``None``).
    """
    objectives = tuple(objectives)
    bad = [o for o in objectives if o not in METRICS]
    if not objectives or bad or len(objectives) > 4 or len(set(objectives)) != len(objectives):
        raise ValueError(
            f"objectives must be 1-4 distinct names of {', '.join(METRICS)}, got {objectives}"
        )
    preset = preset or ("monet" if len(objectives) > 1 else "default")
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    p = dict(PRESETS[preset])
    for key, val in (
        ("algorithm", algorithm),
        ("population", population),
        ("generations", generations),
        ("cx_prob", cx_prob),
        ("mut_prob", mut_prob),
        ("indpb", indpb),
    ):
        if val is not None:
            p[key] = val
    if generations is None and (max_evals is not None or time_limit is not None):
        p["generations"] = None
    if p["algorithm"] not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {', '.join(ALGORITHMS)}, got {algorithm!r}")
    if p["algorithm"] == "ga" and len(objectives) > 1:
        raise ValueError("algorithm 'ga' is single-objective; use 'nsga2' or 'mu_plus_lambda'")
    if p["population"] < 2:
        raise ValueError(f"population must be >= 2, got {p['population']}")
    for name in ("cx_prob", "mut_prob"):
        if not 0.0 <= p[name] <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {p[name]}")
    if processes < 1:
        raise ValueError(f"processes must be >= 1, got {processes}")
    if crossover not in ("two_point", "uniform"):
        raise ValueError(f"crossover must be 'uniform' or 'two_point', got {crossover!r}")
    if max_evals is not None and max_evals < 1:
        raise ValueError(f"max_evals must be >= 1, got {max_evals}")
    if p["generations"] is None and max_evals is None and time_limit is None:
        raise ValueError("give generations, max_evals or time_limit")
    params = {
        **p,
        "preset": preset,
        "tournament_size": tournament_size,
        "elite": elite,
        "crossover": crossover,
        "budget_bits": budget_bits,
        "processes": processes,
        "max_evals": max_evals,
        "time_limit": time_limit,
    }
    py_state, np_state = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        return _Search(space, objectives, params, seed, initial, callback).run()
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


class _Search:
    """One run of :func:`run_search` (state of the generation loop)."""

    def __init__(
        self,
        space: Space,
        objectives: tuple[str, ...],
        params: dict[str, Any],
        seed: int,
        initial: Sequence[Sequence[float]],
        callback: ProgressCallback | None,
    ) -> None:
        self.space = space
        self.objectives = objectives
        self.k = len(objectives)
        self.p = params
        self.seed = seed
        self.initial_genomes = [list(g) for g in initial]
        self.callback = callback
        self.fitness = _Fitness(space, objectives, params["budget_bits"])
        self.cache: dict[tuple[float, ...], tuple[tuple[float, ...], float]] = {}
        self.evaluations = 0
        self.history: list[tuple[int, float, float]] = []
        self.t0 = time.perf_counter()
        self.pool: ProcessPoolExecutor | None = None
        self.cls = getattr(creator, f"Genome{self.k}")
        n = space.n_genes
        self.indpb = params["indpb"] if params["indpb"] is not None else 1.0 / max(1, n)
        tb = base.Toolbox()
        tb.register("clone", copy.deepcopy)
        tb.register("mate", self._mate)
        tb.register("mutate", self._mutate)
        self.toolbox = tb

    # -- operators (DEAP toolbox signatures) --------------------------------------------
    def _mate(self, a: list[float], b: list[float]) -> tuple[list[float], list[float]]:
        if self.p["crossover"] == "uniform":
            tools.cxUniform(a, b, indpb=0.5)
        else:
            self.space.crossover(a, b)
        return a, b

    def _mutate(self, ind: list[float]) -> tuple[list[float]]:
        self.space.mutate(ind, self.indpb)
        return (ind,)

    # -- evaluation ------------------------------------------------------------------------
    def _values(self, key: tuple[float, ...]) -> tuple[float, ...]:
        vals, viol = self.cache[key]
        return vals if viol <= 0 else (PENALTY * (1.0 + viol),) * self.k

    def evaluate(self, individuals: Sequence[list[float]]) -> bool:
        """Assign fitness; False once the evaluation budget is exhausted."""
        todo: list[tuple[float, ...]] = []
        seen: set[tuple[float, ...]] = set()
        for ind in individuals:
            key = tuple(ind)
            if key not in self.cache and key not in seen:
                seen.add(key)
                todo.append(key)
        within = True
        max_evals = self.p["max_evals"]
        if max_evals is not None and len(todo) > max_evals - self.evaluations:
            todo = todo[: max(0, max_evals - self.evaluations)]
            within = False
        if todo:
            genomes = [list(k) for k in todo]
            if self.pool is None:
                results = [self.fitness(g) for g in genomes]
            else:
                cs = max(1, math.ceil(len(genomes) / (4 * self.p["processes"])))
                results = list(self.pool.map(_worker_eval, genomes, chunksize=cs))
            self.evaluations += len(todo)
            self.cache.update(zip(todo, results, strict=True))
        for ind in individuals:
            key = tuple(ind)
            ind.fitness.values = (
                self._values(key) if key in self.cache else (PENALTY * 1e3,) * self.k
            )
        return within

    def best_feasible(self) -> float:
        vals = [v[0] for v, viol in self.cache.values() if viol <= 0]
        return min(vals) if vals else math.inf

    def record(self, gen: int) -> None:
        t = time.perf_counter() - self.t0
        best = self.best_feasible()
        self.history.append((self.evaluations, t, best))
        if self.callback is not None:
            self.callback(gen, self.evaluations, t, best)

    # -- main loop -------------------------------------------------------------------------
    def run(self) -> SearchResult:
        p = self.p
        seeds = [list(g) for g in self.space.seeds()] + self.initial_genomes
        if not any(n > 1 for n in self.space.choices) and not self.space.n_keys:
            g = seeds[0] if seeds else []
            self.evaluate([self.cls(g)])
            self.record(0)
            return self.result(0, "no_choice", seeds)
        self.pool = _make_pool(self.fitness, p["processes"])
        try:
            return self._loop(seeds)
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True)

    def _loop(self, seeds: list[list[float]]) -> SearchResult:
        p = self.p
        mu = int(p["population"])
        if p["algorithm"] == "nsga2" and mu % 4:
            mu += 4 - mu % 4  # selTournamentDCD draws in groups of 4
        pop = []
        for g in seeds:
            if len(pop) < mu and all(list(x) != g for x in pop):
                pop.append(self.cls(g))
        while len(pop) < mu:
            pop.append(self.cls(self.space.random_genome()))
        within = self.evaluate(pop)
        self.record(0)
        nsga = p["algorithm"] == "nsga2"
        if nsga:
            pop = tools.selNSGA2(pop, len(pop))  # assigns crowding distances
        elite = max(0, min(int(p["elite"]), mu - 1))
        hof = tools.HallOfFame(max(1, elite))
        hof.update(pop)
        gen = 0
        stalled = 0
        reason = "generations" if within else "max_evals"
        while within:
            if p["generations"] is not None and gen >= p["generations"]:
                reason = "generations"
                break
            if p["time_limit"] is not None and time.perf_counter() - self.t0 >= p["time_limit"]:
                reason = "time_limit"
                break
            if p["max_evals"] is not None and self.evaluations >= p["max_evals"]:
                reason = "max_evals"
                break
            if self._exhausted() or stalled >= STALL_GENERATIONS:
                reason = "exhausted" if self._exhausted() else "stalled"
                break
            gen += 1
            before = self.evaluations
            if p["algorithm"] == "ga":
                off = [
                    self.cls(ind)
                    for ind in tools.selTournament(pop, mu - elite, tournsize=p["tournament_size"])
                ]
                off = algorithms.varAnd(off, self.toolbox, p["cx_prob"], p["mut_prob"])
                within = self.evaluate(off)
                pop = [self.cls(h) for h in hof[:elite]] + off
                self.evaluate(pop[:elite])
            elif p["algorithm"] == "mu_plus_lambda":
                off = algorithms.varOr(pop, self.toolbox, mu, p["cx_prob"], p["mut_prob"])
                within = self.evaluate(off)
                select = tools.selBest if self.k == 1 else tools.selNSGA2
                pop = select(pop + off, mu)
            else:
                parents = tools.selTournamentDCD(pop, len(pop))
                off = algorithms.varAnd(
                    [self.toolbox.clone(x) for x in parents],
                    self.toolbox,
                    p["cx_prob"],
                    p["mut_prob"],
                )
                within = self.evaluate(off)
                pop = tools.selNSGA2(pop + off, mu)
            hof.update(pop)
            self.record(gen)
            stalled = stalled + 1 if self.evaluations == before else 0
            if not within:
                reason = "max_evals"
        return self.result(gen, reason, seeds)

    def _exhausted(self) -> bool:
        """Every genome of a finite space has been evaluated."""
        if self.space.n_keys:
            return False
        return len(self.cache) >= math.prod(self.space.choices)

    def result(self, gen: int, reason: str, seeds: list[list[float]]) -> SearchResult:
        keys = list(self.cache)
        feas = [k for k in keys if self.cache[k][1] <= 0]
        if feas:
            best = min(feas, key=lambda k: self.cache[k][0])
        else:
            best = min(keys, key=lambda k: (self.cache[k][1], self.cache[k][0]))
        values, viol = self.cache[best]
        front: tuple[tuple[tuple[float, ...], Decision], ...] = ()
        if self.k > 1 and feas:
            pts = [self.cache[k][0] for k in feas]
            front = tuple((pts[i], self.space.decode(list(feas[i]))) for i in pareto_front(pts))
        first = tuple(seeds[0]) if seeds else best
        initial = self.cache[first][0] if first in self.cache else values
        return SearchResult(
            space=self.space.name,
            objectives=self.objectives,
            algorithm=self.p["algorithm"],
            decision=self.space.decode(list(best)),
            values=tuple(values),
            feasible=viol <= 0,
            initial=tuple(initial),
            front=front,
            history=tuple(self.history),
            evaluations=self.evaluations,
            seconds=time.perf_counter() - self.t0,
            generations=gen,
            seed=self.seed,
            stop_reason=reason,
            params=dict(self.p),
        )
