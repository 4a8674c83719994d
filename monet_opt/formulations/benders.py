r"""Logic-based Benders decomposition over binary decisions, with no-good cuts.

Hooker and Ottosson, "Logic-based Benders decomposition", Mathematical Programming 96,
2003.  A master MILP over binaries :math:`x_j` and a column :math:`\eta` (minimized)
holds rows that every feasible :math:`x` satisfies with :math:`\eta = V(x)`, the true
objective; an *evaluation* of :math:`x^*` returns :math:`V(x^*)` and a lower bound
:math:`\lambda \le V(x^*)` (equal when the subproblem is solved exactly; ``inf`` when
:math:`x^*` is infeasible).  The cut, with the Hamming distance
:math:`H(x) = \sum_{j: x^*_j = 1} (1 - x_j) + \sum_{j: x^*_j = 0} x_j`, is

.. math::

   \eta \ge \lambda\,(1 - H(x)) \quad\text{or, for an infeasible } x^*,\quad H(x) \ge 1,

valid at :math:`x^*` and void elsewhere.  The master's optimum (its dual bound at a time
limit) is therefore a lower bound over the whole space, the incumbent is the best
evaluated :math:`x`, and the loop ends when the master proposes an evaluated :math:`x`
(whose cut then holds with equality), is infeasible (every :math:`x` cut), meets the
incumbent within the MIP gap, or runs out of time.  The space is finite, so it ends.

:mod:`monet_opt.formulations.remat_placement` (keep sets, the placement MILP as the
subproblem) and :mod:`monet_opt.formulations.fusion_capacity` (stackings, the evaluator
as the subproblem) use it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field

from monet_opt.formulations._builder import Affine, ModelBuilder, solve_model
from monet_opt.formulations.options import Deadline, SolverOptions

__all__ = ["BendersRun", "hamming", "run_benders"]


@dataclass
class BendersRun:
    """Outcome of :func:`run_benders`.

    Attributes
    ----------
    best, value
        The best evaluated set of binaries at 1 and its value (``None`` / ``inf`` when no
        evaluated point was feasible).
    bound
        A lower bound of the objective over the whole space (``-inf`` when unknown).
    evaluated
        Every evaluated point and its lower bound :math:`\\lambda`.
    master_solves, solve_seconds
        Master MILP solves and their HiGHS time (evaluations not included).
    """

    best: frozenset[Hashable] | None = None
    value: float = math.inf
    bound: float = -math.inf
    evaluated: dict[frozenset[Hashable], float] = field(default_factory=dict)
    master_solves: int = 0
    solve_seconds: float = 0.0


def hamming(cols: Mapping[Hashable, int], on: frozenset[Hashable]) -> Affine:
    """:math:`H(x)` to the point whose binaries at 1 are ``on`` (``cols``: key → column)."""
    return Affine.total((1.0 - Affine.of(c)) if k in on else Affine.of(c) for k, c in cols.items())


def run_benders(
    mb: ModelBuilder,
    eta: int,
    cols: Mapping[Hashable, int],
    evaluate: Callable[[frozenset[Hashable]], tuple[float, float]],
    starts: Iterable[frozenset[Hashable]],
    options: SolverOptions,
    deadline: Deadline,
) -> BendersRun:
    """Run the loop of the module docstring.

    Parameters
    ----------
    mb
        The master, with its rows and :math:`\\eta` minimized; cuts are added to it.
    eta, cols
        The :math:`\\eta` column and the binaries (key → column).
    evaluate
        Point (keys at 1) → (value, :math:`\\lambda`); value ``inf`` when infeasible.
    starts
        Points evaluated before the first master solve (each must be in the space).
    options, deadline
        HiGHS options (``mip_gap`` stops the loop) and the time left.
    """
    out = BendersRun()

    def visit(on: frozenset[Hashable]) -> None:
        value, lam = evaluate(on)
        out.evaluated[on] = lam
        if math.isfinite(value) and (out.best is None or value < out.value * (1 - 1e-12)):
            out.best, out.value = on, value
        if math.isfinite(lam):
            mb.ge(Affine.of(eta) + hamming(cols, on) * lam, lam)
        else:
            mb.ge(hamming(cols, on), 1.0)

    for on in starts:
        if on not in out.evaluated and not (deadline.expired and out.best is not None):
            visit(on)
    while not deadline.expired:
        st = solve_model(mb.to_highs(options.with_time(deadline.remaining()).highs()))
        out.master_solves += 1
        out.solve_seconds += st.seconds
        if st.status == "infeasible":  # every point is cut: the incumbent is optimal
            out.bound = out.value
            break
        if math.isfinite(st.bound):
            out.bound = max(out.bound, float(st.bound))
        if not st.has_solution:
            break
        on = frozenset(k for k, c in cols.items() if st.values[c] > 0.5)
        if on in out.evaluated:  # its cut holds with equality: the bound is proven
            break
        if out.best is not None and out.bound >= out.value * (1 - options.mip_gap):
            break
        visit(on)
    return out
