"""Genomes of the GA decision spaces: encoding, decoding, variation operators.

Every space maps a flat genome (a list of numbers) to a
:class:`~monet_opt.schedule.types.Decision` that the evaluator simulates, so the GA and
the MILPs are scored by the same code.  A genome is ``n_int`` integer genes (gene ``k``
takes values ``0 .. choices[k] - 1``) followed by ``n_keys`` random keys in ``[0, 1)``.

Spaces (the MILP that solves the same space exactly is named in each class):

* :class:`AllocationSpace` -- the core allocation.  ``style="layer"`` is Stream's GA
  (one core id per layer: a forward op with its dX and dW nodes), ``"node"`` one core
  per computation node, ``"magma"`` MAGMA's encoding (Kao & Krishna, ICCAD 2020): a
  core per node plus a random-key priority per node that reorders the program order π.
* :class:`FusionSpace` -- one bit per pair of nodes consecutive in π: 1 fuses them
  into one layer stack (MONET/Stream fused groups; :mod:`monet_opt.formulations.fusion`).
* :class:`CheckpointSpace` -- MONET's bit vector, one bit per forward activation the
  backward pass reads: 1 = drop and recompute (:mod:`monet_opt.formulations.checkpointing`).
* :class:`JointSpace` -- layer allocation, fusion bits and checkpoint bits concatenated
  (:mod:`monet_opt.formulations.joint`).

Variation is the same for every space: two-point crossover over the whole genome
(DEAP ``cxTwoPoint``) and per-gene mutation with probability ``indpb`` (an integer gene
moves to another value, a bit flips; a key is redrawn).  All randomness comes from the
module-level :mod:`random` generator, which :mod:`monet_opt.ga.engine` seeds.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from deap import tools

from monet_opt.heuristics.allocation import greedy_decision
from monet_opt.heuristics.stacks import greedy_stacks
from monet_opt.schedule.types import Decision

if TYPE_CHECKING:  # pragma: no cover
    from monet_opt.schedule.problem import Problem

__all__ = [
    "Space",
    "AllocationSpace",
    "FusionSpace",
    "CheckpointSpace",
    "JointSpace",
    "ALLOCATION_STYLES",
    "layer_groups",
]

#: Allocation encodings of :class:`AllocationSpace`.
ALLOCATION_STYLES: tuple[str, ...] = ("layer", "node", "magma")

Genome = list[float]


@dataclass(frozen=True, eq=False)
class Space:
    """Base of the decision spaces: genome layout and variation operators.

    Subclasses set :attr:`choices` / :attr:`n_keys` and implement :meth:`decode`,
    :meth:`encode` and :meth:`seeds`.
    """

    problem: Problem

    name: str = field(default="space", init=False)

    @property
    def choices(self) -> tuple[int, ...]:
        """Number of values of each integer gene."""
        raise NotImplementedError

    @property
    def n_keys(self) -> int:
        """Number of random-key genes after the integer genes."""
        return 0

    @property
    def n_genes(self) -> int:
        return len(self.choices) + self.n_keys

    def decode(self, genome: Sequence[float]) -> Decision:
        """Decision of a genome."""
        raise NotImplementedError

    def encode(self, decision: Decision) -> Genome:
        """Genome of a decision (inverse of :meth:`decode` on decodable decisions)."""
        raise NotImplementedError

    def seeds(self) -> list[Genome]:
        """Genomes the initial population starts from (baselines, e.g. greedy)."""
        return []

    # -- variation ---------------------------------------------------------------------
    def random_genome(self) -> Genome:
        """Uniformly random genome."""
        return [random.randrange(n) for n in self.choices] + [
            random.random() for _ in range(self.n_keys)
        ]

    def mutate(self, genome: list[float], indpb: float) -> None:
        """In place: each gene changes with probability ``indpb`` (at least one does)."""
        n_int = len(self.choices)
        movable = [k for k, n in enumerate(self.choices) if n > 1]
        movable += list(range(n_int, n_int + self.n_keys))
        if not movable:
            return
        hit = [k for k in movable if random.random() < indpb]
        if not hit:
            hit = [random.choice(movable)]
        for k in hit:
            if k >= n_int:
                genome[k] = random.random()
            else:
                new = random.randrange(self.choices[k] - 1)
                genome[k] = new if new < genome[k] else new + 1

    def crossover(self, a: list[float], b: list[float]) -> None:
        """In place two-point crossover (DEAP ``cxTwoPoint``)."""
        if len(a) >= 2:
            tools.cxTwoPoint(a, b)

    def describe(self) -> dict[str, object]:
        """JSON-able summary of the space."""
        return {
            "space": self.name,
            "int_genes": len(self.choices),
            "key_genes": self.n_keys,
        }


def layer_groups(problem: Problem) -> tuple[tuple[int, ...], ...]:
    """Flexible nodes grouped by layer (Stream's unit of allocation).

    A layer is a forward op with its backward nodes (dX, dW, activation gradients):
    nodes share a group when their ``forward_op`` (or, for forward nodes, their own
    name) is the same and they have a common allowed core.  A group whose members
    have no common core is split into single nodes.
    """
    by_key: dict[str, list[int]] = {}
    for i in problem.flexible:
        op = problem.nodes[i]
        by_key.setdefault(op.forward_op or op.name, []).append(i)
    out: list[tuple[int, ...]] = []
    for members in by_key.values():
        common = set(problem.allowed[members[0]])
        for i in members[1:]:
            common &= set(problem.allowed[i])
        if len(common) > 1:
            out.append(tuple(members))
        else:
            out.extend((i,) for i in members)
    return tuple(sorted(out))


@dataclass(frozen=True, eq=False)
class AllocationSpace(Space):
    """Core allocation genomes (exact counterpart: :func:`solve_allocation`).

    Parameters
    ----------
    problem
        The scheduling problem.
    style
        ``"layer"`` (Stream: one gene per :func:`layer_groups` group, the index of its
        core among the group's common cores), ``"node"`` (one gene per flexible node)
        or ``"magma"`` (``"node"`` genes plus one priority key per node; the program
        order is :meth:`Problem.program_order` of the keys).

    Raises
    ------
    ValueError
        On an unknown style.
    """

    style: str = "layer"

    def __post_init__(self) -> None:
        if self.style not in ALLOCATION_STYLES:
            raise ValueError(
                f"allocation style must be one of {', '.join(ALLOCATION_STYLES)}, "
                f"got {self.style!r}"
            )
        object.__setattr__(self, "name", f"allocation_{self.style}")

    @cached_property
    def groups(self) -> tuple[tuple[int, ...], ...]:
        """Nodes each integer gene allocates."""
        if self.style == "layer":
            return layer_groups(self.problem)
        return tuple((i,) for i in self.problem.flexible)

    @cached_property
    def group_cores(self) -> tuple[tuple[int, ...], ...]:
        """Core ids each integer gene chooses among (common to the group)."""
        allowed = self.problem.allowed
        out = []
        for g in self.groups:
            common = set(allowed[g[0]])
            for i in g[1:]:
                common &= set(allowed[i])
            out.append(tuple(c for c in allowed[g[0]] if c in common))
        return tuple(out)

    @property
    def choices(self) -> tuple[int, ...]:
        return tuple(len(c) for c in self.group_cores)

    @property
    def n_keys(self) -> int:
        return self.problem.n_nodes if self.style == "magma" else 0

    def allocation(self, genome: Sequence[float]) -> tuple[int, ...]:
        """Core id per node of the integer genes (fixed nodes on their only core)."""
        alloc = [a[0] for a in self.problem.allowed]
        for gene, g, cores in zip(genome, self.groups, self.group_cores, strict=False):
            for i in g:
                alloc[i] = cores[int(gene)]
        return tuple(alloc)

    def decode(self, genome: Sequence[float]) -> Decision:
        alloc = self.allocation(genome)
        if self.style != "magma":
            return Decision(alloc)
        n_int = len(self.choices)
        return Decision(alloc, tuple(float(k) for k in genome[n_int:]))

    def encode(self, decision: Decision) -> Genome:
        """Genome of a decision: each group takes the core most of its members use.

        Raises
        ------
        ValueError
            If no member of a group runs on one of the group's common cores.
        """
        genome: Genome = []
        for g, cores in zip(self.groups, self.group_cores, strict=True):
            used = [decision.allocation[i] for i in g if decision.allocation[i] in cores]
            if not used:
                name = self.problem.nodes[g[0]].name
                raise ValueError(
                    f"node {name!r} allocated to core {decision.allocation[g[0]]}, "
                    f"allowed cores: {list(cores)}"
                )
            genome.append(cores.index(max(cores, key=used.count)))
        if self.style == "magma":
            genome += _keys(self.problem, decision.priority)
        return genome

    def seeds(self) -> list[Genome]:
        """The greedy earliest-finish allocation
        (:func:`monet_opt.heuristics.allocation.greedy_decision`)."""
        return [self.encode(greedy_decision(self.problem))]


def _keys(problem: Problem, priority: Sequence[float] | None) -> list[float]:
    """Random keys in [0, 1) with the same program order as ``priority``."""
    prio = problem.default_priority if priority is None else priority
    rank = sorted(range(problem.n_nodes), key=lambda i: (prio[i], -i))
    keys = [0.0] * problem.n_nodes
    for r, i in enumerate(rank):
        keys[i] = r / max(1, problem.n_nodes)
    return keys


@dataclass(frozen=True, eq=False)
class FusionSpace(Space):
    """Fusion-cut genomes (exact counterpart: :func:`solve_fusion`).

    Bit ``k`` fuses the nodes at positions ``k`` and ``k + 1`` of π (the program order
    of ``priority``).  Runs longer than ``max_stack`` are split every ``max_stack``
    nodes, as the MILP's stack-length rows require.  Stacks whose weights and tile
    buffers overflow on-chip memory are infeasible (:class:`~monet_opt.ga.engine`
    penalizes them), as the MILP's capacity rows forbid them.
    """

    allocation: tuple[int, ...] = ()
    priority: tuple[float, ...] | None = None
    checkpoints: frozenset[str] | None = None
    max_stack: int = 8

    def __post_init__(self) -> None:
        if self.max_stack < 2:
            raise ValueError(f"max_stack must be >= 2, got {self.max_stack}")
        if not self.allocation:
            alloc = greedy_decision(self.problem).allocation
            object.__setattr__(self, "allocation", tuple(alloc))
        object.__setattr__(self, "name", "fusion")

    @cached_property
    def order(self) -> tuple[int, ...]:
        return self.problem.program_order(self.priority)

    @property
    def choices(self) -> tuple[int, ...]:
        return (2,) * max(0, len(self.order) - 1)

    def stacks(self, bits: Sequence[float]) -> tuple[tuple[int, ...], ...]:
        """Stacks (node indices in π order) of fusion bits."""
        return _runs(self.order, bits, self.max_stack)

    def decode(self, genome: Sequence[float]) -> Decision:
        return Decision(self.allocation, self.priority, self.stacks(genome), self.checkpoints)

    def encode(self, decision: Decision) -> Genome:
        return _bits(self.order, decision.stacks)

    def seeds(self) -> list[Genome]:
        """Layer by layer and the greedy "cut when the weights overflow" stacks."""
        lbl = [0] * len(self.choices)
        greedy = greedy_stacks(
            self.problem, self.allocation, self.priority, self.max_stack, self.checkpoints
        )
        return [lbl, _bits(self.order, greedy)]


def _runs(
    order: Sequence[int], bits: Sequence[float], max_stack: int
) -> tuple[tuple[int, ...], ...]:
    out: list[tuple[int, ...]] = []
    cur = [order[0]] if order else []
    for k in range(len(order) - 1):
        if bits[k] and len(cur) < max_stack:
            cur.append(order[k + 1])
        else:
            if len(cur) > 1:
                out.append(tuple(cur))
            cur = [order[k + 1]]
    if len(cur) > 1:
        out.append(tuple(cur))
    return tuple(out)


def _bits(order: Sequence[int], stacks: Sequence[Sequence[int]]) -> Genome:
    pos = {i: p for p, i in enumerate(order)}
    bits: Genome = [0] * max(0, len(order) - 1)
    for st in stacks:
        ps = sorted(pos[i] for i in st)
        for p in ps[:-1]:
            bits[p] = 1
    return bits


@dataclass(frozen=True, eq=False)
class CheckpointSpace(Space):
    """MONET's checkpoint bit vector (exact counterpart: :func:`solve_checkpointing`).

    Bit ``k`` is 1 when activation ``problem.checkpoint_tensors[k]`` is dropped and
    recomputed, 0 when it is kept.  The footprint budget is a constraint of the fitness
    (:func:`monet_opt.ga.engine.run_search`), not of the space.
    """

    allocation: tuple[int, ...] = ()
    priority: tuple[float, ...] | None = None
    stacks: tuple[tuple[int, ...], ...] = ()

    def __post_init__(self) -> None:
        if not self.allocation:
            alloc = greedy_decision(self.problem).allocation
            object.__setattr__(self, "allocation", tuple(alloc))
        object.__setattr__(self, "name", "checkpointing")

    @property
    def choices(self) -> tuple[int, ...]:
        return (2,) * len(self.problem.checkpoint_tensors)

    def kept(self, bits: Sequence[float]) -> frozenset[str]:
        cands = self.problem.checkpoint_tensors
        return frozenset(a for a, b in zip(cands, bits, strict=False) if not b)

    def decode(self, genome: Sequence[float]) -> Decision:
        return Decision(self.allocation, self.priority, self.stacks, self.kept(genome))

    def encode(self, decision: Decision) -> Genome:
        kept = decision.checkpoints
        cands = self.problem.checkpoint_tensors
        return [0 if kept is None or a in kept else 1 for a in cands]

    def seeds(self) -> list[Genome]:
        """Store-all (all 0) and drop-all (all 1: the least footprint, always feasible
        when any keep set is)."""
        n = len(self.choices)
        return [[0] * n, [1] * n]


@dataclass(frozen=True, eq=False)
class JointSpace(Space):
    """Layer allocation + fusion bits + checkpoint bits (exact: :func:`solve_joint`).

    The program order is the problem's default π; fusion bits refer to it.
    """

    max_stack: int = 8
    fusion: bool = True
    checkpointing: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", "joint")

    @cached_property
    def parts(self) -> tuple[AllocationSpace, FusionSpace | None, CheckpointSpace | None]:
        alloc = AllocationSpace(self.problem, "layer")
        default = greedy_decision(self.problem).allocation
        fus = FusionSpace(self.problem, default, max_stack=self.max_stack)
        ck = CheckpointSpace(self.problem, default)
        return alloc, (fus if self.fusion else None), (ck if self.checkpointing else None)

    @cached_property
    def _cuts(self) -> tuple[int, int]:
        a, f, _ = self.parts
        n_a = len(a.choices)
        return n_a, n_a + (len(f.choices) if f is not None else 0)

    @property
    def choices(self) -> tuple[int, ...]:
        a, f, c = self.parts
        return a.choices + (f.choices if f else ()) + (c.choices if c else ())

    def decode(self, genome: Sequence[float]) -> Decision:
        a, f, c = self.parts
        i, j = self._cuts
        stacks = f.stacks(genome[i:j]) if f is not None else ()
        kept = c.kept(genome[j:]) if c is not None else None
        return Decision(a.allocation(genome[:i]), None, stacks, kept)

    def encode(self, decision: Decision) -> Genome:
        a, f, c = self.parts
        out = a.encode(Decision(decision.allocation))
        if f is not None:
            out += f.encode(decision)
        if c is not None:
            out += c.encode(decision)
        return out

    def seeds(self) -> list[Genome]:
        """Greedy allocation with every combination of the parts' seeds."""
        a, f, c = self.parts
        out = []
        for ga in a.seeds():
            for gf in f.seeds() if f is not None else [[]]:
                for gc in c.seeds() if c is not None else [[]]:
                    out.append(ga + gf + gc)
        return out
