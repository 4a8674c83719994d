r"""Checkmate rematerialization MILP (Jain et al., MLSys 2020), a speed comparator.

This is the MILP of section 4 of P. Jain, A. Jain, A. Nrusimha, A. Gholami, P. Abbeel,
K. Keutzer, I. Stoica and J. E. Gonzalez, "Checkmate: Breaking the memory wall with
optimal tensor rematerialization", *Proc. MLSys* 2020 (arXiv:1910.02653), built with
:class:`~monet_opt.formulations._builder.ModelBuilder` and solved with HiGHS.  It is used
only to compare solve times against our structured single-level checkpointing model.

Data
----
Nodes :math:`v_0, \dots, v_{n-1}` in topological order (forward then backward) with
compute cost :math:`C_i` and output size :math:`M_i` (bits), edges
:math:`E = \{(i, k) : i \in \mathrm{DEPS}[k]\}`, :math:`\mathrm{USERS}[i] = \{k : (i,
k) \in E\}`, memory budget :math:`B`.  There are :math:`T = n` stages.

Variables
---------
:math:`R_{t,i} \in \{0,1\}` (node :math:`i` is (re)computed in stage :math:`t`),
:math:`S_{t,i} \in \{0,1\}` (the output of :math:`i` is resident from stage
:math:`t-1` into stage :math:`t`), :math:`\mathrm{FREE}_{t,i,k} \in \{0,1\}` for
:math:`i \in \mathrm{DEPS}[k] \cup \{k\}` (the output of :math:`i` is freed right after
:math:`k` is evaluated in stage :math:`t`), and continuous :math:`U_{t,k} \in [0, B]`,
the memory in use just after evaluating :math:`k` in stage :math:`t`.

Model
-----
.. math::

   \min \sum_t \sum_i C_i R_{t,i}

   R_{t,k} \le R_{t,i} + S_{t,i} \qquad \forall t,\ (i, k) \in E

   S_{t+1,i} \le S_{t,i} + R_{t,i} \qquad \forall t < T-1,\ i

   U_{t,0} = M_0 R_{t,0} + \sum_i M_i S_{t,i}

   U_{t,k+1} = U_{t,k} + M_{k+1} R_{t,k+1}
      - \sum_{i \in \mathrm{DEPS}[k] \cup \{k\}} M_i \, \mathrm{FREE}_{t,i,k}

   0 \le U_{t,k} \le B

:math:`\mathrm{FREE}_{t,i,k} = R_{t,k} (1 - S_{t+1,i})
\prod_{j \in \mathrm{USERS}[i],\, j > k} (1 - R_{t,j})` (the :math:`S_{t+1,i}` factor is
dropped in the last stage) is linearized as in the paper (section 4.4) with

.. math::

   \mathrm{hz}_{t,i,k} = (1 - R_{t,k}) + S_{t+1,i}
      + \sum_{j \in \mathrm{USERS}[i],\, j > k} R_{t,j},\qquad
   1 - \mathrm{FREE}_{t,i,k} \le \mathrm{hz}_{t,i,k},\qquad
   \kappa_{t,i,k} (1 - \mathrm{FREE}_{t,i,k}) \ge \mathrm{hz}_{t,i,k},

where :math:`\kappa_{t,i,k}` is the number of terms of :math:`\mathrm{hz}_{t,i,k}`
(its maximum value; :math:`R_{t,j}` fixed to zero are left out).
``free_form="product"`` replaces the aggregated second inequality by the standard
(tighter) product linearization :math:`\mathrm{FREE} \le R_{t,k}`,
:math:`\mathrm{FREE} \le 1 - S_{t+1,i}` and :math:`\mathrm{FREE} \le 1 - R_{t,j}`;
it has the same integer solutions.  Including :math:`k` itself in the freed set (the
self term, as in the paper) frees an output that no later node of the stage needs right
after it is computed.

Frontier-advancing stages (the paper's default, ``frontier_advancing=True``): stage
:math:`t` computes :math:`v_t`, i.e. :math:`R_{t,t} = 1`, :math:`R_{t,i} = 0` for
:math:`i > t` and :math:`S_{t,i} = 0` for :math:`i \ge t` (so :math:`S_{0,\cdot} = 0`).
Variables fixed to zero by these rules are not created, nor are :math:`U_{t,k}` for
:math:`k > t` (copies of :math:`U_{t,t}`) or :math:`\mathrm{FREE}_{t,\cdot,t}` (they only
feed those copies).  With ``frontier_advancing=False`` all :math:`R, S` exist,
:math:`S_{0,\cdot} = 0` and every node must be computed at least once,
:math:`\sum_t R_{t,i} \ge 1` (Checkmate's ``COVER_ALL_NODES``).  Unlike the reference
implementation, the objective is not perturbed with noise and no input/parameter memory
is added to :math:`U_{t,0}`.

Size
----
With frontier-advancing stages and :math:`p_k = |\mathrm{DEPS}[k]|`, the model has

* :math:`n(n+1)/2` binaries :math:`R` (:math:`n` of them fixed to 1) and
  :math:`n(n-1)/2` binaries :math:`S`, i.e. :math:`n^2` in total;
* :math:`\sum_{k} (n-1-k)(p_k + 1)` binaries FREE;
* :math:`n(n+1)/2` continuous :math:`U`,

so :math:`n^2 + \sum_k (n-1-k)(p_k+1) = O(n(n + |E|))` binaries, i.e. :math:`O(n^2)` for
training graphs (:math:`|E| = O(n)`).  Rows: :math:`\sum_k (n-k) p_k` dependency rows,
:math:`n(n-1)/2` retention rows, :math:`n(n+1)/2` memory rows and two rows per FREE
(paper form).

Relation to single-level checkpointing
--------------------------------------
Checkmate allows arbitrary, multi-level recomputation: a value may be recomputed in any
later stage from any resident or recomputed values, including values that were
themselves recomputed.  Single-level checkpointing (store a subset of forward outputs,
recompute each forward segment at most once from its checkpoint during the backward
pass) is a special case, so on the same graph, budget and memory accounting the
Checkmate optimum is never larger than a single-level model's optimum.  The price is
:math:`O(n^2)` binaries against the structured model's :math:`O(n)`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce

import numpy as np

from monet_opt.formulations._builder import ModelBuilder, solve_model

__all__ = [
    "CheckmateModel",
    "CheckmateResult",
    "build_checkmate",
    "check_remat_data",
    "solve_checkmate",
]

FREE_FORMS = ("paper", "product")


@dataclass(frozen=True)
class CheckmateResult:
    """Outcome of a Checkmate solve.

    Attributes
    ----------
    status
        ``"optimal"``, ``"time_limit"``, ``"infeasible"``, ... (HiGHS status).
    objective
        Total compute cost :math:`\\sum_{t,i} C_i R_{t,i}` of the schedule; ``inf`` if
        no schedule was found.
    bound
        Best proven lower bound on the objective.
    gap
        Relative MIP gap reported by HiGHS.
    n_vars, n_cons, n_binaries
        Model size as built (before presolve).
    build_seconds, solve_seconds
        Wall time to build the HiGHS model and to solve it.
    recomputations
        :math:`\\sum R - n`, the number of extra evaluations; ``-1`` if no solution.
    R, S
        ``(n, n)`` 0/1 integer matrices, stage ``t`` × node ``i``; ``None`` if no
        solution.
    """

    status: str
    objective: float
    bound: float
    gap: float
    n_vars: int
    n_cons: int
    n_binaries: int
    build_seconds: float
    solve_seconds: float
    recomputations: int
    R: np.ndarray | None
    S: np.ndarray | None


@dataclass
class CheckmateModel:
    """A built Checkmate MILP with the column indices of ``R`` and ``S``."""

    builder: ModelBuilder
    n: int
    r_col: dict[tuple[int, int], int]
    s_col: dict[tuple[int, int], int]
    free_col: dict[tuple[int, int, int], int]
    u_col: dict[tuple[int, int], int]

    @property
    def n_binaries(self) -> int:
        return int(sum(self.builder.integer))


def _memory_scale(mem: Sequence[float], budget: float) -> float:
    """Divisor for memory coefficients: the gcd for integer data, else the largest size."""
    vals = [*mem, budget]
    if all(float(v).is_integer() for v in vals):
        g = reduce(math.gcd, (int(v) for v in vals if v), 0)
        return float(g) if g > 0 else 1.0
    top = max((abs(float(v)) for v in mem), default=0.0)
    return top if top > 0 else 1.0


def check_remat_data(
    cost: Sequence[float], mem: Sequence[float], preds: Sequence[Sequence[int]], budget: float
) -> None:
    """Check rematerialization data (nodes in topological order): equal lengths, at least
    one node, predecessors earlier and unique, non-negative costs and sizes, a finite
    budget.  Raises :class:`ValueError` naming what is wrong."""
    n = len(cost)
    if len(mem) != n or len(preds) != n:
        raise ValueError("cost, mem and preds must have the same length")
    if n == 0:
        raise ValueError("empty graph")
    for k, ps in enumerate(preds):
        for i in ps:
            if not 0 <= i < k:
                raise ValueError(f"preds[{k}] contains {i}; predecessors must be < {k}")
        if len(set(ps)) != len(ps):
            raise ValueError(f"preds[{k}] has duplicates")
    if any(m < 0 for m in mem) or any(c < 0 for c in cost):
        raise ValueError("costs and memory sizes must be non-negative")
    if not math.isfinite(budget):
        raise ValueError("budget must be finite")


def build_checkmate(
    cost: Sequence[float],
    mem: Sequence[float],
    preds: Sequence[Sequence[int]],
    budget: float,
    *,
    frontier_advancing: bool = True,
    free_form: str = "paper",
) -> CheckmateModel:
    """Build the Checkmate MILP (see the module docstring) without solving it.

    Parameters
    ----------
    cost, mem, preds, budget
        As in :func:`solve_checkmate`.
    frontier_advancing
        Impose the frontier-advancing stage structure (stage ``t`` computes node ``t``).
    free_form
        ``"paper"`` (the paper's aggregated num-hazards inequalities) or ``"product"``
        (disaggregated product linearization, same integer solutions, tighter LP).

    Returns
    -------
    CheckmateModel
    """
    check_remat_data(cost, mem, preds, budget)
    if free_form not in FREE_FORMS:
        raise ValueError(f"free_form must be one of {FREE_FORMS}, got {free_form!r}")
    n = len(cost)
    scale = _memory_scale(mem, budget)
    m = [float(v) / scale for v in mem]
    cap = float(budget) / scale
    users: list[list[int]] = [[] for _ in range(n)]
    for k, ps in enumerate(preds):
        for i in ps:
            users[i].append(k)

    b = ModelBuilder()
    r_col: dict[tuple[int, int], int] = {}
    s_col: dict[tuple[int, int], int] = {}
    free_col: dict[tuple[int, int, int], int] = {}
    u_col: dict[tuple[int, int], int] = {}

    def last(t: int) -> int:  # last node evaluated (or evaluable) in stage t
        return t if frontier_advancing else n - 1

    for t in range(n):
        for i in range(last(t) + 1):
            r_col[t, i] = b.binary(f"R[{t},{i}]", float(cost[i]))
            if frontier_advancing and i == t:
                b.lb[r_col[t, i]] = 1.0
        for i in range(t if frontier_advancing else n):
            if t > 0:
                s_col[t, i] = b.binary(f"S[{t},{i}]")

    # every node is computed at least once (frontier-advancing: R[t,t] = 1 already)
    if not frontier_advancing:
        for i in range(n):
            b.row({r_col[t, i]: 1.0 for t in range(n)}, lb=1.0)

    # dependencies: R[t,k] <= R[t,i] + S[t,i]
    for t in range(n):
        for k in range(last(t) + 1):
            for i in preds[k]:
                row = {r_col[t, k]: 1.0, r_col[t, i]: -1.0}
                if (t, i) in s_col:
                    row[s_col[t, i]] = -1.0
                b.row(row, ub=0.0)

    # retention: S[t+1,i] <= S[t,i] + R[t,i]
    for (t1, i), c in s_col.items():
        row = {c: 1.0}
        if (t1 - 1, i) in s_col:
            row[s_col[t1 - 1, i]] = -1.0
        if (t1 - 1, i) in r_col:
            row[r_col[t1 - 1, i]] = -1.0
        b.row(row, ub=0.0)

    # FREE[t,i,k] for i in DEPS[k] ∪ {k}, k < last(t)
    for t in range(n):
        for k in range(last(t)):
            for i in (*preds[k], k):
                f = b.binary(f"FREE[{t},{i},{k}]")
                free_col[t, i, k] = f
                later = [r_col[t, j] for j in users[i] if j > k and (t, j) in r_col]
                s_next = s_col.get((t + 1, i))
                # hz = 1 - R[t,k] + S[t+1,i] + Σ R[t,j];  1 - FREE <= hz
                hz: dict[int, float] = {r_col[t, k]: -1.0}
                if s_next is not None:
                    hz[s_next] = 1.0
                for c in later:
                    hz[c] = hz.get(c, 0.0) + 1.0
                row = {c: -v for c, v in hz.items()}
                row[f] = -1.0
                b.row(row, ub=0.0)  # R[t,k] - S[t+1,i] - Σ R[t,j] - FREE <= 0
                if free_form == "paper":
                    kappa = float(len(hz))
                    # kappa (1 - FREE) >= hz  <=>  kappa FREE + (hz - 1) <= kappa - 1
                    row = dict(hz)
                    row[f] = kappa
                    b.row(row, ub=kappa - 1.0)
                else:
                    b.row({f: 1.0, r_col[t, k]: -1.0}, ub=0.0)
                    if s_next is not None:
                        b.row({f: 1.0, s_next: 1.0}, ub=1.0)
                    for c in later:
                        b.row({f: 1.0, c: 1.0}, ub=1.0)

    # memory accounting
    for t in range(n):
        for k in range(last(t) + 1):
            u_col[t, k] = b.var(f"U[{t},{k}]", 0.0, cap)
        row = {u_col[t, 0]: 1.0, r_col[t, 0]: -m[0]}
        for i in range(n):
            if (t, i) in s_col:
                row[s_col[t, i]] = row.get(s_col[t, i], 0.0) - m[i]
        b.row(row, lb=0.0, ub=0.0)
        for k in range(last(t)):
            row = {u_col[t, k + 1]: 1.0, u_col[t, k]: -1.0, r_col[t, k + 1]: -m[k + 1]}
            for i in (*preds[k], k):
                c = free_col[t, i, k]
                row[c] = row.get(c, 0.0) + m[i]
            b.row(row, lb=0.0, ub=0.0)

    return CheckmateModel(b, n, r_col, s_col, free_col, u_col)


def solve_checkmate(
    cost: Sequence[float],
    mem: Sequence[float],
    preds: Sequence[Sequence[int]],
    budget: float,
    *,
    time_limit: float = 60.0,
    mip_gap: float = 1e-6,
    frontier_advancing: bool = True,
    free_form: str = "paper",
) -> CheckmateResult:
    """Solve the Checkmate rematerialization MILP with HiGHS.

    Parameters
    ----------
    cost
        Compute cost of each node, in topological order (forward then backward).
    mem
        Size in bits of each node's output.
    preds
        ``preds[i]``: indices ``< i`` of the nodes feeding node ``i``.
    budget
        Memory budget in bits.
    time_limit
        HiGHS time limit in seconds.
    mip_gap
        Relative MIP gap at which HiGHS stops.
    frontier_advancing
        Impose frontier-advancing stages (the paper's setting); otherwise ``n`` free
        stages in which every node must be computed at least once.
    free_form
        FREE linearization: ``"paper"`` (default) or ``"product"``.

    Returns
    -------
    CheckmateResult
        ``status == "infeasible"`` and ``objective == inf`` when no schedule fits the
        budget.

    Raises
    ------
    ValueError
        On inconsistent input (lengths, non-topological predecessors, negative sizes).
    """
    t0 = time.perf_counter()
    model = build_checkmate(
        cost, mem, preds, budget, frontier_advancing=frontier_advancing, free_form=free_form
    )
    b = model.builder
    h = b.to_highs(
        {"time_limit": float(time_limit), "mip_rel_gap": float(mip_gap), "random_seed": 0}
    )
    build = time.perf_counter() - t0
    st = solve_model(h)
    n = model.n
    if st.values is None:
        return CheckmateResult(
            st.status,
            math.inf,
            st.bound,
            st.gap,
            b.n_vars,
            b.n_cons,
            model.n_binaries,
            build,
            st.seconds,
            -1,
            None,
            None,
        )
    x = st.values
    R = np.zeros((n, n), dtype=int)
    S = np.zeros((n, n), dtype=int)
    for (t, i), c in model.r_col.items():
        R[t, i] = int(round(x[c]))
    for (t, i), c in model.s_col.items():
        S[t, i] = int(round(x[c]))
    objective = float(np.asarray(cost, dtype=float) @ R.sum(axis=0))
    return CheckmateResult(
        st.status,
        objective,
        min(st.bound, objective),
        st.gap,
        b.n_vars,
        b.n_cons,
        model.n_binaries,
        build,
        st.seconds,
        int(R.sum()) - n,
        R,
        S,
    )
