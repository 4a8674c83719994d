"""Samplers of a design space: ``random`` (MONET's), ``grid`` and ``nsga2``.

``random`` and ``grid`` give the whole list of points up front, from the seed alone, so
the points of a sweep do not depend on how many workers evaluate them. ``random``
draws points one at a time from a ``random.Random(seed)`` stream and skips repeats (a
finite space has no point twice; a sample of ``n`` points is the first ``n`` of the
sample of ``n + k``), so a resumed sweep with a larger budget extends the same sample.
``grid`` enumerates the product of the choices in file order (the last parameter
varies fastest); the budget caps it.

``nsga2`` is :class:`Nsga2`: DEAP's NSGA-II (Deb et al., IEEE TEC 2002) over the
hardware parameters, with the operators of our other GAs (:mod:`monet_opt.ga`): uniform
crossover (``cxUniform``, probability ``cx_prob``) and per-gene mutation with
probability ``mut_prob`` (a choice moves to another value, a range gene is redrawn);
parents by crowded binary tournament (``selTournamentDCD``), survivors by ``selNSGA2``.
Its own ``random`` state is swapped in around every DEAP call (DEAP draws from the module-
level ``random``, which anything else in the process may also draw from:
``docs/dse_execution.md``), so a seed gives the same search whatever evaluates the points.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from deap import base, creator, tools

from monet_opt.dse.space import DesignSpace, Dimension
from monet_opt.errors import InputError

__all__ = ["SAMPLERS", "random_points", "grid_points", "Nsga2", "PENALTY"]

#: Sampler names.
SAMPLERS: tuple[str, ...] = ("random", "grid", "nsga2")
#: Objective value of a failed or infeasible point in NSGA-II (dominated by any other).
PENALTY = 1e300

# DEAP creator classes, created once at module level (one per number of objectives).
for _k in range(1, 6):
    if not hasattr(creator, f"DseFitness{_k}"):
        creator.create(f"DseFitness{_k}", base.Fitness, weights=(-1.0,) * _k)
    if not hasattr(creator, f"DseGenome{_k}"):
        creator.create(f"DseGenome{_k}", list, fitness=getattr(creator, f"DseFitness{_k}"))

Params = dict[str, Any]


def _draw(dim: Dimension, rng: random.Random) -> Any:
    if dim.choices is not None:
        return dim.choices[rng.randrange(len(dim.choices))]
    return rng.uniform(float(dim.low or 0.0), float(dim.high or 0.0))


def _key(params: Params) -> tuple[Any, ...]:
    return tuple(params[k] for k in sorted(params))


def random_stream(space: DesignSpace, seed: int) -> Iterator[Params]:
    """Distinct random points of ``space`` from ``random.Random(seed)`` (ends when a
    finite space is exhausted)."""
    rng = random.Random(seed)
    seen: set[tuple[Any, ...]] = set()
    size = space.size
    while len(seen) < size:
        p = {d.name: _draw(d, rng) for d in space.dimensions}
        k = _key(p)
        if k in seen:
            continue
        seen.add(k)
        yield p


def random_points(space: DesignSpace, budget: int, seed: int) -> list[Params]:
    """The first ``budget`` points of :func:`random_stream` (fewer if the space is
    smaller)."""
    return list(itertools.islice(random_stream(space, seed), budget))


def grid_points(space: DesignSpace, budget: int) -> list[Params]:
    """The first ``budget`` points of the grid of choices.

    Raises
    ------
    InputError
        For a continuous range (``parameters.<name>``: a grid needs a ``step``).
    """
    for d in space.dimensions:
        if d.choices is None:
            raise InputError(
                space.source,
                f"parameters.{d.name}",
                "a range without 'step' cannot be gridded; add step: <number> or give a "
                "list of choices (or use --sampler random|nsga2)",
            )
    names = [d.name for d in space.dimensions]
    prod = itertools.product(*(d.choices or () for d in space.dimensions))
    return [dict(zip(names, vals, strict=True)) for vals in itertools.islice(prod, budget)]


Evaluate = Callable[[Sequence[Params]], list[tuple[float, ...]]]


class Nsga2:
    """NSGA-II over the hardware parameters of ``space``.

    Parameters
    ----------
    space
        The design space (its ``nsga2`` settings).
    n_objectives
        Number of objectives (all minimized).
    seed
        Seed of the search's own random state.
    """

    def __init__(self, space: DesignSpace, n_objectives: int, seed: int) -> None:
        self.space = space
        self.dims = space.dimensions
        self.k = n_objectives
        self.cls = getattr(creator, f"DseGenome{n_objectives}")
        self.settings = space.nsga2
        rng = random.Random(seed)
        self._state = rng.getstate()

    # -- the private random state --------------------------------------------------------
    def _swap(self) -> Any:
        saved = random.getstate()
        random.setstate(self._state)
        return saved

    def _unswap(self, saved: Any) -> None:
        self._state = random.getstate()
        random.setstate(saved)

    # -- genome <-> parameters -------------------------------------------------------------
    def _gene(self, dim: Dimension) -> float:
        if dim.choices is not None:
            return float(random.randrange(len(dim.choices)))
        return random.uniform(float(dim.low or 0.0), float(dim.high or 0.0))

    def decode(self, genome: Sequence[float]) -> Params:
        out: Params = {}
        for d, g in zip(self.dims, genome, strict=True):
            if d.choices is not None:
                out[d.name] = d.choices[min(max(int(g), 0), len(d.choices) - 1)]
            else:
                out[d.name] = min(max(float(g), float(d.low or 0.0)), float(d.high or 0.0))
        return out

    def _mutate(self, ind: list[float]) -> None:
        p = self.settings.mut_prob
        for i, d in enumerate(self.dims):
            if random.random() >= p:
                continue
            if d.choices is not None:
                n = len(d.choices)
                if n > 1:
                    step = random.randrange(1, n)
                    ind[i] = float((int(ind[i]) + step) % n)
            else:
                ind[i] = random.uniform(float(d.low or 0.0), float(d.high or 0.0))

    # -- the search ------------------------------------------------------------------------
    def run(self, budget: int, evaluate: Evaluate, max_stale: int = 50) -> int:
        """Search until ``budget`` distinct points are evaluated (or nothing new is
        found for ``max_stale`` generations). ``evaluate(points)`` scores a batch of
        parameter sets (already seen ones at no cost: the caller caches them) and
        returns their objective vectors. Returns the number of generations."""
        mu = self.settings.population
        seen: set[tuple[Any, ...]] = set()

        def fresh(inds: list[Any]) -> list[Any]:
            """Individuals whose point is new, up to the remaining budget."""
            out = []
            for ind in inds:
                k = _key(self.decode(ind))
                if k not in seen and len(seen) < budget:
                    seen.add(k)
                    out.append(ind)
            return out

        def score(inds: list[Any]) -> None:
            vals = evaluate([self.decode(ind) for ind in inds])
            for ind, v in zip(inds, vals, strict=True):
                ind.fitness.values = v

        saved = self._swap()
        try:
            pop = []
            tries = 0
            while len(pop) < mu and tries < 100 * mu:
                tries += 1
                ind = self.cls(self._gene(d) for d in self.dims)
                if fresh([ind]):
                    pop.append(ind)
            self._unswap(saved)
            score(pop)
            saved = self._swap()
            if not pop:
                return 0
            pop = tools.selNSGA2(pop, len(pop))  # assigns the crowding distance
            gen = stale = 0
            while len(seen) < budget and stale < max_stale:
                gen += 1
                n_off = len(pop) - len(pop) % 4
                if n_off >= 4:
                    parents = tools.selTournamentDCD(pop, n_off)
                else:
                    parents = [random.choice(pop) for _ in range(max(len(pop), 2))]
                off = [self.cls(p) for p in parents]
                for a, b in zip(off[::2], off[1::2], strict=False):
                    if random.random() < self.settings.cx_prob:
                        tools.cxUniform(a, b, indpb=0.5)
                for ind in off:
                    self._mutate(ind)
                new = fresh(off)
                self._unswap(saved)
                score(new)  # the caller's cache scores repeats; only new ones cost
                saved = self._swap()
                if not new:
                    stale += 1
                    continue
                stale = 0
                pop = tools.selNSGA2(pop + new, mu)
            return gen
        finally:
            self._unswap(saved)


def finite(v: float) -> float:
    """``v`` if finite, else :data:`PENALTY`."""
    return v if math.isfinite(v) else PENALTY
