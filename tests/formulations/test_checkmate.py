"""Checkmate MILP: store-all optimum, budget monotonicity, decoded-schedule feasibility."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from monet_opt.formulations.checkmate import CheckmateResult, solve_checkmate
from monet_opt.formulations.remat_instances import random_training_dag, training_chain


def check_schedule(
    r: CheckmateResult,
    cost: Sequence[float],
    mem: Sequence[float],
    preds: Sequence[Sequence[int]],
    budget: float,
    frontier: bool = True,
) -> float:
    """Replay R/S stage by stage; return the peak memory (freeing dead values eagerly)."""
    assert r.R is not None and r.S is not None
    R, S = r.R, r.S
    n = len(cost)
    assert R.shape == S.shape == (n, n)
    assert set(np.unique(R)) <= {0, 1} and set(np.unique(S)) <= {0, 1}
    assert not S[0].any()
    assert (R.sum(axis=0) >= 1).all()  # every node computed
    if frontier:
        assert (np.diag(R) == 1).all()
        assert not np.triu(R, 1).any() and not np.triu(S).any()
    for t in range(n - 1):
        assert (S[t + 1] <= S[t] + R[t]).all()
    users: list[list[int]] = [[] for _ in range(n)]
    for k, ps in enumerate(preds):
        for i in ps:
            users[i].append(k)
    peak = 0.0
    for t in range(n):
        keep_next = S[t + 1] if t + 1 < n else np.zeros(n, dtype=int)
        resident = {i for i in range(n) if S[t, i]}
        for k in range(n):
            if not R[t, k]:
                continue
            for i in preds[k]:  # R[t,k] <= R[t,i] + S[t,i], and the value is still there
                assert R[t, i] + S[t, i] >= 1
                assert i in resident, (t, k, i)
            resident.add(k)
            peak = max(peak, sum(mem[i] for i in resident))
            resident = {
                i for i in resident if keep_next[i] or any(j > k and R[t, j] for j in users[i])
            }
    assert peak <= budget + 1e-9
    assert r.objective == pytest.approx(float(np.dot(cost, R.sum(axis=0))))
    assert r.recomputations == int(R.sum()) - n
    return peak


@pytest.mark.parametrize("seed", range(4))
def test_store_all_budget_has_no_recomputation(seed: int) -> None:
    cost, mem, preds = random_training_dag(seed=seed)
    r = solve_checkmate(cost, mem, preds, sum(mem))
    assert r.status == "optimal"
    assert r.objective == pytest.approx(sum(cost))
    assert r.recomputations == 0
    assert r.bound <= r.objective + 1e-6
    check_schedule(r, cost, mem, preds, sum(mem))


def test_chain_objective_decreases_with_budget() -> None:
    depth = 5
    cost, mem, preds = training_chain(depth)
    objs = []
    for budget in range(4, 2 * depth + 1):
        r = solve_checkmate(cost, mem, preds, budget)
        assert r.status == "optimal"
        check_schedule(r, cost, mem, preds, budget)
        # the product linearization of FREE has the same integer solutions
        q = solve_checkmate(cost, mem, preds, budget, free_form="product")
        assert q.objective == pytest.approx(r.objective)
        objs.append(r.objective)
    assert all(a >= b for a, b in zip(objs, objs[1:], strict=False))
    assert objs[0] > depth  # the tightest feasible budget forces recomputation
    assert objs[-1] == pytest.approx(depth)


@pytest.mark.parametrize(("seed", "budget"), [(0, 15.0), (2, 18.0), (3, 13.0)])
def test_decoded_schedule_is_feasible_at_tight_budgets(seed: int, budget: float) -> None:
    cost, mem, preds = random_training_dag(seed=seed)
    assert budget < sum(mem)
    r = solve_checkmate(cost, mem, preds, budget)
    assert r.status == "optimal"
    assert r.recomputations > 0 and r.objective > sum(cost)
    assert r.bound <= r.objective + 1e-6
    check_schedule(r, cost, mem, preds, budget)


def test_infeasible_budget() -> None:
    cost, mem, preds = training_chain(5)
    for budget in (1.0, 2.0, 3.0):  # computing b_i needs f_{i-1}, f_i, b_{i+1} and b_i
        r = solve_checkmate(cost, mem, preds, budget)
        assert r.status == "infeasible"
        assert r.objective == math.inf
        assert r.R is None and r.S is None and r.recomputations == -1


def test_general_stages_are_no_worse_than_frontier_advancing() -> None:
    cost, mem, preds = training_chain(3)
    for budget in (4, 5, 6):
        fa = solve_checkmate(cost, mem, preds, budget)
        gen = solve_checkmate(cost, mem, preds, budget, frontier_advancing=False)
        assert gen.status == "optimal"
        assert gen.objective <= fa.objective + 1e-9
        check_schedule(gen, cost, mem, preds, budget, frontier=False)


def test_model_size_formula() -> None:
    cost, mem, preds = training_chain(10)
    n = len(cost)
    r = solve_checkmate(cost, mem, preds, n, time_limit=5.0)
    p = [len(ps) for ps in preds]
    n_free = sum((n - 1 - k) * (p[k] + 1) for k in range(n))
    assert r.n_binaries == n * n + n_free
    assert r.n_vars == r.n_binaries + n * (n + 1) // 2
    n_dep = sum((n - k) * p[k] for k in range(n))
    assert r.n_cons == n_dep + n * (n - 1) // 2 + n * (n + 1) // 2 + 2 * n_free
    assert (r.n_vars, r.n_cons, r.n_binaries) == (1052, 1573, 842)


def test_rejects_non_topological_preds() -> None:
    with pytest.raises(ValueError):
        solve_checkmate([1.0, 1.0], [1.0, 1.0], [[1], []], 2.0)
