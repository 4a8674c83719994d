"""monet_opt.formulations.benders: the no-good-cut loop finds the minimum of a table."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from monet_opt.formulations._builder import Affine, ModelBuilder
from monet_opt.formulations.benders import run_benders
from monet_opt.formulations.options import Deadline, SolverOptions


@pytest.mark.parametrize("seed", range(10))
def test_finds_the_minimum_of_a_random_table(seed: int) -> None:
    """V(x) is a random table over 4 binaries with some infeasible points; the master only
    knows η ≥ Σ_j c_j x_j (a valid lower bound).  The loop returns the table's minimum,
    proves it (bound = value) and never evaluates a point twice."""
    rng = random.Random(seed)
    n = 4
    c = [rng.uniform(0, 2) for _ in range(n)]
    table = {}
    for bits in itertools.product([0, 1], repeat=n):
        on = frozenset(j for j in range(n) if bits[j])
        lb = sum(c[j] for j in on)
        table[on] = math.inf if rng.random() < 0.2 else lb + rng.uniform(0, 5)
    feasible = [v for v in table.values() if math.isfinite(v)]
    mb = ModelBuilder()
    x = {j: mb.binary(f"x[{j}]") for j in range(n)}
    eta = mb.var("eta", 0.0, math.inf)
    mb.ge(Affine.of(eta) - Affine.total(Affine.of(x[j], c[j]) for j in range(n)), 0.0)
    mb.minimize(Affine.of(eta))
    calls: list[frozenset[int]] = []

    def evaluate(on):  # noqa: ANN001, ANN202
        calls.append(on)
        return table[on], table[on]

    opts = SolverOptions(time_limit=30, mip_gap=1e-9)
    run = run_benders(mb, eta, x, evaluate, [frozenset()], opts, Deadline(30))
    assert len(calls) == len(set(calls))
    if feasible:
        assert run.value == pytest.approx(min(feasible))
        assert table[run.best] == run.value
        assert run.bound == pytest.approx(run.value, abs=1e-6)
    else:
        assert run.best is None
