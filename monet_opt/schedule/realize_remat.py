r"""Realizing a multi-level rematerialization schedule as a derived scheduling problem.

MONET's checkpointing (:mod:`monet_opt.schedule.realize`) recomputes a dropped activation
once, from kept tensors.  Revolve (Griewank and Walther, ACM TOMS 26(1), 2000) and
Checkmate (Jain et al., MLSys 2020) allow more: a value may be recomputed from values
that were themselves recomputed, and may be freed and recomputed again.  Such a schedule
is a sequence of computations; :attr:`Decision.remat
<monet_opt.schedule.types.Decision.remat>` holds it as base node indices in execution
order, and :func:`realize_remat` turns it into an ordinary derived
:class:`~monet_opt.schedule.problem.Problem`, the same way
:func:`~monet_opt.schedule.realize.realize` does for a keep set.  The evaluator then
simulates it with unchanged semantics.

The derived problem
-------------------
* **Nodes.** One per listed computation, in the listed order: the first computation of
  a node is its *original*, later ones are *recompute copies* (same cost row, same core).
  Optimizer nodes run once; when the schedule does not list them they are placed right
  after the last computation of their last input (and after the optimizer nodes they
  read), in base program order among ties.
* **Edges.** A computation reads each input from the **latest** earlier computation of
  its producer (the schedule must have computed it: :class:`ValueError` otherwise).  The
  DRAM rules are those of single-level checkpointing: an edge between two originals
  keeps the base problem's route (``via_dram`` from ``layer_io``) or is pipelined when
  both sit in one fused stack; a copy reading an original reads it back from DRAM (the
  original was stored); a copy's output stays on chip for its readers.
* **DMA traffic, tiles, costs** follow :mod:`~monet_opt.schedule.realize`: originals
  keep their base DMA queue dependencies, copies write nothing, and an original whose
  every reader reads a later copy discards its output instead of writing it.
* **Stacks** (fused layer stacks) must be consecutive among the originals in schedule
  order; copies may run between their nodes, as in single-level checkpointing.

Footprint (the memory the budget limits)
-----------------------------------------
Checkmate's accounting, the one of :mod:`monet_opt.formulations.remat_multilevel`:
every computed value of role ``activation``, ``gradient`` (of an activation) or
``loss`` counts (:func:`resident_bits`) from its computation to the last computation
that reads that instance; at a computation, the resident values (its inputs among them)
and its output count.  Weights, weight gradients and optimizer state are not counted
(they live in DRAM).  :func:`remat_footprint` gives it per schedule position;
:attr:`Realization.footprint <monet_opt.schedule.realize.Realization.footprint>` per
derived position (its peak is the same).  It is a different number from MONET's
footprint :math:`F(K)` (which counts only the checkpoint activations, from their
production or recomputation to their last backward reader): ``checkpointing.levels:
multi`` states its budget in this accounting.

:func:`single_level_sequence` writes MONET's single-level schedule of a keep set as such
a sequence: realized here it gives the derived nodes of
:func:`~monet_opt.schedule.realize.realize`, and the same edges, traffic and simulated
times whenever π runs every forward node before the backward pass (tested).  When a
forward node (typically the loss) runs after a recompute copy of one of its inputs, it
reads the copy here, the original there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from functools import lru_cache

import numpy as np

from monet_opt.models.ir import Phase, TensorRole
from monet_opt.schedule.problem import Edge, Problem
from monet_opt.schedule.realize import (
    Realization,
    _derived_problem,
    _kept_and_dropped,
    _Layout,
    reader_positions,
    recompute_set,
    validate_stacks,
)
from monet_opt.schedule.types import Decision

__all__ = [
    "COUNTED_ROLES",
    "realize_remat",
    "remat_footprint",
    "own_read_cycles",
    "resident_bits",
    "scheduled_nodes",
    "single_level_sequence",
    "stacks_in_schedule",
    "value_preds",
    "with_optimizer_nodes",
]

#: Tensor roles whose values count in the footprint of a multi-level schedule.
COUNTED_ROLES = frozenset({TensorRole.ACTIVATION, TensorRole.GRADIENT, TensorRole.LOSS})


@lru_cache(maxsize=16)
def scheduled_nodes(problem: Problem) -> tuple[int, ...]:
    """Base indices of the forward and backward nodes (the ones a schedule lists)."""
    return tuple(i for i, op in enumerate(problem.nodes) if op.phase != Phase.OPTIMIZER)


@lru_cache(maxsize=16)
def resident_bits(problem: Problem) -> np.ndarray:
    """Bits of the counted outputs of every node, shape ``(n_nodes,)`` (0 for optimizer
    nodes): per output tensor of a counted role (``activation``, ``gradient``,
    ``loss``), the largest bits of its edges, else the graph's size."""
    tens = problem.graph.tensors
    out: list[dict[str, float]] = [{} for _ in problem.nodes]
    for e in problem.edges:
        t = tens.get(e.tensor)
        if t is not None and t.role not in COUNTED_ROLES:
            continue
        out[e.src][e.tensor] = max(out[e.src].get(e.tensor, 0.0), float(e.bits))
    bits = np.zeros(problem.n_nodes)
    for i in scheduled_nodes(problem):
        b = dict(out[i])
        for name in problem.nodes[i].outputs:
            t = tens.get(name)
            if name not in b and t is not None and t.role in COUNTED_ROLES:
                b[name] = float(t.numel * t.precision)
        bits[i] = sum(b.values())
    return bits


@lru_cache(maxsize=16)
def own_read_cycles(problem: Problem) -> np.ndarray:
    """DRAM port cycles of the reads every computation of a node makes, whatever the
    schedule: its inputs that no edge brings (weights, optimizer state, network inputs),
    shape ``(n_nodes,)``.  A recompute copy repeats them (:func:`realize_remat`)."""
    g = problem.graph
    edge_in: list[set[str]] = [set() for _ in problem.nodes]
    for e in problem.edges:
        edge_in[e.dst].add(e.tensor)
    out = np.zeros(problem.n_nodes)
    for i, ts in enumerate(problem.dram_read_tensors):
        out[i] = sum(float(g.tensors[t].bits) for t in ts if t not in edge_in[i])
    return out * float(problem.costs.dram_cycles_per_bit)


@lru_cache(maxsize=16)
def value_preds(problem: Problem) -> tuple[frozenset[int], ...]:
    """Per node, the scheduled nodes whose counted values it reads (the data
    dependencies of the footprint; optimizer nodes read nothing counted here)."""
    tens = problem.graph.tensors
    sched = set(scheduled_nodes(problem))
    out: list[set[int]] = [set() for _ in problem.nodes]
    for e in problem.edges:
        t = tens.get(e.tensor)
        if e.src in sched and e.dst in sched and (t is None or t.role in COUNTED_ROLES):
            out[e.dst].add(e.src)
    return tuple(frozenset(s) for s in out)


def _check_sequence(problem: Problem, seq: Sequence[int]) -> tuple[int, ...]:
    """The sequence as ints; raises :class:`ValueError` on an index out of range, an
    optimizer node listed twice, or a forward/backward node never computed."""
    n = problem.n_nodes
    out = tuple(int(i) for i in seq)
    bad = [i for i in out if not 0 <= i < n]
    if bad:
        raise ValueError(f"schedule: node index {bad[0]} out of range 0..{n - 1}")
    seen = set(out)
    missing = [i for i in scheduled_nodes(problem) if i not in seen]
    if missing:
        raise ValueError(
            f"schedule never computes node {problem.nodes[missing[0]].name!r} "
            f"({len(missing)} nodes missing)"
        )
    opt = [i for i in out if problem.nodes[i].phase == Phase.OPTIMIZER]
    if len(opt) != len(set(opt)):
        raise ValueError("schedule lists an optimizer node twice (they run once)")
    return out


def _with_optimizer(problem: Problem, seq: tuple[int, ...]) -> tuple[int, ...]:
    """The sequence with every unlisted optimizer node placed after its inputs."""
    listed = set(seq)
    missing = [
        i for i, op in enumerate(problem.nodes) if op.phase == Phase.OPTIMIZER and i not in listed
    ]
    if not missing:
        return seq
    last = {i: p for p, i in enumerate(seq)}
    anchor: dict[int, int] = {}
    rank = {i: k for k, i in enumerate(problem.program_order())}
    for o in sorted(missing, key=rank.__getitem__):
        anchor[o] = max((anchor.get(p, last.get(p, -1)) for p in problem.preds[o]), default=-1)
    after: dict[int, list[int]] = {}
    for o in sorted(missing, key=lambda o: (anchor[o], rank[o])):
        after.setdefault(anchor[o], []).append(o)
    out = list(after.get(-1, []))
    for p, i in enumerate(seq):
        out.append(i)
        out += after.get(p, [])
    return tuple(out)


def with_optimizer_nodes(problem: Problem, remat: Sequence[int]) -> tuple[int, ...]:
    """The schedule with every optimizer node listed, at the place :func:`realize_remat`
    gives it (after its inputs when the schedule does not list it).

    Raises
    ------
    ValueError
        On an invalid schedule.
    """
    return _with_optimizer(problem, _check_sequence(problem, remat))


def _sources(problem: Problem, full: Sequence[int]) -> list[dict[int, int]]:
    """Per derived position, the derived position each base in-edge reads from (keyed
    by edge index): the latest earlier computation of its producer."""
    latest: dict[int, int] = {}
    out: list[dict[int, int]] = []
    in_edges = _in_edges(problem)
    for d, o in enumerate(full):
        src: dict[int, int] = {}
        for k in in_edges[o]:
            s = problem.edges[k].src
            if s not in latest:
                raise ValueError(
                    f"schedule computes {problem.nodes[o].name!r} (position {d}) before its "
                    f"input {problem.nodes[s].name!r}"
                )
            src[k] = latest[s]
        out.append(src)
        latest[o] = d
    return out


@lru_cache(maxsize=16)
def _in_edges(problem: Problem) -> tuple[tuple[int, ...], ...]:
    out: list[list[int]] = [[] for _ in problem.nodes]
    for k, e in enumerate(problem.edges):
        out[e.dst].append(k)
    return tuple(tuple(v) for v in out)


def _lifetimes(problem: Problem, full: Sequence[int], sources: Sequence[dict[int, int]]):
    """Footprint per derived position (module docstring): each computation's counted
    bits from its position to its last counted reader."""
    bits = resident_bits(problem)
    vp = value_preds(problem)
    end = list(range(len(full)))
    for d, o in enumerate(full):
        for k, s in sources[d].items():
            if problem.edges[k].src in vp[o]:
                end[s] = max(end[s], d)
    diff = np.zeros(len(full) + 1)
    for d, o in enumerate(full):
        diff[d] += bits[o]
        diff[end[d] + 1] -= bits[o]
    return np.cumsum(diff)[: len(full)]


def remat_footprint(problem: Problem, remat: Sequence[int]) -> np.ndarray:
    """Footprint (bits) at every position of a schedule, Checkmate's accounting.

    Parameters
    ----------
    problem
        Base problem.
    remat
        Schedule (:attr:`Decision.remat <monet_opt.schedule.types.Decision.remat>`).

    Returns
    -------
    numpy.ndarray
        Shape ``(len(remat),)``: the bits resident while each listed computation runs
        (its inputs, every other live value and its output).

    Raises
    ------
    ValueError
        On an invalid schedule (see :func:`realize_remat`).
    """
    seq = _check_sequence(problem, remat)
    full = _with_optimizer(problem, seq)
    fp = _lifetimes(problem, full, _sources(problem, full))
    pos = [d for d, o in enumerate(full) if problem.nodes[o].phase != Phase.OPTIMIZER]
    return fp[pos]


def _original_order(problem: Problem, remat: Sequence[int]) -> list[int]:
    full = _with_optimizer(problem, _check_sequence(problem, remat))
    seen: set[int] = set()
    out = []
    for o in full:
        if o not in seen:
            seen.add(o)
            out.append(o)
    return out


def stacks_in_schedule(
    problem: Problem, stacks: Sequence[Sequence[int]], remat: Sequence[int]
) -> tuple[tuple[int, ...], ...]:
    """The stacks (base node indices) that are consecutive among the originals of a
    schedule, so that :func:`realize_remat` can fuse them; the others are dropped.

    Raises
    ------
    ValueError
        On an invalid schedule.
    """
    orig = _original_order(problem, remat)
    pos = {o: p for p, o in enumerate(orig)}
    out = []
    for st in stacks:
        ps = sorted(pos[int(i)] for i in st)
        if len(ps) < 2 or ps[-1] - ps[0] == len(ps) - 1:
            out.append(tuple(int(i) for i in st))
    return tuple(out)


def single_level_sequence(
    problem: Problem, kept: Iterable[str] | None, priority: Sequence[float] | None = None
) -> tuple[int, ...]:
    """MONET's single-level schedule of a keep set as a multi-level schedule.

    The program order π of ``priority`` (``None``: the default), with the recompute
    copies :math:`R_K(a)` of every dropped activation inserted before its first backward
    reader, exactly as :func:`~monet_opt.schedule.realize.realize` inserts them; the
    optimizer nodes are listed at their places in π.

    Raises
    ------
    ValueError
        On unknown checkpoint names.
    """
    order = problem.program_order(priority)
    kept_set, dropped = _kept_and_dropped(problem, kept)
    win = reader_positions(problem, order)
    groups: dict[int, list[int]] = {}
    for a in dropped:
        groups.setdefault(order[win[a][1]], []).extend(recompute_set(problem, a, kept_set))
    out: list[int] = []
    for i in order:
        out += groups.get(i, [])
        out.append(i)
    return tuple(out)


def _edges(
    problem: Problem,
    full: Sequence[int],
    sources: Sequence[dict[int, int]],
    original: Sequence[bool],
    stacks: Sequence[Sequence[int]],
) -> list[Edge]:
    """Derived edges with the DRAM rules of the module docstring."""
    stack_of = {i: k for k, st in enumerate(stacks) for i in st}
    out: list[Edge] = []
    for d, o in enumerate(full):
        for k, s in sources[d].items():
            e = problem.edges[k]
            if not original[s]:
                out.append(Edge(s, d, e.tensor, e.bits, False))
            elif not original[d]:
                out.append(Edge(s, d, e.tensor, e.bits, True))
            else:
                same = e.src in stack_of and stack_of[e.src] == stack_of.get(o, -1)
                out.append(Edge(s, d, e.tensor, e.bits, e.via_dram and not same, same))
    out.sort(key=lambda e: (e.dst, e.src))
    return out


def realize_remat(problem: Problem, decision: Decision) -> Realization:
    """Derived problem of a decision's multi-level schedule (module docstring).

    Parameters
    ----------
    problem
        Base problem (layer by layer, store-all).
    decision
        ``remat`` is realized, with ``stacks`` (base node indices, consecutive among the
        originals in schedule order); ``checkpoints`` must be ``None``.

    Returns
    -------
    Realization
        ``remat`` set; ``dropped`` are the checkpoint activations some backward node
        reads from a recomputed copy, ``kept`` the others; ``footprint`` in bits per
        derived position (Checkmate's accounting).

    Raises
    ------
    ValueError
        If ``remat`` is ``None`` or invalid (index out of range, a node never computed,
        an input read before it is computed, an optimizer node listed twice), if
        ``checkpoints`` is set, or on invalid stacks.
    """
    if decision.remat is None:
        raise ValueError("the decision has no multi-level schedule (remat is None)")
    if decision.checkpoints is not None:
        raise ValueError("a multi-level schedule decides recomputation: checkpoints must be None")
    full = _with_optimizer(problem, _check_sequence(problem, decision.remat))
    sources = _sources(problem, full)
    first: dict[int, int] = {}
    for d, o in enumerate(full):
        first.setdefault(o, d)
    original = [first[o] == d for d, o in enumerate(full)]
    orig_order = [o for d, o in enumerate(full) if original[d]]
    stacks = validate_stacks(problem, decision.stacks, orig_order)
    labels = tuple(
        None if original[d] else (problem.nodes[o].outputs or (problem.nodes[o].name,))[0]
        for d, o in enumerate(full)
    )
    layout = _Layout(tuple(full), labels, dict(first), {})
    nodes = tuple(
        problem.nodes[o]
        if original[d]
        else replace(problem.nodes[o], name=f"{problem.nodes[o].name}@recompute#{d}")
        for d, o in enumerate(full)
    )
    edges = _edges(problem, full, sources, original, stacks)
    derived = _derived_problem(problem, layout, nodes, edges, write_unread=False)
    cands = set(problem.checkpoint_tensors)
    dropped = sorted(
        {
            e.tensor
            for e in edges
            if e.tensor in cands
            and not original[e.src]
            and problem.nodes[full[e.dst]].phase != Phase.FORWARD
        },
        key=lambda a: first[next(x.src for x in problem.edges if x.tensor == a)],
    )
    return Realization(
        base=problem,
        problem=derived,
        origin=tuple(full),
        recompute_for=labels,
        kept=frozenset(cands - set(dropped)),
        dropped=tuple(dropped),
        stacks=stacks,
        footprint=_lifetimes(problem, full, sources),
        priority=None,
        remat=tuple(int(i) for i in decision.remat),
    )
