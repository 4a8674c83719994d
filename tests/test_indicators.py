"""Tests of monet_opt.indicators: non-dominated filtering and hypervolume."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monet_opt import indicators
from monet_opt.indicators import (
    hypervolume,
    hypervolume_ratio,
    nondominated_indices,
    pareto_filter,
)


def test_nondominated_indices():
    pts = [(3, 1), (1, 3), (2, 2), (2, 2), (3, 3)]
    assert nondominated_indices(pts) == [1, 2, 0]
    assert nondominated_indices([]) == []


def test_hypervolume_2d_hand_computed():
    front = [(1, 3), (2, 2), (3, 1)]
    assert hypervolume(front, (4, 4)) == pytest.approx(6.0)
    assert hypervolume(front + [(3, 3)], (4, 4)) == pytest.approx(6.0)  # dominated
    assert hypervolume(front + [(5, 0.5)], (4, 4)) == pytest.approx(6.0)  # beyond ref
    assert hypervolume(front + [(4, 0.5)], (4, 4)) == pytest.approx(6.0)  # on ref boundary
    assert hypervolume(np.array(front, dtype=float), [4.0, 4.0]) == pytest.approx(6.0)
    assert hypervolume([(1, 1)], (3, 2)) == pytest.approx(2.0)
    assert hypervolume([], (1, 1)) == 0.0
    assert hypervolume([(None, 1), (1, math.nan)], (2, 2)) == 0.0


def test_hypervolume_3d_box_and_fallback():
    assert hypervolume([(1, 2, 3)], (2, 4, 6)) == pytest.approx(6.0)
    # boxes 2*1*2 + 1*2*2 minus their overlap 1*1*2
    assert hypervolume([(0, 1, 0), (1, 0, 0)], (2, 2, 2)) == pytest.approx(4.0 + 4.0 - 2.0)
    rng = np.random.default_rng(0)
    for d in (2, 3):
        pts = rng.random((12, d))
        ref = np.full(d, 1.05)
        nd = np.asarray(pareto_filter(pts))
        assert indicators._hv_python(nd, ref) == pytest.approx(hypervolume(pts, ref))


def test_pareto_filter():
    pts = [(3, 1), (1, 3), (2, 2), (2, 2), (3, 3), (2.5, 2), (None, 0), (1, 4)]
    assert pareto_filter(pts) == [[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]]
    assert pareto_filter([]) == []
    p3 = pareto_filter([(1, 1, 1), (0, 2, 2), (1, 1, 2), (2, 0, 0)])
    assert p3 == [[0.0, 2.0, 2.0], [1.0, 1.0, 1.0], [2.0, 0.0, 0.0]]


def test_hypervolume_ratio():
    front = [[1e6, 3e9], [2e6, 2e9], [3e6, 1e9]]
    ratio, ref = hypervolume_ratio(front, front)
    assert ratio == pytest.approx(1.0)
    assert ref == pytest.approx([3.3e6, 3.3e9])
    worse = [[x * 1.1, y * 1.05] for x, y in front]
    r2, ref2 = hypervolume_ratio(worse, front)
    assert 0 < r2 < 1
    assert ref2 == pytest.approx([3.3e6 * 1.1, 3.3e9 * 1.05])
    r3, _ = hypervolume_ratio(front, worse)
    assert r3 > 1
    # zero max on an axis -> reference 1.0 there; explicit reference used as given
    r4, ref4 = hypervolume_ratio([[1, 0]], [[1, 0], [0.5, 0]])
    assert ref4 == pytest.approx([1.1, 1.0]) and r4 == pytest.approx(0.1 / 0.6)
    r5, ref5 = hypervolume_ratio([(2, 2)], [(1, 3), (2, 2), (3, 1)], reference=(4, 4))
    assert ref5 == [4.0, 4.0] and r5 == pytest.approx(4 / 6)
    assert math.isnan(hypervolume_ratio([(1, 1)], [], reference=(2, 2))[0])
