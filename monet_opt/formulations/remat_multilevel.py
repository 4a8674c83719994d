r"""Exact multi-level rematerialization: a chain DP and a best-first search over states.

Problem (the abstract data of :mod:`monet_opt.formulations.checkmate`)
---------------------------------------------------------------------
Nodes :math:`v_0, \dots, v_{n-1}` in topological order (forward then backward), compute
cost :math:`C_i` (any additive unit, e.g. cycles), output size :math:`M_i` (bits, or any
memory unit shared with the budget), predecessors :math:`\mathrm{DEPS}[i] \subseteq
\{0, \dots, i-1\}`, memory budget :math:`B`.  A **schedule** is a sequence of operations
``compute i`` / ``free i`` on the set :math:`\mathcal R` of resident values:

* ``compute i`` needs :math:`\mathrm{DEPS}[i] \subseteq \mathcal R` and
  :math:`i \notin \mathcal R`, costs :math:`C_i` and adds :math:`i` to
  :math:`\mathcal R`; the memory in use at that moment,
  :math:`\sum_{j \in \mathcal R} M_j + M_i` (every resident value, including the inputs
  of :math:`i`, plus its output), must be :math:`\le B`;
* ``free i`` removes :math:`i` from :math:`\mathcal R` at no cost;
* every node is computed at least once.

A value may be computed, freed and computed again from values that were themselves
recomputed (multi-level recomputation, as in Revolve and Checkmate).  The objective is
the total compute cost :math:`\sum_i C_i \cdot (\text{number of computations of } i)`.

Memory accounting.  It is Checkmate's (Jain et al. 2020, section 4; the :math:`U_{t,k}`
rows of :mod:`~monet_opt.formulations.checkmate`): while node :math:`k` is evaluated,
the values retained into the stage, the values computed earlier in the stage and not
yet freed, and the output of :math:`k` are counted, and a value is freed right after
its last use in the stage.  Freeing a value right after its last use before its next
computation is optimal in both models, so both give the same peak to every schedule
both can express.  Checkmate's frontier-advancing schedules (stage :math:`t` computes
node :math:`t` last and recomputes earlier nodes in index order, each at most once) are
schedules here, so the optimum here is never above Checkmate's; it is below when a
better schedule recomputes values in another order, or first computes nodes in
another topological order (the tests have a graph where no frontier-advancing schedule
fits and a schedule exists).  Gradients are
ordinary nodes: a backward value counts from its computation to its last use.

Method 1: chain dynamic program (:func:`solve_chain`)
-----------------------------------------------------
**Chain instances** (:func:`chain_spec`) are a forward path :math:`f_1 \to \dots \to
f_{n_f}` followed by a backward path :math:`b_l \to \dots \to b_1`,
:math:`n_f \in \{l-1, l\}`, with

.. math:: \mathrm{DEPS}[b_i] = \{b_{i+1}\}_{i<l} \cup \{f_{i-1}\}_{i \ge 2}
          \cup \{f_i\}_{\text{if } o_i}

(:math:`o_i`: the backward of step :math:`i` also reads its output, as after a ReLU;
with :math:`n_f = l`, :math:`b_l` must read :math:`f_l`).  :math:`f_0` is the network
input: always available, not a node, not counted.  Write :math:`u_i, a_i` for the cost
and size of :math:`f_i` (:math:`a_0 = 0`) and :math:`v_i, g_i` for those of :math:`b_i`
(:math:`g_{l+1} = 0`).

State :math:`\mathrm{Seg}(s, t, m, h)`, :math:`0 \le s < t \le l`: the least cost to
compute :math:`b_t, \dots, b_{s+1}` when :math:`f_s` and :math:`b_{t+1}` are resident,
:math:`f_t` is resident iff :math:`h = 1`, and :math:`m` memory is left for these values
and everything the segment computes (the budget minus what enclosing segments hold).  At
its end :math:`f_s` and :math:`b_{s+1}` are resident and every other value of the
segment is freed.  Recurrence:

.. math::

   \mathrm{Seg}(t-1, t, m, h) = [o_t \wedge \neg h]\, u_t + v_t
   \quad\text{if}\quad [o_t \wedge \neg h]\,(a_{t-1} + a_t + g_{t+1}) \le m
   \ \text{and}\ a_{t-1} + o_t a_t + g_{t+1} + g_t \le m \ (\text{else } \infty),

   \mathrm{Seg}(s, t, m, h) = \min_{s < j < t,\ h' \in \{0, o_j\}}
      \sum_{k=s+1}^{j} u_k + \mathrm{Seg}(j, t, m - a_s, h) + \mathrm{Seg}(s, j, m, h'),

where the advance :math:`f_s \to f_j` must fit: :math:`a_s + [k-1>s]\,a_{k-1} + a_k +
g_{t+1} + h\,a_t \le m` for :math:`s < k \le j` (the input of :math:`f_k`, its output,
the left end, the gradient and :math:`f_t` are resident).  :math:`j` is the first
forward value stored while advancing from :math:`f_s`; :math:`h'` says whether
:math:`f_j` stays resident after the right segment, for :math:`b_j` (:math:`o_j`), or is
recomputed.  The optimum is :math:`\mathrm{Seg}(0, l, B, 0)`; ``m`` takes the exact
values :math:`B - \sum` (sizes of stored values) and is memoized (integers after
dividing by the gcd of the data, else fractions): no memory discretization.

Exactness scope.  The recurrence enumerates exactly the *nested* (persistent)
schedules: forward values are computed by advancing from a resident one, each backward
node runs once (necessarily in the order :math:`b_l, \dots, b_1`), and the left end
:math:`f_s` of a segment, once stored, stays resident until :math:`b_{s+1}` has run.
Over that space it is exact: between :math:`f_s` (the highest stored value below the
current gradient) and :math:`b_{s+1}` no value below :math:`s` is used, the first value
:math:`f_j` stored while advancing from :math:`f_s` splits the work into the right
segment :math:`(j, t]` and the left one :math:`(s, j]`, and storing a value of
:math:`(s, j)` before the right segment is finished only costs memory (it can be
computed later from :math:`f_s` at the same cost).  This is the decomposition of
Revolve (Griewank and Walther 2000) and of the heterogeneous-chain DP of Beaumont et al.
(2021), here with the value-level accounting above instead of discretized memory.

The full space can beat nested schedules only by dropping a stored left end after it
has served and recomputing it later from a lower value, which pays off when later
backward steps need more memory than earlier ones.  With uniform sizes (all
:math:`a_i` equal, all :math:`g_i` equal; any costs and :math:`o_i`) the DP equalled the
full-space optimum of :func:`solve_search` on every instance tried (random chains with
:math:`l \le 8` at every budget, over 30,000 (chain, budget) pairs, and Revolve chains
up to :math:`l = 10`);
with heterogeneous sizes it can be above it (a 9-node example is in
``tests/formulations/test_remat_multilevel.py``).  :func:`solve_remat` therefore uses
the DP only on uniform-size chains; :attr:`RematResult.space` names the space solved.

Revolve.  Revolve's chain of :math:`l` unit steps :math:`x_0 \to \dots \to x_l` with
:math:`s` snapshots (:math:`x_0` included) is :func:`revolve_chain`: :math:`f_1..f_l`
are :math:`x_1..x_l` (cost 1, size 1); :math:`b_{l+1}` is the adjoint seed, reading
:math:`x_l`; :math:`b_i` is :math:`\bar x_{i-1}` (cost 0, size 1), reading
:math:`x_{i-1}` and :math:`\bar x_i`; the budget is

.. math:: B = s + 2 = (s - 1) + 3,

that is :math:`s - 1` stored states besides :math:`x_0` (the network input, not counted)
and three values for the step being evaluated (advancing: its input, its output and the
adjoint held across it; reversing: :math:`x_{i-1}`, :math:`\bar x_i`, :math:`\bar
x_{i-1}`).  The optimum is :math:`T(l, s) + 1` forward computations at every
:math:`s \ge 1` (:math:`T` is :func:`~monet_opt.formulations.checkpointing.revolve_steps`):
Revolve does not count computing :math:`x_l`, which is part of reversing step
:math:`l`; here :math:`f_l` is a node.  So the extra work over one forward pass,
:math:`T(l, s) - (l - 1)`, is Revolve's.  An :math:`L`-layer network whose loss reads
the last output is ``revolve_chain(L + 1)`` (:math:`l = L + 1`, :math:`f_{L+1}` is the
loss, the network input is not counted): for :math:`L = 40` and :math:`s = 4`,
:math:`T(41, 4) - 40 = 68` extra steps.  The tests check the identity for
:math:`l \le 12` at every :math:`1 \le s \le l` and for :math:`L = 40, s = 4`, and check
the full-space search gives the same values for small :math:`l`.

Method 2: best-first search over states (:func:`solve_search`)
--------------------------------------------------------------
Any DAG.  States :math:`(\mathcal R, D)`: the resident set and the set of nodes computed
at least once; start :math:`(\emptyset, \emptyset)`, goal :math:`D = V`.  Two
normalizations lose no optimal schedule: (i) a value with no descendant outside
:math:`D` can never be used again and is freed at once, and a node of :math:`D` is
recomputed only if it still has such a descendant; (ii) frees are postponed until a
computation does not fit, and the set freed just before it is inclusion-minimal (any
other free can move later, past computations that still fit; if it moves past a
recomputation of the same value, that recomputation is dropped, which only helps).
So an edge computes node :math:`i` (cost :math:`C_i`) after freeing a minimal set of
non-inputs that makes it fit.  A* uses the heuristic

.. math:: h(\mathcal R, D) = \sum_{i \notin D} C_i + \sum_{j \in N} C_j,

where :math:`N` is the smallest set containing every input of a node outside :math:`D`
that is computed but not resident, closed under adding non-resident inputs of its
members: every node outside :math:`D` still runs, and every :math:`j \in N` must run
again before its reader.  It is admissible and consistent (a member leaves :math:`N`
only by being computed, since the inputs of a computed node are resident), so the first
goal reached is an optimal schedule over the full multi-level space; no path means no
schedule fits.  The state space is exponential: this is for small graphs (tens of
nodes); :attr:`RematResult.states` reports the expanded states.

Method 3: chain of blocks (:func:`solve_blocks`)
------------------------------------------------
Training graphs whose forward graph is a sequence of blocks separated by single-tensor
cuts (ResNet basic blocks, transformer layers, MLP layers) and whose backward graph
has the matching structure (:class:`BlockChain`, checked by :func:`make_blocks`, found
by :func:`detect_blocks`): block :math:`k` has forward nodes :math:`F_k`, whose output
:math:`x_k` is the only value read outside the block, and backward nodes :math:`B_k`,
whose gradient :math:`\delta_k` is the only value read by :math:`B_{k-1}`; :math:`F_k`
reads only :math:`x_{k-1}`, :math:`B_k` only :math:`F_k`, :math:`x_{k-1}` and
:math:`\delta_{k+1}`.  The DP is the chain DP above with :math:`f_k := ` block
:math:`k`'s forward and :math:`b_k :=` its backward, and three exact sub-problems per
block, each solved by the A* search of method 2 on the block's subgraph, with the
block's inputs fixed and resident (they cannot be recomputed inside it), nodes already
computed marked so, and the values handed on required resident at the end:

* advance :math:`A_k(c)`: compute :math:`F_k` from :math:`x_{k-1}`, ending with
  :math:`x_{k-1}, x_k` resident and every other value of the block freed;
* reversal :math:`R_t(c, h)`: from :math:`x_{t-1}, \delta_{t+1}` (and :math:`x_t` if
  :math:`h`) resident, compute :math:`B_t` (and any forward values of block :math:`t`
  again), ending with :math:`x_{t-1}, \delta_t`;
* recorded advance and reversal (Rotor's :math:`F_{all}`, generalized): advance
  through block :math:`s+1` keeping a subset :math:`T` of the values :math:`S_{s+1}
  \subseteq F_{s+1}` that :math:`B_{s+1}` reads, hold them across the right segment,
  and reverse block :math:`s+1` with them resident (``record="subsets"``: every
  nonempty :math:`T`; ``"all"``: :math:`T = S_{s+1}`; ``"none"``: never).

:math:`\mathrm{Seg}(s, t, m, h)` is the chain recurrence with advance costs
:math:`A_k(\cdot)` (capacity: :math:`m` minus the held values outside the block), the
leaf :math:`R_t(m, h)`, and the recorded option :math:`\mathrm{rec}_{s+1,T} +
\mathrm{Seg}(s+1, t, m - a_s - |T|, h) + R^{T}_{s+1}(m, h')`.  Each sub-problem's
least cost is an exact step function of its capacity, filled lazily: a solve at
:math:`c` returning cost :math:`v` with peak :math:`p` fixes the cost to :math:`v` on
:math:`[p, c]`, an infeasible solve fixes infeasibility below :math:`c`
(:class:`_Intervals`); memory stays exact (integers or fractions), no discretization.

Exactness scope: the optimum over **block-nested schedules**, those in which (i) a
block's values other than :math:`x_k, \delta_k` are resident only during an operation
on that block (an advance, a reversal) or, for a recorded subset :math:`T`, from the
recorded advance to the block's reversal; (ii) the operations on blocks nest as in the
chain DP: the stored boundary values form Revolve's persistent (LIFO) structure, each
:math:`B_t` runs in one reversal, in the order :math:`B_K, \dots, B_1`; (iii) an
advance holds its input until its output is computed.  Inside each operation the
schedule is arbitrary (full multi-level space, the A*), so the result is never above
the nested chain DP (singleton blocks give exactly it: Revolve's :math:`T(l, s)`, tested)
and never below the full optimum of :func:`solve_search` (it is a schedule, checked by
:func:`validate_schedule`).  It is above the full optimum when the best schedule keeps
a block's inner value across other blocks' operations while the block's input
boundary is dropped and recomputed later (a recorded value needs its block's input
stored; single-level keep sets can do that, see the documentation's measured table),
or drops a stored boundary early to make room for a larger gradient (the
heterogeneous-size case of method 1).  Cost: the DP has :math:`O(K^2)` segments per
distinct memory value; each block's sub-searches are exponential in the block's size
only (14 nodes per ResNet-18 basic block, 22 for the GPT-2 mini attention block).

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

import heapq
import itertools
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import reduce

from monet_opt.formulations.checkmate import check_remat_data

__all__ = [
    "BlockChain",
    "ChainSpec",
    "TrainingGraph",
    "detect_blocks",
    "from_problem",
    "make_blocks",
    "min_budget_blocks",
    "single_level_schedule",
    "solve_blocks",
    "Op",
    "RematResult",
    "ScheduleCheck",
    "chain_spec",
    "revolve_chain",
    "solve_chain",
    "solve_remat",
    "solve_search",
    "uniform_sizes",
    "validate_schedule",
]

COMPUTE = "compute"
FREE = "free"


@dataclass(frozen=True)
class Op:
    """One schedule operation: ``kind`` is ``"compute"`` or ``"free"``, ``node`` its index."""

    kind: str
    node: int


@dataclass(frozen=True)
class RematResult:
    """Outcome of an exact rematerialization solve.

    Attributes
    ----------
    status
        ``"optimal"`` or ``"infeasible"`` (no schedule fits the budget).
    method
        ``"chain_dp"`` or ``"search"``.
    space
        The schedule space the optimum is over: ``"full"`` (search) or ``"nested"``
        (chain DP; module docstring).
    objective
        Total compute cost of the schedule (units of ``cost``); ``inf`` if infeasible.
    recompute_cost
        ``objective - sum(cost)``: the work spent on recomputation.
    recomputations
        Number of computations beyond one per node; ``-1`` if infeasible.
    peak_memory
        Largest memory in use at a computation (units of ``mem``); ``nan`` if infeasible.
    schedule
        The operations, in order; empty if infeasible.
    seconds
        Wall time of the solve.
    states
        DP subproblems evaluated (chain DP) or states expanded (search).
    """

    status: str
    method: str
    space: str
    objective: float
    recompute_cost: float
    recomputations: int
    peak_memory: float
    schedule: tuple[Op, ...]
    seconds: float
    states: int


@dataclass(frozen=True)
class ScheduleCheck:
    """Replay of a valid schedule: total cost, peak memory, computations per node."""

    objective: float
    peak_memory: float
    computations: tuple[int, ...]


@dataclass(frozen=True)
class ChainSpec:
    """A chain instance (see the module docstring).

    Attributes
    ----------
    steps
        :math:`l`, the number of backward nodes.
    n_forward
        :math:`n_f \\in \\{l-1, l\\}`.
    reads_output
        ``reads_output[i - 1]`` is :math:`o_i` (the backward of step ``i`` reads
        :math:`f_i`), ``i = 1..l``.
    """

    steps: int
    n_forward: int
    reads_output: tuple[bool, ...]

    def forward_index(self, i: int) -> int:
        """Node index of :math:`f_i`, ``1 <= i <= n_forward``."""
        return i - 1

    def backward_index(self, i: int) -> int:
        """Node index of :math:`b_i`, ``1 <= i <= steps``."""
        return self.n_forward + self.steps - i


def _exact_memory(mem: Sequence[float], budget: float) -> tuple[list, object]:
    """Memory values as ints (integral data, divided by their gcd) or Fractions (exact)."""
    vals = [*mem, budget]
    if all(float(v).is_integer() for v in vals):
        g = reduce(math.gcd, (int(v) for v in vals if v), 0) or 1
        return [int(v) // g for v in mem], int(budget) // g if budget >= 0 else -1
    return [Fraction(float(v)) for v in mem], Fraction(float(budget))


def validate_schedule(
    schedule: Sequence[Op],
    cost: Sequence[float],
    mem: Sequence[float],
    preds: Sequence[Sequence[int]],
    budget: float,
) -> ScheduleCheck:
    """Replay ``schedule`` and check it.

    Checks, at every ``compute i``: its predecessors are resident, ``i`` is not, and the
    resident sizes plus :math:`M_i` are at most ``budget``; ``free`` only of resident
    values; every node computed at least once.  Memory is compared exactly (integers or
    fractions), so a schedule at the budget passes.

    Parameters
    ----------
    schedule
        Operations in order.
    cost, mem, preds, budget
        As in :func:`solve_remat`.

    Returns
    -------
    ScheduleCheck
        Total cost (units of ``cost``), peak memory (units of ``mem``) and computation
        counts.

    Raises
    ------
    ValueError
        On the first violated condition.
    """
    check_remat_data(cost, mem, preds, budget)
    n = len(cost)
    m, cap = _exact_memory(mem, budget)
    scale = float(budget) / float(cap) if cap else 1.0
    resident: set[int] = set()
    used = 0
    peak = 0
    count = [0] * n
    total = 0.0
    for pos, op in enumerate(schedule):
        i = op.node
        if not 0 <= i < n:
            raise ValueError(f"op {pos}: node {i} out of range")
        if op.kind == COMPUTE:
            if i in resident:
                raise ValueError(f"op {pos}: node {i} is already resident")
            missing = [p for p in preds[i] if p not in resident]
            if missing:
                raise ValueError(f"op {pos}: node {i} computed without inputs {missing}")
            used += m[i]
            if used > cap:
                raise ValueError(f"op {pos}: memory {float(used)} over the budget {float(cap)}")
            peak = max(peak, used)
            resident.add(i)
            count[i] += 1
            total += float(cost[i])
        elif op.kind == FREE:
            if i not in resident:
                raise ValueError(f"op {pos}: node {i} freed but not resident")
            resident.remove(i)
            used -= m[i]
        else:
            raise ValueError(f"op {pos}: unknown kind {op.kind!r}")
    never = [i for i in range(n) if not count[i]]
    if never:
        raise ValueError(f"nodes never computed: {never}")
    peak_mem = float(peak) * scale if isinstance(cap, int) else float(peak)
    return ScheduleCheck(total, peak_mem, tuple(count))


# ---------------------------------------------------------------------------------------
# chain dynamic program


def chain_spec(preds: Sequence[Sequence[int]]) -> ChainSpec | None:
    """Recognize a chain instance (module docstring); ``None`` if ``preds`` is not one.

    With ``n`` nodes, ``n`` even means :math:`n_f = l = n/2`, ``n`` odd
    :math:`n_f = l - 1 = (n-1)/2`.
    """
    n = len(preds)
    n_f = n // 2
    steps = n - n_f
    spec0 = ChainSpec(steps, n_f, ())
    for i in range(1, n_f + 1):
        k = spec0.forward_index(i)
        if sorted(preds[k]) != ([k - 1] if i > 1 else []):
            return None
    reads: list[bool] = []
    for i in range(1, steps + 1):
        k = spec0.backward_index(i)
        need = set()
        if i < steps:
            need.add(spec0.backward_index(i + 1))
        if i >= 2:
            need.add(spec0.forward_index(i - 1))
        got = set(preds[k])
        if not need <= got:
            return None
        extra = got - need
        if i <= n_f and extra == {spec0.forward_index(i)}:
            reads.append(True)
        elif not extra:
            reads.append(False)
        else:
            return None
    if n_f == steps and not reads[-1]:
        return None  # f_l would be read by nothing
    return ChainSpec(steps, n_f, tuple(reads))


def revolve_chain(steps: int) -> tuple[list[float], list[float], list[list[int]]]:
    r"""Revolve's homogeneous chain of ``steps`` = :math:`l` steps as abstract data.

    Forward nodes :math:`f_1..f_l` (:math:`x_1..x_l`, cost 1, size 1), then backward
    nodes :math:`b_{l+1}, b_l, \dots, b_1` (cost 0, size 1): :math:`b_{l+1}` is the
    adjoint seed and reads :math:`f_l`; :math:`b_i` (:math:`\bar x_{i-1}`) reads
    :math:`f_{i-1}` (:math:`i \ge 2`) and :math:`b_{i+1}`.  With budget :math:`s + 2`
    the optimum is :math:`T(l, s) + 1` (module docstring).  An :math:`L`-layer network
    whose loss reads the last output is ``revolve_chain(L + 1)``, :math:`f_{L+1}` being
    the loss.

    Returns
    -------
    (cost, mem, preds)
        As taken by :func:`solve_remat`.
    """
    if steps < 1:
        raise ValueError("steps must be >= 1")
    n_f, n_b = steps, steps + 1
    preds: list[list[int]] = [[i - 1] if i else [] for i in range(n_f)]
    for i in range(n_b, 0, -1):  # b_i has index n_f + n_b - i; f_i has index i - 1
        p = []
        if i >= 2:
            p.append(i - 2)
        if i < n_b:
            p.append(n_f + n_b - i - 1)
        preds.append(sorted(p))
    return [1.0] * n_f + [0.0] * n_b, [1.0] * (n_f + n_b), preds


def solve_chain(
    cost: Sequence[float],
    mem: Sequence[float],
    preds: Sequence[Sequence[int]],
    budget: float,
    spec: ChainSpec | None = None,
) -> RematResult:
    """Solve a chain instance exactly with the segment DP of the module docstring.

    Parameters
    ----------
    cost, mem, preds, budget
        As in :func:`solve_remat`.
    spec
        The chain structure; recognized with :func:`chain_spec` if omitted.

    Returns
    -------
    RematResult
        ``method == "chain_dp"``, ``space == "nested"``: optimal over nested schedules
        (module docstring); an upper bound on the full-space optimum, equal to it on every
        uniform-size chain tested.

    Raises
    ------
    ValueError
        If the graph is not a chain instance.
    """
    t0 = time.perf_counter()
    check_remat_data(cost, mem, preds, budget)
    spec = spec or chain_spec(preds)
    if spec is None:
        raise ValueError("not a chain instance (see chain_spec)")
    ms, cap = _exact_memory(mem, budget)
    zero = ms[0] * 0
    l, n_f = spec.steps, spec.n_forward  # noqa: E741 - Griewank's notation
    o = (False, *spec.reads_output)  # o[i], i = 1..l
    u = [0.0] + [float(cost[spec.forward_index(i)]) for i in range(1, n_f + 1)]
    a = [zero] + [ms[spec.forward_index(i)] for i in range(1, n_f + 1)]
    if n_f < l:
        u.append(0.0)
        a.append(zero)
    v = [0.0] + [float(cost[spec.backward_index(i)]) for i in range(1, l + 1)]
    g = [zero] + [ms[spec.backward_index(i)] for i in range(1, l + 1)] + [zero]
    inf = math.inf
    memo: dict[tuple, tuple[float, tuple]] = {}

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * l + 1000))

    def seg(s: int, t: int, m, h: int) -> float:
        key = (s, t, m, h)
        hit = memo.get(key)
        if hit is not None:
            return hit[0]
        if t == s + 1:
            comp = o[t] and not h
            ok = (not comp or a[s] + a[t] + g[t + 1] <= m) and (
                a[s] + (a[t] if o[t] else zero) + g[t + 1] + g[t] <= m
            )
            best = ((u[t] if comp else 0.0) + v[t], ()) if ok else (inf, ())
            memo[key] = best
            return best[0]
        best_val, best_choice = inf, ()
        base = a[s] + g[t + 1] + (a[t] if h else zero)
        adv_cost = 0.0
        for j in range(s + 1, t):
            need = base + (a[j - 1] if j - 1 > s else zero) + a[j]
            if need > m:
                break  # computing f_j does not fit, so no advance beyond j does
            adv_cost += u[j]
            right = seg(j, t, m - a[s], h)
            if right == inf:
                continue
            for hp in (0, 1) if o[j] else (0,):
                val = adv_cost + right + seg(s, j, m, hp)
                if val < best_val:
                    best_val, best_choice = val, (j, hp)
        memo[key] = (best_val, best_choice)
        return best_val

    total = seg(0, l, cap, 0)
    states = len(memo)
    if total == inf:
        return RematResult(
            "infeasible", "chain_dp", "nested", inf, inf, -1, math.nan, (), _dt(t0), states
        )

    ops: list[Op] = []
    fi, bi = spec.forward_index, spec.backward_index

    def emit(s: int, t: int, m, h: int) -> None:
        if t == s + 1:
            if o[t] and not h:
                ops.append(Op(COMPUTE, fi(t)))
            ops.append(Op(COMPUTE, bi(t)))
            if t < l:
                ops.append(Op(FREE, bi(t + 1)))
            if o[t]:
                ops.append(Op(FREE, fi(t)))
            return
        j, hp = memo[(s, t, m, h)][1]
        for k in range(s + 1, j + 1):
            ops.append(Op(COMPUTE, fi(k)))
            if k - 1 > s:
                ops.append(Op(FREE, fi(k - 1)))
        emit(j, t, m - a[s], h)
        if not hp:
            ops.append(Op(FREE, fi(j)))
        emit(s, j, m, hp)

    emit(0, l, cap, 0)
    ops.append(Op(FREE, bi(1)))
    return _result("chain_dp", ops, cost, mem, preds, budget, t0, states)


def _dt(t0: float) -> float:
    return time.perf_counter() - t0


def _result(
    method: str,
    ops: list[Op],
    cost: Sequence[float],
    mem: Sequence[float],
    preds: Sequence[Sequence[int]],
    budget: float,
    t0: float,
    states: int,
) -> RematResult:
    chk = validate_schedule(ops, cost, mem, preds, budget)
    return RematResult(
        "optimal",
        method,
        "nested" if method == "chain_dp" else "full",
        chk.objective,
        chk.objective - float(sum(cost)),
        sum(chk.computations) - len(cost),
        chk.peak_memory,
        tuple(ops),
        _dt(t0),
        states,
    )


# ---------------------------------------------------------------------------------------
# best-first search over (resident, done) states


def solve_search(
    cost: Sequence[float],
    mem: Sequence[float],
    preds: Sequence[Sequence[int]],
    budget: float,
    *,
    max_states: int = 1_000_000,
) -> RematResult:
    """Solve any DAG exactly by A* over (resident set, computed set) states.

    Parameters
    ----------
    cost, mem, preds, budget
        As in :func:`solve_remat`.
    max_states
        Stop with ``RuntimeError`` after expanding this many states (each costs a few
        hundred bytes of bookkeeping).

    Returns
    -------
    RematResult
        ``method == "search"``; optimal over all schedules (module docstring).

    Raises
    ------
    RuntimeError
        If the state budget ``max_states`` is exhausted.
    """
    t0 = time.perf_counter()
    check_remat_data(cost, mem, preds, budget)
    ms, cap = _exact_memory(mem, budget)
    out = _astar([float(x) for x in cost], ms, cap, preds, max_states=max_states)
    if out is None:
        return RematResult(
            "infeasible", "search", "full", math.inf, math.inf, -1, math.nan, (), _dt(t0), 0
        )
    _, ops, expanded = out
    return _result("search", ops, cost, mem, preds, budget, t0, expanded)


def _astar(
    c: Sequence[float],
    ms: Sequence,
    cap,
    preds: Sequence[Sequence[int]],
    *,
    fixed: int = 0,
    predone: int = 0,
    resident: int = 0,
    final: int = 0,
    max_states: int = 1_000_000,
    counter: list[int] | None = None,
) -> tuple[float, list[Op], int] | None:
    """A* of :func:`solve_search`, generalized to a sub-problem of a larger schedule.

    ``fixed`` (bitmask): values resident at the start that cannot be computed here (the
    block's inputs: their cost is not counted, a freed one is lost); ``predone``: nodes
    already computed earlier, not resident unless in ``resident`` (computed again only
    if a node still needs them); ``resident``: further values resident at the start
    (must be in ``predone``); ``final``: values that must be resident at the end
    (never dropped as useless).  Memory ``ms`` and ``cap`` are exact (ints/Fractions);
    the values resident at the start count from the start.  Returns ``(cost, ops,
    expanded)`` (``ops`` from the start state, frees of useless start values first) or
    ``None`` if no schedule fits.
    """
    n = len(c)
    pmask = [sum(1 << p for p in ps) for ps in preds]
    users: list[list[int]] = [[] for _ in range(n)]
    for k, ps in enumerate(preds):
        for i in ps:
            users[i].append(k)
    desc = [0] * n  # strict descendants
    for i in range(n - 1, -1, -1):
        for k in users[i]:
            desc[i] |= (1 << k) | desc[k]
    full = (1 << n) - 1
    zero = ms[0] * 0 if n else 0
    for i in range(n):
        if not fixed >> i & 1 and ms[i] + sum(ms[p] for p in preds[i]) > cap:
            return None
    res0 = fixed | resident
    done0 = fixed | predone | resident
    used0 = sum((ms[i] for i in range(n) if res0 >> i & 1), zero)

    def useless(res: int, notdone: int) -> int:
        drop = 0
        x = res & ~final
        while x:
            low = x & -x
            x ^= low
            if not desc[low.bit_length() - 1] & notdone:
                drop |= low
        return drop

    drop0 = useless(res0, full & ~done0)
    res0 &= ~drop0
    used0 -= sum((ms[i] for i in range(n) if drop0 >> i & 1), zero)
    if used0 > cap:
        return None

    def rest(done: int) -> float:
        return sum(c[i] for i in range(n) if not done >> i & 1)

    def again(res: int, notdone: int) -> float:
        """Cost of values that must be computed again (``inf`` if a lost input is)."""
        need = final & ~res
        x = notdone
        while x:
            low = x & -x
            x ^= low
            need |= pmask[low.bit_length() - 1]
        need &= ~res & ~notdone
        if need & fixed:
            return math.inf
        todo, total = need, 0.0
        while todo:
            low = todo & -todo
            todo ^= low
            j = low.bit_length() - 1
            total += c[j]
            more = pmask[j] & ~res & ~need
            if more & fixed:
                return math.inf
            need |= more
            todo |= more
        return total

    start = (res0, done0)
    best: dict[tuple[int, int], float] = {start: 0.0}
    parent: dict[tuple[int, int], tuple[tuple[int, int], int, int, int]] = {}
    h0 = rest(done0) + again(res0, full & ~done0)
    if h0 == math.inf:
        return None
    heap: list[tuple[float, float, int, int, int, object]] = [(h0, 0.0, 0, res0, done0, used0)]
    tie = 0
    expanded = 0
    hcache: dict[int, float] = {}
    while heap:
        f, g, _, res, done, used = heapq.heappop(heap)
        if best.get((res, done), math.inf) < g:
            continue
        if done == full and res & final == final:
            if counter is not None:
                counter[0] += expanded
            return g, _astar_ops(parent, (res, done), drop0), expanded
        expanded += 1
        if expanded > max_states:
            raise RuntimeError(f"search exceeded {max_states} states")
        notdone = full & ~done
        for i in range(n):
            bit = 1 << i
            if fixed & bit or res & bit or (pmask[i] & res) != pmask[i]:
                continue
            if done & bit and not desc[i] & notdone and not final & bit:
                continue  # already computed and useless
            over = used + ms[i] - cap
            if over > 0:
                frees = _minimal_frees(res & ~pmask[i], ms, over)
            else:
                frees = [(0, zero)]
            nd = done | bit
            nnot = full & ~nd
            ng = g + c[i]
            h = hcache.get(nd)
            if h is None:
                h = hcache[nd] = rest(nd)
            for before, size in frees:
                nres = (res & ~before) | bit
                nused = used - size + ms[i]
                after = useless(nres, nnot)  # values that can never be used again
                if after:
                    nused -= sum(ms[j] for j in range(n) if after >> j & 1)
                nres &= ~after
                key = (nres, nd)
                if ng < best.get(key, math.inf):
                    hr = again(nres, nnot)
                    if hr == math.inf:
                        continue
                    best[key] = ng
                    parent[key] = ((res, done), before, i, after)
                    tie += 1
                    heapq.heappush(heap, (ng + h + hr, ng, -tie, nres, nd, nused))
    if counter is not None:
        counter[0] += expanded
    return None


def _astar_ops(parent, goal, drop0: int) -> list[Op]:
    steps = []
    key = goal
    while key in parent:
        prev, before, i, after = parent[key]
        steps.append((before, i, after))
        key = prev
    ops: list[Op] = []

    def frees(mask: int) -> None:
        while mask:
            low = mask & -mask
            ops.append(Op(FREE, low.bit_length() - 1))
            mask ^= low

    frees(drop0)
    for before, i, after in reversed(steps):
        frees(before)
        ops.append(Op(COMPUTE, i))
        frees(after)
    return ops


def _minimal_frees(cands: int, ms: Sequence, over) -> list[tuple[int, object]]:
    """Inclusion-minimal subsets of ``cands`` (bitmask) whose sizes sum to ``>= over``."""
    items = []
    x = cands
    while x:
        low = x & -x
        x ^= low
        j = low.bit_length() - 1
        if ms[j] > 0:
            items.append((ms[j], low))
    items.sort(reverse=True)
    suffix = [0] * (len(items) + 1)
    for k in range(len(items) - 1, -1, -1):
        suffix[k] = suffix[k + 1] + items[k][0]
    out: list[tuple[int, object]] = []

    def rec(k: int, mask: int, total, smallest) -> None:
        if total >= over:
            if total - smallest < over:  # items are in decreasing size: smallest is last
                out.append((mask, total))
            return
        if k == len(items) or total + suffix[k] < over:
            return
        size, bit = items[k]
        rec(k + 1, mask | bit, total + size, size)
        rec(k + 1, mask, total, smallest)

    rec(0, 0, 0, 0)
    return out


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


def uniform_sizes(mem: Sequence[float], spec: ChainSpec) -> bool:
    """Whether all forward sizes are equal and all backward sizes are equal."""
    fwd = {float(mem[spec.forward_index(i)]) for i in range(1, spec.n_forward + 1)}
    bwd = {float(mem[spec.backward_index(i)]) for i in range(1, spec.steps + 1)}
    return len(fwd) <= 1 and len(bwd) <= 1


# ---------------------------------------------------------------------------------------
# chain of blocks: DP across blocks, exact search inside each block


@dataclass(frozen=True)
class BlockChain:
    """A training graph cut into a chain of blocks (see :func:`solve_blocks`).

    Attributes
    ----------
    forward, backward
        ``forward[k]``, ``backward[k]``: node indices of :math:`F_{k+1}` and
        :math:`B_{k+1}` (block ``k + 1`` of ``K = len(forward)``).
    outputs
        ``outputs[k]``: :math:`x_{k+1}`, the node of :math:`F_{k+1}` read by the next
        block.
    gradients
        ``gradients[k]``: :math:`\\delta_{k+1}`, the node of :math:`B_{k+1}` read by
        :math:`B_k`, or ``-1`` if none is.
    """

    forward: tuple[tuple[int, ...], ...]
    backward: tuple[tuple[int, ...], ...]
    outputs: tuple[int, ...]
    gradients: tuple[int, ...]

    @property
    def n_blocks(self) -> int:
        """:math:`K`."""
        return len(self.forward)


def make_blocks(
    preds: Sequence[Sequence[int]],
    forward: Sequence[Sequence[int]],
    backward: Sequence[Sequence[int]],
) -> BlockChain:
    """Check a block partition and find its boundary values; ``ValueError`` if invalid.

    Conditions (:math:`x_0` and :math:`\\delta_{K+1}` do not exist): the blocks partition
    the nodes; every input of a node of :math:`F_k` is in :math:`F_k \\cup
    \\{x_{k-1}\\}`; every input of a node of :math:`B_k` is in :math:`F_k \\cup B_k \\cup
    \\{x_{k-1}, \\delta_{k+1}\\}`; :math:`x_k` is the only node of :math:`F_k` read
    outside block :math:`k` and :math:`\\delta_k` the only node of :math:`B_k` read
    outside it; for :math:`k < K` every node of :math:`F_k` is :math:`x_k` or an
    ancestor of it (so advancing through the block computes all of it).
    """
    n = len(preds)
    K = len(forward)
    if K == 0 or len(backward) != K:
        raise ValueError("need as many backward as forward blocks, at least one")
    fb: dict[int, tuple[int, str]] = {}
    for k in range(K):
        for part, nodes in (("f", forward[k]), ("b", backward[k])):
            for i in nodes:
                if not 0 <= i < n or i in fb:
                    raise ValueError(f"node {i} out of range or in two blocks")
                fb[i] = (k, part)
    if len(fb) != n:
        raise ValueError(f"nodes in no block: {sorted(set(range(n)) - set(fb))}")
    outs: list[int] = []
    grads: list[int] = []
    for k in range(K):
        fset = set(forward[k])
        read_f = {p for i in range(n) if fb[i][0] != k for p in preds[i] if p in fset}
        if k < K - 1 and len(read_f) != 1 or len(read_f) > 1:
            raise ValueError(f"block {k + 1}: forward values read outside: {sorted(read_f)}")
        x = read_f.pop() if read_f else max(forward[k]) if forward[k] else -1
        if x < 0:
            raise ValueError(f"block {k + 1} has no forward node")
        outs.append(x)
        bset = set(backward[k])
        read_b = {p for i in range(n) if fb[i][0] != k for p in preds[i] if p in bset}
        if len(read_b) > 1:
            raise ValueError(f"block {k + 1}: backward values read outside: {sorted(read_b)}")
        grads.append(read_b.pop() if read_b else -1)
    for k in range(K):
        xin = {outs[k - 1]} if k else set()
        din = {grads[k + 1]} - {-1} if k + 1 < K else set()
        okf = set(forward[k]) | xin
        okb = okf | set(backward[k]) | din
        for i in forward[k]:
            if not set(preds[i]) <= okf:
                raise ValueError(f"forward node {i} of block {k + 1} reads {preds[i]}")
        for i in backward[k]:
            if not set(preds[i]) <= okb:
                raise ValueError(f"backward node {i} of block {k + 1} reads {preds[i]}")
        if k < K - 1:
            anc = {outs[k]}
            for i in sorted(forward[k], reverse=True):
                if i in anc:
                    anc |= set(preds[i])
            if not set(forward[k]) <= anc:
                raise ValueError(f"block {k + 1}: forward nodes not ancestors of its output")
    return BlockChain(
        tuple(tuple(sorted(f)) for f in forward),
        tuple(tuple(sorted(b)) for b in backward),
        tuple(outs),
        tuple(grads),
    )


def detect_blocks(
    preds: Sequence[Sequence[int]],
    is_forward: Sequence[bool],
    hint: Sequence[int] | None = None,
    *,
    merge: bool = True,
) -> BlockChain:
    """Cut a training graph into a chain of blocks.

    Forward cuts: a forward node :math:`v` (in index order) ends a block when every
    forward edge from a node at or before :math:`v` to one after it leaves :math:`v`
    (a single-tensor cut, an articulation value).  With ``merge``, a block whose output
    no backward node reads is merged with the next one (holding such a boundary value
    as a stored left end costs memory and saves nothing; ResNet's add before the
    block's final ReLU); else the blocks are the finest.  A backward node (in index order)
    goes to the block of its latest forward input that is not a boundary value; else,
    if it reads two or more backward values all of one block (a gradient
    accumulation), to that block; else to the block of ``hint[i]`` (a forward node
    index, e.g. the forward op it differentiates; ``-1``: none) if that block is the
    block of each of its backward inputs or the one below; else to the lowest block of
    its backward inputs; else to the block of its boundary inputs; else to block 1.
    The result is checked by :func:`make_blocks` (``ValueError`` if the graph is not a
    chain of blocks).
    """
    n = len(preds)
    fwd = [i for i in range(n) if is_forward[i]]
    reach = {}  # forward node -> largest forward reader
    for i in fwd:
        for p in preds[i]:
            reach[p] = max(reach.get(p, -1), i)
    blocks: list[list[int]] = [[]]
    cuts: set[int] = set()
    far = -1  # furthest forward reader of a node before the current one
    for pos, v in enumerate(fwd):
        blocks[-1].append(v)
        if far <= v and pos < len(fwd) - 1:
            cuts.add(v)
            blocks.append([])
        far = max(far, reach.get(v, -1))
    if merge:  # a boundary no backward node reads costs memory and buys nothing
        bread = {p for i in range(n) if not is_forward[i] for p in preds[i]}
        merged: list[list[int]] = []
        for b in blocks:
            if merged and merged[-1][-1] in cuts and merged[-1][-1] not in bread:
                cuts.discard(merged[-1][-1])
                merged[-1] += b
            else:
                merged.append(b)
        blocks = merged
    blk = {v: k for k, b in enumerate(blocks) for v in b}
    bwd: list[list[int]] = [[] for _ in blocks]
    bblk: dict[int, int] = {}
    for i in range(n):
        if is_forward[i]:
            continue
        h = hint[i] if hint is not None else -1
        inner = [blk[p] for p in preds[i] if is_forward[p] and p not in cuts]
        back = [bblk[p] for p in preds[i] if not is_forward[p]]
        cut = [blk[p] for p in preds[i] if p in cuts]
        if inner:
            k = max(inner)
        elif len(back) > 1 and len(set(back)) == 1:
            k = back[0]  # accumulates gradients of one block: stays with them
        elif h >= 0 and h in blk and all(b - 1 <= blk[h] <= b for b in back):
            k = blk[h]
        elif back:
            k = min(back)
        elif cut:
            k = max(cut)
        else:
            k = 0
        bblk[i] = k
        bwd[k].append(i)
    return make_blocks(preds, blocks, bwd)


class _Intervals:
    """Exact step function ``capacity -> least cost`` of a sub-problem, filled lazily.

    A solve at capacity ``c`` that returns cost ``v`` with peak ``p`` proves the cost is
    ``v`` on all of ``[p, c]`` (the schedule fits, and the least cost can only grow as
    the capacity shrinks); an infeasible solve proves infeasibility for every capacity
    ``<= c``.
    """

    def __init__(self, solve) -> None:
        self.solve = solve
        self.known: list[tuple[object, object, float, list]] = []  # (lo, hi, cost, ops)
        self.infeasible_upto = None
        self.calls = 0

    def __call__(self, cap) -> tuple[float, list]:
        if self.infeasible_upto is not None and cap <= self.infeasible_upto:
            return math.inf, []
        for lo, hi, v, ops in self.known:
            if lo <= cap <= hi:
                return v, ops
        self.calls += 1
        out = self.solve(cap)
        if out is None:
            if self.infeasible_upto is None or cap > self.infeasible_upto:
                self.infeasible_upto = cap
            return math.inf, []
        v, ops, peak = out
        self.known.append((peak, cap, v, ops))
        return v, ops


def _sub_solver(c, ms, preds, nodes, fixed, predone, resident, final, max_states, counter):
    """An :class:`_Intervals` solver for the sub-problem on ``nodes`` (global ids)."""
    nodes = sorted(nodes)
    loc = {v: k for k, v in enumerate(nodes)}
    src = set(fixed)
    lp = [[loc[p] for p in preds[v]] if v not in src else [] for v in nodes]
    lc = [c[v] for v in nodes]
    lm = [ms[v] for v in nodes]

    def mask(vs) -> int:
        return sum(1 << loc[v] for v in vs)

    fm, pm, rm, em = mask(fixed), mask(predone), mask(resident), mask(final)
    zero = ms[0] * 0

    def solve(cap):
        out = _astar(
            lc, lm, cap, lp, fixed=fm, predone=pm, resident=rm, final=em,
            max_states=max_states, counter=counter,
        )  # fmt: skip
        if out is None:
            return None
        v, ops, _ = out
        res = {k for k in range(len(nodes)) if (fm | rm) >> k & 1}
        used = sum((lm[k] for k in res), zero)
        peak = used
        gops = []
        for op in ops:
            if op.kind == COMPUTE:
                used += lm[op.node]
                peak = max(peak, used)
            else:
                used -= lm[op.node]
            gops.append(Op(op.kind, nodes[op.node]))
        return v, gops, peak

    return _Intervals(solve)


def solve_blocks(
    cost: Sequence[float],
    mem: Sequence[float],
    preds: Sequence[Sequence[int]],
    budget: float,
    blocks: BlockChain,
    *,
    record: str = "subsets",
    max_states: int = 1_000_000,
) -> RematResult:
    r"""Optimal block-nested schedule of a chain of blocks (module docstring, method 3).

    Parameters
    ----------
    cost, mem, preds, budget
        As in :func:`solve_remat`.
    blocks
        From :func:`make_blocks` or :func:`detect_blocks`.
    record
        Which recorded advances the DP may use: ``"subsets"`` (keep any nonempty subset
        of the block's values its backward reads: :math:`2^{|S_k|} - 1` options per
        block), ``"all"`` (keep all of them, Rotor's :math:`F_{all}`) or ``"none"``
        (boundary values only, Revolve's space).  The space solved grows with it.
    max_states
        State limit of each sub-search.

    Returns
    -------
    RematResult
        ``method == "block_dp"``, ``space == "block_nested"``; ``states`` counts the DP
        subproblems plus the states expanded by all sub-searches.  Never below the
        full-space optimum; the schedule is checked by :func:`validate_schedule`.
    """
    t0 = time.perf_counter()
    check_remat_data(cost, mem, preds, budget)
    if record not in ("subsets", "all", "none"):
        raise ValueError(f"unknown record option {record!r}")
    ms, cap = _exact_memory(mem, budget)
    c = [float(x) for x in cost]
    zero = ms[0] * 0
    K = blocks.n_blocks
    x = [-1, *blocks.outputs]  # x[k], k = 0..K (x[0]: the network input, not a node)
    d = [-1, *blocks.gradients, -1]  # d[k], k = 1..K+1
    a = [ms[v] if v >= 0 else zero for v in x]
    g = [ms[v] if v >= 0 else zero for v in d]
    F = [(), *blocks.forward]
    B = [(), *blocks.backward]
    reads_x = [False] + [x[k] in {p for i in B[k] for p in preds[i]} for k in range(1, K + 1)]
    counter = [0]

    def some(*vs: int) -> list[int]:
        return [v for v in vs if v >= 0]

    adv = [None] + [
        _sub_solver(c, ms, preds, {*some(x[k - 1]), *F[k]}, some(x[k - 1]), (), (),
                    some(x[k - 1], x[k]), max_states, counter)
        for k in range(1, K + 1)
    ]  # fmt: skip
    rev = {
        (t, h): _sub_solver(
            c,
            ms,
            preds,
            {*some(x[t - 1], d[t + 1]), *F[t], *B[t]},
            some(x[t - 1], d[t + 1]),
            F[t] if t < K else (x[t],) if h else (),
            (x[t],) if h else (),
            some(x[t - 1], d[t]),
            max_states,
            counter,
        )  # fmt: skip
        for t in range(1, K + 1)
        for h in ((0, 1) if reads_x[t] else (0,))
    }
    # recorded advances (Rotor's F_all, generalized): keep a subset T of the values of F_k
    # that B_k reads (all nonempty subsets if record == "subsets", else T = S_k)
    S = [()] + [
        tuple(sorted({p for i in B[k] for p in preds[i] if p in set(F[k])} - {x[k]}))
        for k in range(1, K + 1)
    ]
    subsets: list[list[tuple[int, ...]]] = [[]]
    for k in range(1, K + 1):
        if record == "subsets":
            subsets.append(
                [T for r in range(1, len(S[k]) + 1) for T in itertools.combinations(S[k], r)]
            )
        else:
            subsets.append([S[k]] if S[k] and record == "all" else [])
    size = {T: sum((ms[v] for v in T), zero) for k in range(K + 1) for T in subsets[k]}
    rec = {
        (k, T): _sub_solver(c, ms, preds, {*some(x[k - 1]), *F[k]}, some(x[k - 1]), (), (),
                            {*some(x[k - 1], x[k]), *T}, max_states, counter)
        for k in range(1, K + 1)
        for T in subsets[k]
    }  # fmt: skip
    rev_rec = {
        (t, h, T): _sub_solver(
            c,
            ms,
            preds,
            {*some(x[t - 1], d[t + 1]), *F[t], *B[t]},
            some(x[t - 1], d[t + 1]),
            F[t],
            (*T, x[t]) if h else T,
            some(x[t - 1], d[t]),
            max_states,
            counter,
        )  # fmt: skip
        for t in range(1, K)
        for h in ((0, 1) if reads_x[t] else (0,))
        for T in subsets[t]
    }
    inf = math.inf
    memo: dict[tuple, tuple[float, tuple]] = {}
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * K + 1000))

    def seg(s: int, t: int, m, h: int) -> float:
        key = (s, t, m, h)
        hit = memo.get(key)
        if hit is not None:
            return hit[0]
        if t == s + 1:
            val = rev[(t, h)](m)[0]
            memo[key] = (val, ())
            return val
        best_val, best_choice = inf, ()
        held = g[t + 1] + (a[t] if h else zero)
        adv_cost = 0.0
        for j in range(s + 1, t):
            cj = adv[j](m - held - (a[s] if j - 1 > s else zero))[0]
            if cj == inf:
                break  # x_j cannot be computed, so nothing beyond it
            adv_cost += cj
            right = seg(j, t, m - a[s], h)
            if right == inf:
                continue
            for hp in (0, 1) if reads_x[j] else (0,):
                val = adv_cost + right + seg(s, j, m, hp)
                if val < best_val:
                    best_val, best_choice = val, (j, hp, ())
        k = s + 1  # recorded advance through block s + 1, then its reversal directly
        for T in subsets[k]:
            ck = rec[(k, T)](m - held)[0]
            right = seg(k, t, m - a[s] - size[T], h) if ck < inf else inf
            if right < inf:
                for hp in (0, 1) if reads_x[k] else (0,):
                    val = ck + right + rev_rec[(k, hp, T)](m)[0]
                    if val < best_val:
                        best_val, best_choice = val, (k, hp, T)
        memo[key] = (best_val, best_choice)
        return best_val

    total = seg(0, K, cap, 0)
    if total == inf:
        return RematResult(
            "infeasible", "block_dp", "block_nested", inf, inf, -1, math.nan, (), _dt(t0),
            len(memo) + counter[0],
        )  # fmt: skip
    ops: list[Op] = []

    def emit(s: int, t: int, m, h: int) -> None:
        if t == s + 1:
            ops.extend(rev[(t, h)](m)[1])
            return
        j, hp, recorded = memo[(s, t, m, h)][1]
        held = g[t + 1] + (a[t] if h else zero)
        if recorded:
            ops.extend(rec[(j, recorded)](m - held)[1])
            emit(j, t, m - a[s] - size[recorded], h)
            if not hp:
                ops.append(Op(FREE, x[j]))
            ops.extend(rev_rec[(j, hp, recorded)](m)[1])
            return
        for k in range(s + 1, j + 1):
            ops.extend(adv[k](m - held - (a[s] if k - 1 > s else zero))[1])
            if k - 1 > s:
                ops.append(Op(FREE, x[k - 1]))
        emit(j, t, m - a[s], h)
        if not hp:
            ops.append(Op(FREE, x[j]))
        emit(s, j, m, hp)

    emit(0, K, cap, 0)
    r = _result("block_dp", ops, cost, mem, preds, budget, t0, len(memo) + counter[0])
    return RematResult(
        r.status, r.method, "block_nested", r.objective, r.recompute_cost, r.recomputations,
        r.peak_memory, r.schedule, r.seconds, r.states,
    )  # fmt: skip


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


def min_budget_blocks(
    cost: Sequence[float],
    mem: Sequence[float],
    preds: Sequence[Sequence[int]],
    blocks: BlockChain,
    *,
    max_states: int = 1_000_000,
) -> float:
    """Smallest budget at which :func:`solve_blocks` finds a schedule (exact).

    Bisection over the integer multiples of the gcd of the sizes (every peak is one),
    between the largest single step (a node, its inputs and its output) and the sum of
    all sizes.  Feasibility is monotone in the budget.  The same for every ``record``
    option, so it bisects with ``record="none"``: a recorded option that fits implies
    the plain one with the same split fits (its right segment has more memory, its
    advance fewer values to hand on, and its reversal can free the recorded values
    first).
    """
    ms, _ = _exact_memory(mem, float(sum(mem)))
    if not all(isinstance(v, int) for v in ms):
        raise ValueError("min_budget_blocks needs integral sizes")
    unit = reduce(math.gcd, (int(v) for v in mem if v), 0) or 1
    lo = max(ms[i] + sum(ms[p] for p in preds[i]) for i in range(len(ms))) - 1
    hi = sum(ms)  # feasible: nothing is ever freed
    while hi - lo > 1:
        mid = (lo + hi) // 2
        r = solve_blocks(
            cost, mem, preds, float(mid * unit), blocks, record="none", max_states=max_states
        )
        if r.status == "optimal":
            hi = mid
        else:
            lo = mid
    return float(hi * unit)
