r"""Exact multi-level rematerialization: the public entry points.

Given Checkmate's abstract data (:mod:`monet_opt.formulations.checkmate`: nodes in
topological order, a compute cost and an output size per node, predecessor lists, a
memory budget), find a schedule of ``compute i`` / ``free i`` operations of least total
compute cost in which a value may be freed and recomputed any number of times, from
values that were themselves recomputed.  The package is split by method:

* :mod:`~monet_opt.formulations.remat_core`: the problem, the memory accounting
  (Checkmate's), the operations :class:`Op`, the results :class:`RematResult` and the
  replay :func:`validate_schedule` every result goes through;
* :mod:`~monet_opt.formulations.remat_segments`: the nested segment recurrence
  :math:`\mathrm{Seg}(s, t, m, h)` shared by the two DPs below (exact memory values,
  memoized, schedule reconstruction), parameterized by the advance, the reversal and the
  recorded advances of a step;
* :mod:`~monet_opt.formulations.remat_chain`, method 1: the chain DP
  (:func:`solve_chain`, optimal over nested schedules, equal to Revolve's
  :math:`T(l, s)` on :func:`revolve_chain`);
* :mod:`~monet_opt.formulations.remat_search`, method 2: A* over (resident set,
  computed set) states (:func:`solve_search`, the full space, any small DAG);
* :mod:`~monet_opt.formulations.remat_blocks`, method 3: the block DP
  (:func:`solve_blocks`, a chain of blocks with an exact A* inside each block);
* :mod:`~monet_opt.formulations.remat_instances`: generators of instances (a training
  chain, random training DAGs, random chains, random chains of residual blocks) for the
  tests and benchmarks.

This module holds the dispatcher :func:`solve_remat` and the adapter to
:class:`~monet_opt.schedule.problem.Problem` (:class:`TrainingGraph`,
:func:`from_problem`, :func:`single_level_schedule`), and re-exports the public names
of the modules above.

:func:`from_problem` derives the abstract data from a
:class:`~monet_opt.schedule.problem.Problem` and an allocation; :func:`single_level_schedule`
writes MONET's single-level keep-set semantics as a schedule of this module, so both
models can be replayed under one accounting; :func:`min_budget_blocks` bisects the
least feasible budget.

API
---
:func:`solve_remat` dispatches (chain DP on uniform-size chains, else the search) and
every result carries its schedule, checked by :func:`validate_schedule` (which replays
it and checks memory at every computation, inputs resident, every node computed, and
returns the cost).  A caller holding a :class:`monet_opt.schedule.problem.Problem`
provides: the computation nodes in a topological order (forward then backward); per
node a cost (e.g. ``problem.costs.latency[i, core]``, cycles) and the bits of the
activations it writes that must stay resident until read; predecessor indices from the
data edges (activations only: weights and optimizer state are always resident and are
subtracted from the budget beforehand); and the budget in bits.

References
----------
* A. Griewank and A. Walther, "Algorithm 799: Revolve: an implementation of
  checkpointing for the reverse or adjoint mode of computational differentiation", ACM
  Transactions on Mathematical Software 26(1):19-45, 2000.
* O. Beaumont, L. Eyraud-Dubois, J. Herrmann, A. Joly and A. Shilova, "Optimal
  checkpointing for heterogeneous chains: how to train deep neural networks with limited
  memory", ACM Transactions on Mathematical Software, 2021 (arXiv:1911.13214).
* P. Jain, A. Jain, A. Nrusimha, A. Gholami, P. Abbeel, K. Keutzer, I. Stoica and
  J. E. Gonzalez, "Checkmate: Breaking the memory wall with optimal tensor
  rematerialization", Proc. MLSys 2020 (arXiv:1910.02653).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from monet_opt.formulations.remat_blocks import (
    BlockChain,
    detect_blocks,
    make_blocks,
    min_budget_blocks,
    solve_blocks,
)
from monet_opt.formulations.remat_chain import (
    ChainSpec,
    chain_spec,
    revolve_chain,
    solve_chain,
    uniform_sizes,
)
from monet_opt.formulations.remat_core import (
    COMPUTE,
    FREE,
    Op,
    RematResult,
    ScheduleCheck,
    validate_schedule,
)
from monet_opt.formulations.remat_search import solve_search

__all__ = [
    "COMPUTE",
    "FREE",
    "BlockChain",
    "ChainSpec",
    "Op",
    "RematResult",
    "ScheduleCheck",
    "TrainingGraph",
    "chain_spec",
    "detect_blocks",
    "from_problem",
    "make_blocks",
    "min_budget_blocks",
    "revolve_chain",
    "single_level_schedule",
    "solve_blocks",
    "solve_chain",
    "solve_remat",
    "solve_search",
    "uniform_sizes",
    "validate_schedule",
]


def solve_remat(
    cost: Sequence[float],
    mem: Sequence[float],
    preds: Sequence[Sequence[int]],
    budget: float,
    *,
    method: str = "auto",
    max_states: int = 1_000_000,
) -> RematResult:
    """Optimal multi-level rematerialization schedule under a memory budget.

    Parameters
    ----------
    cost
        Compute cost of each node (cycles, or any additive unit), topological order
        (forward then backward).
    mem
        Output size of each node (bits, or any unit shared with ``budget``).
    preds
        ``preds[i]``: indices ``< i`` of the nodes whose outputs node ``i`` reads.
    budget
        Memory budget, same unit as ``mem``.
    method
        ``"auto"`` (chain DP if :func:`chain_spec` recognizes the graph and
        :func:`uniform_sizes` holds, else search), ``"chain"`` (nested-space DP, any
        sizes) or ``"search"`` (full space).
    max_states
        State limit of the search.

    Returns
    -------
    RematResult
        With the schedule, already checked by :func:`validate_schedule`.
    """
    if method not in ("auto", "chain", "search"):
        raise ValueError(f"unknown method {method!r}")
    if method == "search":
        return solve_search(cost, mem, preds, budget, max_states=max_states)
    spec = chain_spec(preds)
    if spec is None:
        if method == "chain":
            raise ValueError("not a chain instance (see chain_spec)")
        return solve_search(cost, mem, preds, budget, max_states=max_states)
    if method == "auto" and not uniform_sizes(mem, spec):
        return solve_search(cost, mem, preds, budget, max_states=max_states)
    return solve_chain(cost, mem, preds, budget, spec)


# ---------------------------------------------------------------------------------------
# training graphs of monet_opt.schedule.problem.Problem


@dataclass(frozen=True)
class TrainingGraph:
    """Abstract data of a :class:`~monet_opt.schedule.problem.Problem` (:func:`from_problem`).

    ``cost``, ``mem``, ``preds`` as taken by :func:`solve_remat`, over the forward and
    backward computation nodes (indices ``nodes`` of the problem, kept in its order);
    ``is_forward`` per node; ``hint`` per node: the local index of the forward node a
    backward node derives from (``-1``: none), for :func:`detect_blocks`; ``names``.
    """

    cost: tuple[float, ...]
    mem: tuple[float, ...]
    preds: tuple[tuple[int, ...], ...]
    is_forward: tuple[bool, ...]
    hint: tuple[int, ...]
    names: tuple[str, ...]
    nodes: tuple[int, ...]

    def blocks(self) -> BlockChain:
        """:func:`detect_blocks` with the forward-op hints."""
        return detect_blocks(self.preds, self.is_forward, self.hint)


def from_problem(
    problem, allocation: Sequence[int], order: Sequence[int] | None = None
) -> TrainingGraph:
    """The abstract data of a training graph under an allocation.

    What is counted (:func:`monet_opt.schedule.realize_remat.resident_bits`, the
    footprint of :attr:`Decision.remat <monet_opt.schedule.types.Decision.remat>`):
    every tensor with the role ``activation``, ``gradient`` (of an activation) or
    ``loss``, written by a forward or backward computation node, from its computation
    until it is freed (sizes in bits: the problem's edge bits, else the graph's tensor
    bits).  Not counted: weights and optimizer state (they live in DRAM and are
    streamed in, as in the rest of the package), weight gradients (written to DRAM by
    the node producing them; their edges, e.g. the accumulation of a tied embedding's
    gradient, are not data dependencies here), network inputs and labels (not
    computed), and optimizer nodes (not part of the schedule: they run after their
    inputs on values in DRAM).  ``cost[i]`` is the latency of node ``i`` on its core,
    ``problem.costs.latency[i, core index of allocation[i]]``, in cycles.  ``preds``
    are the data edges among the kept nodes carrying counted tensors.

    Parameters
    ----------
    problem
        The base problem.
    allocation
        Core id per node of ``problem``.
    order
        A topological order of the problem's nodes (e.g. the program order π); the
        local indices follow it.  ``None``: the problem's node order.

    Raises
    ------
    ValueError
        If ``order`` is not a topological order of the counted dependencies.
    """
    from monet_opt.models.ir import Phase
    from monet_opt.schedule.realize_remat import resident_bits, scheduled_nodes, value_preds

    sched = scheduled_nodes(problem)
    member = set(sched)
    keep = list(sched) if order is None else [int(i) for i in order if int(i) in member]
    if len(keep) != len(sched):
        raise ValueError("order must list every forward and backward node once")
    loc = {v: k for k, v in enumerate(keep)}
    core_index = {cid: k for k, cid in enumerate(problem.core_ids)}
    vp = value_preds(problem)
    preds = [tuple(sorted(loc[s] for s in vp[v])) for v in keep]
    late = next((k for k, ps in enumerate(preds) if ps and ps[-1] >= k), None)
    if late is not None:
        raise ValueError(f"order is not topological at node {problem.nodes[keep[late]].name!r}")
    bits = resident_bits(problem)
    by_name = {problem.nodes[v].name: k for k, v in enumerate(keep)}
    hint = []
    for v in keep:
        op = problem.nodes[v]
        h = by_name.get(op.forward_op or "", -1) if op.phase == Phase.BACKWARD else -1
        hint.append(h if h >= 0 and problem.nodes[keep[h]].phase == Phase.FORWARD else -1)
    cost = [
        float(problem.costs.latency[v, core_index.get(allocation[v], allocation[v])]) for v in keep
    ]
    return TrainingGraph(
        tuple(cost),
        tuple(float(bits[v]) for v in keep),
        tuple(preds),
        tuple(problem.nodes[v].phase == Phase.FORWARD for v in keep),
        tuple(hint),
        tuple(problem.nodes[v].name for v in keep),
        tuple(keep),
    )


def single_level_schedule(
    preds: Sequence[Sequence[int]], is_forward: Sequence[bool], kept: Sequence[int] | set[int]
) -> list[Op]:
    """MONET's single-level schedule of a keep set, as operations of this module.

    The semantics of :mod:`monet_opt.schedule.realize`: the forward pass runs once in
    index order; a forward value read by the backward pass is *kept* (resident from its
    computation to its last backward reader) if in ``kept``, else freed after its last
    forward reader and recomputed just before its first backward reader from the kept
    values and the network input, by its own copies of the non-kept forward values it
    depends on (:math:`R_K(a)`), then held until its last backward reader.  Every other
    value is freed right after its last reader.  Replay it with
    :func:`validate_schedule` to get its cost and its peak under this module's
    accounting (every resident value counts).
    """
    n = len(preds)
    kept = set(kept)
    users: list[list[int]] = [[] for _ in range(n)]
    for k, ps in enumerate(preds):
        for p in ps:
            users[p].append(k)
    last = [max(u) if u else -1 for u in users]
    last_fwd = [max((u for u in users[i] if is_forward[u]), default=-1) for i in range(n)]
    bwd_read = [is_forward[i] and any(not is_forward[u] for u in users[i]) for i in range(n)]
    ops: list[Op] = []
    res: set[int] = set()

    def free_dead(pos: int) -> None:
        for j in sorted(res):
            if last[j] <= pos:
                ops.append(Op(FREE, j))
                res.discard(j)

    fwd = [i for i in range(n) if is_forward[i]]
    end_fwd = max(fwd) if fwd else -1
    for i in fwd:
        ops.append(Op(COMPUTE, i))
        res.add(i)
        for j in sorted(res):
            if last[j] <= i or (bwd_read[j] and j not in kept and last_fwd[j] <= i and j != i):
                ops.append(Op(FREE, j))
                res.discard(j)
    for j in sorted(res):
        if bwd_read[j] and j not in kept or last[j] <= end_fwd:
            ops.append(Op(FREE, j))
            res.discard(j)
    for i in range(n):
        if is_forward[i]:
            continue
        for a in preds[i]:
            if a in res:
                continue
            chain: set[int] = set()  # R_K(a): a and its non-kept forward ancestors
            todo = [a]
            while todo:
                v = todo.pop()
                if v in chain:
                    continue
                chain.add(v)
                todo += [p for p in preds[v] if p not in kept and p not in res]
            order = sorted(chain)
            for pos, v in enumerate(order):
                ops.append(Op(COMPUTE, v))
                res.add(v)
                for w in order[:pos]:  # free copies no later copy reads
                    if w in res and w != a and not any(w in preds[u] for u in order[pos + 1 :]):
                        ops.append(Op(FREE, w))
                        res.discard(w)
        ops.append(Op(COMPUTE, i))
        res.add(i)
        free_dead(i)
    return ops
