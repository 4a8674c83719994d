"""Affine expressions and the row helpers of the sparse model builder."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monet_opt.formulations._builder import Affine, ModelBuilder, solve_model


def _row(mb: ModelBuilder, r: int) -> tuple[dict[int, float], float, float]:
    coeffs = {c: v for ri, c, v in zip(mb._ri, mb._ci, mb._v, strict=True) if ri == r}
    return coeffs, mb.row_lb[r], mb.row_ub[r]


def test_arithmetic_sums_terms_in_order() -> None:
    x, y = Affine.of(0), Affine.of(1, 2.0)
    e = 3.0 * x - y + 1.5 - x * 2 + Affine.of(1)
    assert dict(e.terms) == {0: 1.0, 1: -1.0}
    assert list(e.terms) == [0, 1]
    assert e.const == 1.5
    assert (1 - x).const == 1.0 and dict((1 - x).terms) == {0: -1.0}
    assert (2 + x).const == 2.0
    assert dict((-y).terms) == {1: -2.0}
    assert dict(x.terms) == {0: 1.0} and dict(y.terms) == {1: 2.0}  # operands unchanged


def test_total_and_numpy_scalars() -> None:
    parts = [np.float64(2.0) * Affine.of(c % 3) for c in range(6)] + [np.int64(4), 0.5]
    e = Affine.total(parts)
    assert dict(e.terms) == {0: 4.0, 1: 4.0, 2: 4.0}
    assert e.const == 4.5
    assert isinstance(np.float64(3.0) - Affine.of(0), Affine)
    assert sum([Affine.of(0), Affine.of(0)]).terms[0] == 2.0


def test_terms_are_read_only_and_bad_operands_raise() -> None:
    e = Affine.of(0)
    with pytest.raises(TypeError):
        e.terms[0] = 2.0  # type: ignore[index]
    with pytest.raises(TypeError):
        e * Affine.of(1)  # type: ignore[operator]
    with pytest.raises(TypeError):
        e + "x"  # type: ignore[operator]


def test_rows_move_constants_to_bounds() -> None:
    mb = ModelBuilder()
    x, y = mb.var("x"), mb.var("y")
    vx, vy = mb.expr(x), mb.expr(y)
    r = mb.ge(vx + 2.0, vy - 3.0)  # x - y >= -5
    assert _row(mb, r) == ({x: 1.0, y: -1.0}, -5.0, math.inf)
    r = mb.le(2.0 * vx + 1.0, 7.0)  # 2x <= 6
    assert _row(mb, r) == ({x: 2.0}, -math.inf, 6.0)
    r = mb.eq(vx + vy, vy + 1.0)  # x == 1, y cancels and is dropped
    assert _row(mb, r) == ({x: 1.0}, 1.0, 1.0)
    r = mb.eq(vx - 1.0)
    assert _row(mb, r) == ({x: 1.0}, 1.0, 1.0)
    r = mb.add(vx + vy + 1.0, lb=2.0, ub=4.0)
    assert _row(mb, r) == ({x: 1.0, y: 1.0}, 1.0, 3.0)
    assert mb.n_cons == 5


def test_minimize_solves_a_small_mip() -> None:
    mb = ModelBuilder()
    x = mb.var("x", 0.0, 10.0, integer=True)
    y = mb.var("y", 0.0, 10.0)
    vx, vy = mb.expr(x), mb.expr(y)
    mb.ge(vx + vy, 3.5)
    mb.le(vx - vy, 0.0)
    mb.minimize(2.0 * vx + vy + 10.0)
    assert mb.cost == [2.0, 1.0] and mb.offset == 10.0
    st = solve_model(mb.to_highs())
    assert st.status == "optimal"
    assert st.objective == pytest.approx(13.5)  # x = 0, y = 3.5


def test_threads_fixed_by_the_first_option_set():
    """HiGHS fixes its thread pool at a process's first solve and fails when a later one
    asks for another count: only the first value is passed, later different ones are
    dropped (the docstring of SolverOptions.threads)."""
    from monet_opt.formulations import options
    from monet_opt.formulations.options import SolverOptions

    first = SolverOptions().highs()  # this process's pool is fixed by now
    pool = options._POOL[0]
    assert ("threads" in first) == (pool is not None)
    other = SolverOptions(threads=(pool or 1) + 1).highs()
    assert "threads" not in other
    if pool is not None:
        assert SolverOptions(threads=pool).highs()["threads"] == pool
