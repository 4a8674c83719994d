r"""Training state resident on chip across steps (steady-state training step).

A **training-state group** of a weight :math:`w` (a ``WEIGHT`` tensor no node produces)
is :math:`w` itself, the ``OPTIMIZER_STATE`` inputs of its optimizer node (Adam moments,
fp32 master copy, momentum) and that node's ``WEIGHT`` / ``OPTIMIZER_STATE`` outputs
(``w.next``, ``w.adam_m.next``...: the in-place update of the same storage, so they add
no bits).  The weight gradient ``dW`` (``WEIGHT_GRADIENT``) is produced and consumed
inside the step (the graphs have no accumulator across steps), so it is not part of the
group: it stays an ordinary on-chip tensor of the memory model, live from its producer to
the optimizer.

Keeping a group **resident** on core :math:`c` means, in the steady state of repeated
training steps (every step leaves the state where the next one reads it):

* every node of the (derived) problem that reads or writes a group tensor (the forward
  and backward nodes reading :math:`w`, their recompute copies, the optimizer node) runs
  on :math:`c`; otherwise the decision is invalid (``ValueError`` naming the node);
* those reads and writes leave the DRAM port: the tensors are removed from the nodes'
  DMA read / write tasks (:attr:`Problem.dram_read_tensors` and ``dram_write_tensors``,
  bits recomputed), so their DRAM cycles and energy disappear;
* the group occupies, for the **whole step** (a permanent demand at every position and in
  the occupancy traces), the memory of :math:`c` holding operand ``I2`` (the weights
  operand of the ZigZag convention: the optimizer reads :math:`w` and its state as
  ``I2``).  A node reading a group tensor in place from that memory holds no copy of it
  in its working set (its working set is lowered by the tensor's bits in that operand
  slot, down to 0); a node reading it through an operand held in another memory keeps its
  copy (:mod:`monet_opt.schedule.memory`);
* on a tile group (:mod:`monet_opt.cost.tiles`) the memory rows count all tiles, as every
  other demand does; one tile holds ``bits / used`` of a group whose node is split over
  ``used`` tiles (:func:`per_tile_bits`).

The transformation is :func:`make_resident`, applied by the evaluator to the problem it
simulates (after :func:`~monet_opt.schedule.realize.realize` /
:func:`~monet_opt.schedule.realize_remat.realize_remat`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from monet_opt.models.ir import Graph, Phase, TensorRole
from monet_opt.schedule.problem import Problem

__all__ = [
    "ResidentGroup",
    "training_state_groups",
    "touching_nodes",
    "group_core",
    "make_resident",
    "per_tile_bits",
]


@dataclass(frozen=True)
class ResidentGroup:
    """The training state of one weight (module docstring).

    Attributes
    ----------
    weight
        The weight tensor's name (the group's name in :attr:`Decision.resident`).
    tensors
        Every tensor of the group: the weight, its optimizer-state inputs and the
        optimizer's updated copies.
    stored
        The tensors that occupy memory (no node produces them): weight and state inputs.
    bits
        Bits the group occupies (sum of ``stored``).
    """

    weight: str
    tensors: frozenset[str]
    stored: tuple[str, ...]
    bits: float


@lru_cache(maxsize=16)
def _groups(graph: Graph) -> Mapping[str, ResidentGroup]:
    produced = set(graph.producer)
    out: dict[str, ResidentGroup] = {}
    for w in graph.tensors.values():
        if w.role != TensorRole.WEIGHT or w.name in produced:
            continue
        tensors = {w.name}
        stored = [w.name]
        for op in graph.ops:
            if op.phase != Phase.OPTIMIZER or w.name not in op.inputs:
                continue
            for t in op.inputs:
                if graph.tensors[t].role == TensorRole.OPTIMIZER_STATE and t not in produced:
                    tensors.add(t)
                    stored.append(t)
            for t in op.outputs:
                if graph.tensors[t].role in (TensorRole.WEIGHT, TensorRole.OPTIMIZER_STATE):
                    tensors.add(t)
        bits = float(sum(graph.tensors[t].bits for t in stored))
        out[w.name] = ResidentGroup(w.name, frozenset(tensors), tuple(stored), bits)
    return out


def training_state_groups(graph: Graph) -> Mapping[str, ResidentGroup]:
    """The training-state group of every weight of ``graph``, keyed by weight name.

    Parameters
    ----------
    graph
        A training graph (:func:`monet_opt.models.training.derive_training_graph`); a
        forward graph gives groups of the weight alone.

    Returns
    -------
    Mapping[str, ResidentGroup]
        In the graph's tensor order.
    """
    return _groups(graph)


def touching_nodes(problem: Problem, group: ResidentGroup) -> tuple[int, ...]:
    """Nodes of ``problem`` whose DMA tasks read or write a tensor of ``group``."""
    ts = group.tensors
    return tuple(
        i
        for i in range(problem.n_nodes)
        if ts.intersection(problem.dram_read_tensors[i])
        or ts.intersection(problem.dram_write_tensors[i])
    )


def group_core(problem: Problem, group: ResidentGroup, cidx: Sequence[int]) -> int | None:
    """The core index all the nodes touching ``group`` run on, or ``None`` if they do not
    share one (or no node touches it)."""
    cores = {int(cidx[i]) for i in touching_nodes(problem, group)}
    return cores.pop() if len(cores) == 1 else None


def make_resident(problem: Problem, resident: Iterable[str], cidx: Sequence[int]) -> Problem:
    """The problem with the training state of the weights ``resident`` kept on chip.

    Parameters
    ----------
    problem
        The problem the evaluator simulates (base or derived).
    resident
        Weight names (:attr:`ResidentGroup.weight`).
    cidx
        ``(n,)`` core index per node of ``problem``.

    Returns
    -------
    Problem
        ``problem`` itself when ``resident`` is empty; else a copy whose DMA tables no
        longer hold the groups' tensors and whose :attr:`Problem.resident` lists every
        group tensor with its core index (the memory model adds the permanent demand).

    Raises
    ------
    ValueError
        On a name that is not a weight with a training-state group, a group no node
        reads or writes, or a node touching a group that does not run on the core of the
        group (the core of its first touching node), naming the node.
    """
    names = tuple(sorted(set(resident)))
    if not names:
        return problem
    groups = training_state_groups(problem.graph)
    placed: list[tuple[str, int]] = []
    for w in names:
        g = groups.get(w)
        if g is None:
            raise ValueError(f"resident: {w!r} is not a weight of the graph")
        nodes = touching_nodes(problem, g)
        if not nodes:
            raise ValueError(f"resident: no node reads or writes the training state of {w!r}")
        c = int(cidx[nodes[0]])
        for i in nodes:
            if int(cidx[i]) != c:
                ids = problem.core_ids
                raise ValueError(
                    f"resident: node {problem.nodes[i].name!r} reads or writes the resident "
                    f"training state of {w!r} but runs on core {ids[int(cidx[i])]}, not on "
                    f"core {ids[c]} that holds it ({problem.nodes[nodes[0]].name!r} runs there)"
                )
        placed += [(t, c) for t in sorted(g.tensors)]
    return _resident_problem(problem, tuple(placed))


@lru_cache(maxsize=8)
def _resident_problem(problem: Problem, placed: tuple[tuple[str, int], ...]) -> Problem:
    gone = {t for t, _ in placed}
    bits = problem.graph.tensors
    rt = tuple(tuple(t for t in ts if t not in gone) for ts in problem.dram_read_tensors)
    wt = tuple(tuple(t for t in ts if t not in gone) for ts in problem.dram_write_tensors)

    def total(ts: tuple[str, ...], old: float, before: tuple[str, ...]) -> float:
        # unchanged rows keep their bits exactly (other reads: spills, inputs)
        if len(ts) == len(before):
            return float(old)
        return float(old) - float(sum(bits[t].bits for t in before if t in gone))

    rbits = np.asarray(
        [
            total(a, b, c)
            for a, b, c in zip(rt, problem.dram_read_bits, problem.dram_read_tensors, strict=True)
        ]
    )
    wbits = np.asarray(
        [
            total(a, b, c)
            for a, b, c in zip(wt, problem.dram_write_bits, problem.dram_write_tensors, strict=True)
        ]
    )
    rbits[np.abs(rbits) < 1e-6] = 0.0
    wbits[np.abs(wbits) < 1e-6] = 0.0
    return replace(
        problem,
        dram_read_tensors=rt,
        dram_write_tensors=wt,
        dram_read_bits=rbits,
        dram_write_bits=wbits,
        resident=tuple(sorted(set(problem.resident) | set(placed))),
    )


_TILES = re.compile(r"^tiles (\d+) ")


def per_tile_bits(problem: Problem, group: ResidentGroup, c: int) -> float:
    """Bits of ``group`` one tile of core index ``c`` holds: ``bits / used`` with the
    fewest tiles ``used`` any touching node's split uses (:mod:`monet_opt.cost.tiles`;
    the mapping string starts with ``tiles <used>``); ``bits`` on a core without tiles.
    """
    core = problem.accelerator.core(problem.core_ids[c])
    if core.tiles is None:
        return group.bits
    used = core.tiles.count
    for i in touching_nodes(problem, group):
        m = _TILES.match(str(getattr(problem.costs.details[i][c], "mapping", "")))
        used = min(used, int(m.group(1)) if m else 1)
    return group.bits / max(used, 1)
