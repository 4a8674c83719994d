r"""Exact multi-level rematerialization of chains: a nested segment DP, Revolve's chain.

The problem and the memory accounting are those of
:mod:`~monet_opt.formulations.remat_core`.

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
The recurrence is the one of :mod:`~monet_opt.formulations.remat_segments`
(:func:`chain_model`: the advance :math:`A_j(c) = u_j` if :math:`a_{j-1} + a_j \le c`,
the leaf above), shared with the block DP.

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
full-space optimum of :func:`~monet_opt.formulations.remat_search.solve_search` on every
instance tried (random chains with :math:`l \le 8` at every budget, over 30,000 (chain,
budget) pairs, and Revolve chains up to :math:`l = 10`);
with heterogeneous sizes it can be above it (a 9-node example is in
``tests/formulations/test_remat_multilevel.py``).
:func:`~monet_opt.formulations.remat_multilevel.solve_remat` therefore uses the DP only
on uniform-size chains; :attr:`~monet_opt.formulations.remat_core.RematResult.space`
names the space solved.

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

References
----------
* A. Griewank and A. Walther, "Algorithm 799: Revolve: an implementation of
  checkpointing for the reverse or adjoint mode of computational differentiation", ACM
  Transactions on Mathematical Software 26(1):19-45, 2000.
* O. Beaumont, L. Eyraud-Dubois, J. Herrmann, A. Joly and A. Shilova, "Optimal
  checkpointing for heterogeneous chains: how to train deep neural networks with limited
  memory", ACM Transactions on Mathematical Software, 2021 (arXiv:1911.13214).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from monet_opt.formulations.checkmate import check_remat_data
from monet_opt.formulations.remat_core import (
    COMPUTE,
    FREE,
    ExactMemory,
    Op,
    RematResult,
    checked_result,
    exact_memory,
    infeasible_result,
)
from monet_opt.formulations.remat_segments import SegmentModel, solve_segments

__all__ = [
    "ChainSpec",
    "chain_model",
    "chain_spec",
    "revolve_chain",
    "solve_chain",
    "uniform_sizes",
]


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
        As taken by :func:`~monet_opt.formulations.remat_multilevel.solve_remat`.
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
        As in :func:`~monet_opt.formulations.remat_multilevel.solve_remat`.
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
    ms, cap = exact_memory(mem, budget)
    sol = solve_segments(chain_model(spec, cost, ms), cap)
    if sol.ops is None:
        return infeasible_result("chain_dp", "nested", t0, sol.states)
    ops = [*sol.ops, Op(FREE, spec.backward_index(1))]
    return checked_result("chain_dp", "nested", ops, cost, mem, preds, budget, t0, sol.states)


def chain_model(spec: ChainSpec, cost: Sequence[float], ms: Sequence) -> SegmentModel:
    """The segment DP of a chain instance: steps are nodes (module docstring).

    ``ms``: exact sizes (:func:`~monet_opt.formulations.remat_core.exact_memory`).  The
    advance :math:`A_j(c) = u_j` if :math:`a_{j-1} + a_j \\le c` computes :math:`f_j`;
    the leaf is :math:`\\mathrm{Seg}(t-1, t, m, h)` of the module docstring: compute
    :math:`f_t` if :math:`o_t` and not :math:`h`, then :math:`b_t`, then free
    :math:`b_{t+1}` and :math:`f_t`.
    """
    zero = ms[0] * 0
    l, n_f = spec.steps, spec.n_forward  # noqa: E741 - Griewank's notation
    fi, bi = spec.forward_index, spec.backward_index
    o = (False, *spec.reads_output)  # o[i], i = 1..l
    u = [0.0] + [float(cost[fi(i)]) for i in range(1, n_f + 1)]
    a = [zero] + [ms[fi(i)] for i in range(1, n_f + 1)]
    if n_f < l:
        u.append(0.0)
        a.append(zero)
    v = [0.0] + [float(cost[bi(i)]) for i in range(1, l + 1)]
    g = [zero] + [ms[bi(i)] for i in range(1, l + 1)] + [zero]
    inf = math.inf
    compute = [()] + [(Op(COMPUTE, fi(j)),) for j in range(1, n_f + 1)]
    reversal = {(t, h): _reversal_ops(spec, t, h) for t in range(1, l + 1) for h in (0, 1)}

    def advance(j: int, c: ExactMemory) -> tuple[float, Sequence[Op]]:
        return (u[j], compute[j]) if a[j - 1] + a[j] <= c else (inf, ())

    def leaf(t: int, m: ExactMemory, h: int) -> tuple[float, Sequence[Op]]:
        s = t - 1
        comp = o[t] and not h
        ok = (not comp or a[s] + a[t] + g[t + 1] <= m) and (
            a[s] + (a[t] if o[t] else zero) + g[t + 1] + g[t] <= m
        )
        return ((u[t] if comp else 0.0) + v[t], reversal[(t, h)]) if ok else (inf, ())

    boundary = [-1] + [fi(j) for j in range(1, n_f + 1)] + [-1] * (l - n_f)
    return SegmentModel(a, g, o, boundary, leaf, advance)


def _reversal_ops(spec: ChainSpec, t: int, h: int) -> tuple[Op, ...]:
    """Operations of the leaf :math:`\\mathrm{Seg}(t-1, t, m, h)` of a chain."""
    o_t = spec.reads_output[t - 1]
    fi, bi = spec.forward_index, spec.backward_index
    ops = [Op(COMPUTE, fi(t))] if o_t and not h else []
    ops.append(Op(COMPUTE, bi(t)))
    if t < spec.steps:
        ops.append(Op(FREE, bi(t + 1)))
    if o_t:
        ops.append(Op(FREE, fi(t)))
    return tuple(ops)


def uniform_sizes(mem: Sequence[float], spec: ChainSpec) -> bool:
    """Whether all forward sizes are equal and all backward sizes are equal."""
    fwd = {float(mem[spec.forward_index(i)]) for i in range(1, spec.n_forward + 1)}
    bwd = {float(mem[spec.backward_index(i)]) for i in range(1, spec.steps + 1)}
    return len(fwd) <= 1 and len(bwd) <= 1
