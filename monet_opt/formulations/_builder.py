"""A small sparse-array model builder on top of highspy (``addCols``/``addRows``).

Formulations register columns and rows here and pass the whole model to HiGHS at once
with numpy arrays (one ``addCols`` and one ``addRows`` call), which builds models of
10^4–10^5 rows about two orders of magnitude faster than the highspy expression API
(HiGHS: Huangfu and Hall, "Parallelizing the dual revised simplex method", Mathematical
Programming Computation 10, 2018; highspy 1.15–1.16).

Rows are written with :class:`Affine` expressions: ``Affine.of(col)`` (or
``ModelBuilder.expr``) makes a column term, numbers are constants, and ``+``, ``-`` and
scalar ``*`` combine them.  :meth:`ModelBuilder.ge`, :meth:`~ModelBuilder.le`,
:meth:`~ModelBuilder.eq` and :meth:`~ModelBuilder.add` move the constant to the row
bounds and store the row as triplets, so the fixed parts of an expression (a fixed
binary, a constant duration) need no bookkeeping in the formulations.
"""

from __future__ import annotations

import math
import time
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import highspy
import numpy as np

__all__ = ["Affine", "ModelBuilder", "MipStatus", "new_highs", "solve_model", "too_large"]

_INF = highspy.kHighsInf
#: Nonzeros above which :func:`too_large` keeps a model from HiGHS, whose presolve and
#: LP copies took 0.6–1.2 kB a nonzero in our runs (capacity allocation MILPs of derived
#: problems: 0.96 M nonzeros +0.6 GB, 3.96 M nonzeros +4.7 GB); the caller keeps its start.
MAX_NONZEROS = 2_000_000
# highspy: changing `threads` after the first solve of a process makes later solves fail
_THREADS_SET: list[int] = []

#: Scalars accepted as constants and factors.
Number = int | float | np.floating | np.integer


class Affine:
    """An affine expression :math:`\\sum_c a_c x_c + b` over model columns.

    Columns enter only through :meth:`of` (or :meth:`ModelBuilder.expr`); a plain
    number in ``+``/``-`` is a constant, never a column index.  Operators return new
    expressions (the operands are not changed); coefficients of a column that occurs
    twice are summed, in the order the terms were added.

    Parameters
    ----------
    terms
        Column index → coefficient.
    const
        Constant term :math:`b`.

    Examples
    --------
    >>> e = 2.0 * Affine.of(3) - Affine.of(5) + 1.5
    >>> dict(e.terms), e.const
    ({3: 2.0, 5: -1.0}, 1.5)
    >>> (1 - Affine.of(3)).const
    1.0
    """

    __slots__ = ("_t", "const")
    __array_ufunc__ = None  # numpy scalars on the left defer to the reflected operators

    def __init__(self, terms: Mapping[int, float] | None = None, const: Number = 0.0) -> None:
        self._t: dict[int, float] = dict(terms) if terms else {}
        self.const: float = float(const)

    @classmethod
    def of(cls, col: int, coeff: Number = 1.0) -> Affine:
        """The expression ``coeff · x[col]``."""
        return cls({int(col): float(coeff)})

    @classmethod
    def total(cls, parts: Iterable[Affine | Number]) -> Affine:
        """Sum of expressions and numbers, accumulated left to right in one pass."""
        out = cls()
        for p in parts:
            out._iadd(p, 1.0)
        return out

    @property
    def terms(self) -> Mapping[int, float]:
        """Column → coefficient (read-only view)."""
        return MappingProxyType(self._t)

    def _iadd(self, other: Affine | Number, sign: float) -> None:
        if isinstance(other, Affine):
            t = self._t
            if sign > 0:
                for c, v in other._t.items():
                    t[c] = t.get(c, 0.0) + v
                self.const += other.const
            else:
                for c, v in other._t.items():
                    t[c] = t.get(c, 0.0) - v
                self.const -= other.const
        elif isinstance(other, Number):
            self.const += float(other) if sign > 0 else -float(other)
        else:
            raise TypeError(f"cannot add {type(other).__name__} to an Affine expression")

    def _copy(self) -> Affine:
        return Affine(self._t, self.const)

    def __add__(self, other: Affine | Number) -> Affine:
        out = self._copy()
        out._iadd(other, 1.0)
        return out

    def __radd__(self, other: Number) -> Affine:
        out = Affine(const=other)
        out._iadd(self, 1.0)
        return out

    def __sub__(self, other: Affine | Number) -> Affine:
        out = self._copy()
        out._iadd(other, -1.0)
        return out

    def __rsub__(self, other: Number) -> Affine:
        out = Affine(const=other)
        out._iadd(self, -1.0)
        return out

    def __neg__(self) -> Affine:
        return Affine({c: -v for c, v in self._t.items()}, -self.const)

    def __mul__(self, k: Number) -> Affine:
        if not isinstance(k, Number):
            return NotImplemented
        k = float(k)
        return Affine({c: k * v for c, v in self._t.items()}, k * self.const)

    __rmul__ = __mul__

    def __repr__(self) -> str:
        body = " + ".join(f"{v:g}*x[{c}]" for c, v in self._t.items())
        return f"Affine({body or '0'} + {self.const:g})"


def new_highs() -> highspy.Highs:
    """A silent :class:`highspy.Highs`.

    HiGHS prints its version banner to the process's standard output the first time a
    ``Highs`` object is made, before any option can silence it; that would mix into the
    command line's tables and into JSON a user pipes.  The banner is kept off file
    descriptor 1 while the object is built.
    """
    import os
    import sys

    try:
        sys.stdout.flush()
        fd = os.dup(1)
    except (OSError, ValueError):  # no usable stdout: nothing to protect
        h = highspy.Highs()
    else:
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 1)
                h = highspy.Highs()
        finally:
            os.dup2(fd, 1)
            os.close(fd)
    h.setOptionValue("output_flag", False)
    return h


@dataclass
class ModelBuilder:
    """Accumulates a MILP: columns with bounds/costs/integrality, rows as triplets."""

    lb: list[float] = field(default_factory=list)
    ub: list[float] = field(default_factory=list)
    cost: list[float] = field(default_factory=list)
    integer: list[bool] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    # rows as typed arrays (8 bytes an entry, not a boxed Python number in a list): a
    # model of 10^6 rows and 4·10^6 nonzeros holds ~100 MB here instead of ~400 MB
    row_lb: array = field(default_factory=lambda: array("d"))
    row_ub: array = field(default_factory=lambda: array("d"))
    _ri: array = field(default_factory=lambda: array("q"))
    _ci: array = field(default_factory=lambda: array("q"))
    _v: array = field(default_factory=lambda: array("d"))
    offset: float = 0.0

    def var(
        self,
        name: str,
        lb: float = 0.0,
        ub: float = math.inf,
        cost: float = 0.0,
        integer: bool = False,
    ) -> int:
        """Add a column; returns its index."""
        self.lb.append(lb)
        self.ub.append(_INF if math.isinf(ub) else ub)
        self.cost.append(cost)
        self.integer.append(integer)
        self.names.append(name)
        return len(self.lb) - 1

    def binary(self, name: str, cost: float = 0.0) -> int:
        """Add a 0-1 column; returns its index."""
        return self.var(name, 0.0, 1.0, cost, True)

    @staticmethod
    def expr(col: int, coeff: float = 1.0) -> Affine:
        """Column ``col`` as an :class:`Affine` expression (``coeff · x[col]``)."""
        return Affine.of(col, coeff)

    def row(
        self,
        coeffs: Mapping[int, float] | Iterable[tuple[int, float]],
        lb: float = -math.inf,
        ub: float = math.inf,
    ) -> int:
        """Add ``lb <= Σ coeff·x <= ub``; duplicate columns are summed."""
        r = len(self.row_lb)
        items = coeffs.items() if isinstance(coeffs, Mapping) else coeffs
        acc: dict[int, float] = {}
        for c, v in items:
            acc[c] = acc.get(c, 0.0) + v
        for c, v in acc.items():
            if v != 0.0:
                self._ri.append(r)
                self._ci.append(c)
                self._v.append(v)
        self.row_lb.append(-_INF if math.isinf(lb) else lb)
        self.row_ub.append(_INF if math.isinf(ub) else ub)
        return r

    def add(self, lhs: Affine, lb: float = -math.inf, ub: float = math.inf) -> int:
        """Add ``lb <= lhs <= ub``; the constant of ``lhs`` moves to the bounds."""
        return self.row(lhs._t, lb - lhs.const, ub - lhs.const)

    def ge(self, lhs: Affine, rhs: Affine | float = 0.0) -> int:
        """Add ``lhs >= rhs``; returns the row index."""
        if isinstance(rhs, Affine):
            return self.add(lhs - rhs, lb=0.0)
        return self.add(lhs, lb=rhs)

    def le(self, lhs: Affine, rhs: Affine | float = 0.0) -> int:
        """Add ``lhs <= rhs``; returns the row index."""
        if isinstance(rhs, Affine):
            return self.add(lhs - rhs, ub=0.0)
        return self.add(lhs, ub=rhs)

    def eq(self, lhs: Affine, rhs: Affine | float = 0.0) -> int:
        """Add ``lhs == rhs``; returns the row index."""
        if isinstance(rhs, Affine):
            d = lhs - rhs
            return self.add(d, 0.0, 0.0)
        return self.add(lhs, rhs, rhs)

    def minimize(self, objective: Affine) -> None:
        """Add ``objective`` to the minimized objective (column costs and offset)."""
        for c, v in objective._t.items():
            self.cost[c] += v
        self.offset += objective.const

    @property
    def n_vars(self) -> int:
        return len(self.lb)

    @property
    def n_cons(self) -> int:
        return len(self.row_lb)

    @property
    def n_nonzeros(self) -> int:
        return len(self._v)

    def to_highs(self, options: Mapping[str, object] | None = None) -> highspy.Highs:
        """A configured :class:`highspy.Highs` holding the model (minimization)."""
        h = new_highs()
        h.setOptionValue("output_flag", False)
        for k, v in (options or {}).items():
            if k == "threads":
                if _THREADS_SET and _THREADS_SET[0] != v:
                    continue  # changing threads later in a process breaks HiGHS
                _THREADS_SET[:1] = [int(v)]  # type: ignore[call-overload]
            h.setOptionValue(k, v)
        n = self.n_vars
        h.addCols(
            n,
            np.asarray(self.cost, dtype=float),
            np.asarray(self.lb, dtype=float),
            np.asarray(self.ub, dtype=float),
            0,
            np.zeros(0, dtype=np.int32),
            np.zeros(0, dtype=np.int32),
            np.zeros(0, dtype=float),
        )
        ints = np.flatnonzero(np.asarray(self.integer))
        if len(ints):
            h.changeColsIntegrality(
                len(ints), ints.astype(np.int32), np.full(len(ints), highspy.HighsVarType.kInteger)
            )
        if self.offset:
            h.changeObjectiveOffset(self.offset)
        m = self.n_cons
        if m:
            ri = np.array(self._ri, dtype=np.int64)
            order = np.argsort(ri, kind="stable")
            ri = ri[order]
            ci = np.array(self._ci, dtype=np.int32)[order]
            vv = np.array(self._v, dtype=float)[order]
            starts = np.searchsorted(ri, np.arange(m)).astype(np.int32)
            h.addRows(
                m,
                np.array(self.row_lb, dtype=float),
                np.array(self.row_ub, dtype=float),
                len(vv),
                starts,
                ci,
                vv,
            )
        h.changeObjectiveSense(highspy.ObjSense.kMinimize)
        return h


@dataclass(frozen=True)
class MipStatus:
    """Solver outcome: status string, objective, dual bound, relative gap, seconds."""

    status: str
    objective: float
    bound: float
    gap: float
    seconds: float
    values: np.ndarray | None

    @property
    def has_solution(self) -> bool:
        return self.values is not None


def too_large(builder: ModelBuilder) -> MipStatus | None:
    """``None``, or the status ``model_too_large`` (no solution, no bound) of a model with
    more than :data:`MAX_NONZEROS` nonzeros, which is then not solved."""
    if builder.n_nonzeros <= MAX_NONZEROS:
        return None
    return MipStatus("model_too_large", math.inf, -math.inf, math.inf, 0.0, None)


def _consistent(h: highspy.Highs) -> bool:
    """Whether the solution vector attains the objective value HiGHS reports."""
    info = h.getInfo()
    if info.primal_solution_status != 2:
        return True
    lp = h.getLp()
    x = np.asarray(h.getSolution().col_value)
    val = float(np.dot(np.asarray(lp.col_cost_), x)) + float(lp.offset_)
    obj = float(info.objective_function_value)
    return abs(val - obj) <= 1e-6 * max(1.0, abs(obj))


def solve_model(
    h: highspy.Highs,
    warm_start: np.ndarray | None = None,
    partial: dict[int, float] | None = None,
) -> MipStatus:
    """Run HiGHS; map its status to ``optimal``/``time_limit``/``infeasible``/....

    ``warm_start`` is a full column vector, ``partial`` values of some columns (HiGHS
    completes a partial start by fixing them and solving for the rest); both go through
    ``Highs.setSolution``.
    """
    if warm_start is not None:
        sol = highspy.HighsSolution()
        sol.col_value = list(map(float, warm_start))
        sol.value_valid = True
        h.setSolution(sol)
    elif partial:
        idx = np.fromiter(partial.keys(), dtype=np.int32, count=len(partial))
        val = np.fromiter(partial.values(), dtype=np.float64, count=len(partial))
        h.setSolution(len(partial), idx, val)
    t0 = time.perf_counter()
    h.run()
    if (warm_start is not None or partial) and not _consistent(h):
        # HiGHS 1.16 can report the objective of the incumbent it found while its
        # solution vector is still the start we gave: solve again without the start.
        h.clearSolver()
        h.run()
    secs = time.perf_counter() - t0
    ms = h.getModelStatus()
    info = h.getInfo()
    names = {
        highspy.HighsModelStatus.kOptimal: "optimal",
        highspy.HighsModelStatus.kTimeLimit: "time_limit",
        highspy.HighsModelStatus.kInfeasible: "infeasible",
        highspy.HighsModelStatus.kSolutionLimit: "solution_limit",
        highspy.HighsModelStatus.kIterationLimit: "iteration_limit",
        highspy.HighsModelStatus.kInterrupt: "interrupted",
    }
    status = names.get(ms, h.modelStatusToString(ms).lower().replace(" ", "_"))
    has = info.primal_solution_status == 2  # kSolutionStatusFeasible
    values = np.asarray(h.getSolution().col_value) if has else None
    obj = float(info.objective_function_value) if has else math.inf
    is_mip = bool(np.any(h.getLp().integrality_)) if h.getNumCol() else False
    bound = float(info.mip_dual_bound) if is_mip else (obj if status == "optimal" else -math.inf)
    if status == "optimal" and (not math.isfinite(bound) or not is_mip):
        bound = obj
    gap = float(info.mip_gap) if has and is_mip else (0.0 if status == "optimal" else math.inf)
    if status == "optimal" and not math.isfinite(gap):
        gap = 0.0
    return MipStatus(status, obj, bound, gap, secs, values)
