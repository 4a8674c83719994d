"""Multi-level rematerialization: Revolve's T(l, s), brute force over all schedules, Checkmate.

Every returned schedule is replayed by ``validate_schedule`` (the solvers do it too), so
an objective cannot be reported without a schedule that fits the budget.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Sequence

import pytest

from monet_opt.formulations.checkmate import solve_checkmate
from monet_opt.formulations.checkpointing import revolve_steps, solve_checkpointing
from monet_opt.formulations.remat_instances import (
    random_block_chain,
    random_chain,
    random_training_dag,
    training_chain,
)
from monet_opt.formulations.remat_multilevel import (
    Op,
    RematResult,
    chain_spec,
    from_problem,
    make_blocks,
    revolve_chain,
    single_level_schedule,
    solve_blocks,
    solve_chain,
    solve_remat,
    solve_search,
    uniform_sizes,
    validate_schedule,
)
from monet_opt.models.ir import Phase
from tests.formulations.test_checkpointing import chain_problem

Graph = tuple[list[float], list[float], list[list[int]]]


def checked(r: RematResult, g: Graph, budget: float) -> RematResult:
    """Replay the schedule; its cost and peak must be the reported ones."""
    cost, mem, preds = g
    if r.status == "infeasible":
        assert r.objective == math.inf and r.schedule == () and r.recomputations == -1
        return r
    assert r.status == "optimal"
    chk = validate_schedule(r.schedule, cost, mem, preds, budget)
    assert chk.objective == pytest.approx(r.objective)
    assert chk.peak_memory == pytest.approx(r.peak_memory)
    assert chk.peak_memory <= budget + 1e-9
    assert r.recompute_cost == pytest.approx(r.objective - sum(cost))
    assert r.recomputations == sum(chk.computations) - len(cost)
    return r


def brute_force(cost: Sequence[float], mem: Sequence[float], preds, budget: float) -> float:
    """Least total cost over all schedules: Dijkstra over (resident, computed) sets.

    Independent of the module: explicit ``free`` edges for every resident value, every
    node may be (re)computed whenever its inputs are resident and it fits, no pruning.
    """
    n = len(cost)
    start = (frozenset(), frozenset())
    dist = {start: 0.0}
    heap = [(0.0, 0, start)]
    tie = itertools.count(1)
    while heap:
        d, _, state = heapq.heappop(heap)
        if d > dist[state]:
            continue
        res, done = state
        if len(done) == n:
            return d
        used = sum(mem[i] for i in res)
        moves = [((res - {i}, done), 0.0) for i in res]
        for i in range(n):
            if i not in res and set(preds[i]) <= res and used + mem[i] <= budget + 1e-9:
                moves.append(((res | {i}, done | {i}), float(cost[i])))
        for nxt, c in moves:
            if d + c < dist.get(nxt, math.inf):
                dist[nxt] = d + c
                heapq.heappush(heap, (d + c, next(tie), nxt))
    return math.inf


# --- 1. Revolve ------------------------------------------------------------------------


@pytest.mark.parametrize("steps", range(1, 13))
def test_revolve_chain_equals_revolve_at_every_budget(steps: int) -> None:
    """``revolve_chain(l)`` at budget ``s + 2``: T(l, s) + 1 forward computations.

    l Revolve steps x_0 -> x_l, s snapshots with x_0 among them (x_0 is the network
    input: not a node, not counted); the budget holds s - 1 stored states plus the three
    values of the step being evaluated (input, output, adjoint).  Revolve does not count
    computing x_l; the graph does (f_l is a node), hence the + 1.  So the recompute
    work is Revolve's T(l, s) - (l - 1), and an L-layer network with a loss reading the
    last output is l = L + 1.
    """
    g = revolve_chain(steps)
    cost, mem, preds = g
    assert chain_spec(preds) is not None and uniform_sizes(mem, chain_spec(preds))
    for s in range(1, steps + 1):
        r = checked(solve_remat(cost, mem, preds, s + 2), g, s + 2)
        assert r.method == "chain_dp"
        assert r.objective == revolve_steps(steps, s) + 1
        assert r.recompute_cost == revolve_steps(steps, s) - (steps - 1)
    if steps >= 2:  # no snapshot besides the input: x_1 cannot be kept for its adjoint
        assert solve_remat(cost, mem, preds, 2).status == "infeasible"


def test_forty_layers_four_snapshots_is_68_extra_steps() -> None:
    layers, s = 40, 4
    g = revolve_chain(layers + 1)
    r = checked(solve_remat(*g, s + 2), g, s + 2)
    assert r.recompute_cost == revolve_steps(layers + 1, s) - layers == 68
    assert r.seconds < 2.0


@pytest.mark.parametrize("steps", [4, 6, 7])
def test_revolve_chain_full_space_search_agrees(steps: int) -> None:
    """The full-space search (which may also recompute gradients) finds T(l, s) + 1 too."""
    g = revolve_chain(steps)
    for s in range(1, steps + 1):
        r = checked(solve_search(*g, s + 2), g, s + 2)
        assert r.space == "full"
        assert r.objective == revolve_steps(steps, s) + 1


@pytest.mark.parametrize("layers", [6, 10])
def test_multilevel_is_at_most_single_level_on_revolve_chains(layers: int) -> None:
    """Single-level (checkpointing.py, budget s activations) >= T(L + 1, s) - L = ours."""
    p, unit = chain_problem(layers)
    fwd = [i for i, op in enumerate(p.nodes) if op.op_type == "Gemm" and op.phase == Phase.FORWARD]
    lat = float(p.costs.latency[fwd[0], 0])
    g = revolve_chain(layers + 1)
    gaps = []
    for s in range(1, layers + 1):
        single = round(solve_checkpointing(p, budget_bits=s * unit).objective / lat)
        multi = checked(solve_remat(*g, s + 2), g, s + 2).recompute_cost
        assert multi <= single
        gaps.append(single - multi)
    assert gaps[0] == 0 and gaps[-1] == 0  # s = 1 and store-all: single level is optimal
    if layers == 10:
        assert max(gaps) == 6  # s = 2: single level 20, multi-level 14


# --- 2. brute force over all schedules --------------------------------------------------


def budgets_for(mem: Sequence[float], preds) -> list[float]:
    """From below the largest single-step need (infeasible) up to store-all."""
    need = max(mem[i] + sum(mem[p] for p in preds[i]) for i in range(len(mem)))
    top = sum(mem)
    return sorted({need - 1, need, need + 1, (need + top) // 2, top})


@pytest.mark.parametrize("seed", range(24))
def test_search_equals_brute_force_on_random_training_dags(seed: int) -> None:
    g = random_training_dag(3 + seed % 2, seed=seed)
    cost, mem, preds = g
    statuses = set()
    for b in budgets_for(mem, preds):
        r = checked(solve_remat(cost, mem, preds, b), g, b)
        assert r.objective == brute_force(cost, mem, preds, b)
        statuses.add(r.status)
    assert statuses == {"optimal", "infeasible"}


@pytest.mark.parametrize("seed", range(8))
def test_chain_dp_equals_brute_force_on_uniform_chains(seed: int) -> None:
    rng = random.Random(100 + seed)
    for _ in range(3):
        g = random_chain(uniform=True, seed=rng)
        cost, mem, preds = g
        spec = chain_spec(preds)
        assert spec is not None and uniform_sizes(mem, spec)
        for b in range(int(sum(mem)) + 1):
            r = checked(solve_chain(cost, mem, preds, b), g, b)
            assert r.objective == brute_force(cost, mem, preds, b), (g, b)


def test_chain_dp_equals_search_on_many_uniform_chains() -> None:
    rng = random.Random(7)
    for _ in range(60):
        g = random_chain(uniform=True, seed=rng)
        for b in range(int(sum(g[1])) + 1):
            assert solve_chain(*g, b).objective == solve_search(*g, b).objective


def test_nested_space_can_lose_with_heterogeneous_sizes() -> None:
    """A stored f_1 launches f_2, is dropped for b_3 (larger gradients), recomputed later.

    The chain DP (nested schedules, f_1 kept until b_2) needs 39; the full space 38.
    ``solve_remat`` does not use the DP on such chains.
    """
    cost = [1.0, 2.0, 3.0, 4.0, 5.0, 3.0, 5.0, 5.0, 1.0]
    mem = [1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 3.0, 2.0]
    preds = [[], [0], [1], [2], [3], [2, 4], [1, 5], [0, 6], [7]]
    g = (cost, mem, preds)
    spec = chain_spec(preds)
    assert spec is not None and not uniform_sizes(mem, spec)
    assert checked(solve_chain(*g, 7.0), g, 7.0).objective == 39.0
    assert brute_force(*g, 7.0) == 38.0
    r = checked(solve_remat(*g, 7.0), g, 7.0)
    assert (r.method, r.objective) == ("search", 38.0)
    # random heterogeneous chains: the DP is an upper bound, the search is exact
    rng = random.Random(3)
    for _ in range(10):
        h = random_chain(uniform=False, seed=rng)
        for b in range(int(sum(h[1])) + 1):
            exact = solve_remat(*h, b).objective
            assert exact == brute_force(*h, b)
            assert solve_chain(*h, b).objective >= exact


# --- 3. Checkmate -----------------------------------------------------------------------


@pytest.mark.parametrize("depth", [3, 4, 5])
def test_chain_equals_checkmate(depth: int) -> None:
    """Nested schedules are frontier-advancing, so on uniform chains both optima agree."""
    g = training_chain(depth)
    cost, mem, preds = g
    assert chain_spec(preds) is not None
    for b in range(3, 2 * depth + 1):
        r = checked(solve_remat(cost, mem, preds, b), g, b)
        cm = solve_checkmate(cost, mem, preds, b)
        assert cm.status in ("optimal", "infeasible")
        assert r.objective == cm.objective


@pytest.mark.parametrize("seed", range(5))
def test_at_most_checkmate_on_random_dags(seed: int) -> None:
    g = random_training_dag(seed=seed)
    cost, mem, preds = g
    for b in budgets_for(mem, preds)[1:4]:
        r = checked(solve_remat(cost, mem, preds, b), g, b)
        cm = solve_checkmate(cost, mem, preds, b)
        assert cm.status in ("optimal", "infeasible")
        assert r.objective <= cm.objective + 1e-9
        if cm.status == "optimal":
            assert r.objective == pytest.approx(cm.objective)  # equal on these instances


def frontier_advancing(schedule: Sequence[Op]) -> bool:
    """Whether the computations form Checkmate stages: stage t recomputes nodes < t in
    increasing index order, each once, then computes t for the first time."""
    seen: set[int] = set()
    stage: list[int] = []
    for op in schedule:
        if op.kind != "compute":
            continue
        stage.append(op.node)
        if op.node not in seen:
            if op.node != len(seen) or stage != sorted(set(stage)):
                return False
            seen.add(op.node)
            stage = []
    return not stage


def test_full_space_beats_frontier_advancing_stages() -> None:
    """Checkmate's stages recompute in index order; here no such schedule fits.

    The optimum recomputes 3, 4, 7 and then 1 before the first computation of 10:
    computing 1 first, as a stage must, would hold it across the others.
    """
    g = random_training_dag(6, seed=1)
    r = checked(solve_remat(*g, 17.0), g, 17.0)
    assert r.status == "optimal" and r.objective == 51.0
    assert not frontier_advancing(r.schedule)
    assert solve_checkmate(*g, 17.0).status == "infeasible"
    store_all = solve_remat(*g, sum(g[1]))
    assert frontier_advancing(store_all.schedule)


# --- API --------------------------------------------------------------------------------


def test_validate_schedule_rejects_bad_schedules() -> None:
    cost, mem, preds = revolve_chain(2)  # f1 f2 b3 b2 b1
    ok = solve_remat(cost, mem, preds, 4.0).schedule
    validate_schedule(ok, cost, mem, preds, 4.0)
    with pytest.raises(ValueError, match="over the budget"):
        validate_schedule(ok, cost, mem, preds, 2.0)
    with pytest.raises(ValueError, match="without inputs"):
        validate_schedule([Op("compute", 1)], cost, mem, preds, 9.0)
    with pytest.raises(ValueError, match="never computed"):
        validate_schedule([Op("compute", 0)], cost, mem, preds, 9.0)
    with pytest.raises(ValueError, match="not resident"):
        validate_schedule([Op("free", 0)], cost, mem, preds, 9.0)
    with pytest.raises(ValueError, match="already resident"):
        validate_schedule([Op("compute", 0), Op("compute", 0)], cost, mem, preds, 9.0)


def test_chain_spec_recognition() -> None:
    spec = chain_spec(revolve_chain(5)[2])
    assert spec is not None and (spec.steps, spec.n_forward) == (6, 5)
    assert not any(spec.reads_output)
    spec = chain_spec(training_chain(4)[2])
    assert spec is not None and (spec.steps, spec.n_forward) == (4, 4)
    assert all(spec.reads_output)
    assert chain_spec(random_training_dag(seed=0)[2]) is None
    assert chain_spec([[], [0], [0]]) is None  # b_1 does not read b_2
    with pytest.raises(ValueError, match="not a chain"):
        solve_remat(*random_training_dag(seed=0), 30.0, method="chain")


def test_fractional_sizes_and_bad_input() -> None:
    cost, mem, preds = revolve_chain(4)
    mem = [0.5 * m for m in mem]
    for s in range(1, 5):
        r = solve_remat(cost, mem, preds, 0.5 * (s + 2) + 0.1)
        assert r.objective == revolve_steps(4, s) + 1
    with pytest.raises(ValueError, match="predecessors"):
        solve_remat([1.0, 1.0], [1.0, 1.0], [[1], []], 2.0)
    with pytest.raises(ValueError, match="unknown method"):
        solve_remat(cost, mem, preds, 9.0, method="milp")


# ---------------------------------------------------------------------------------------
# chain of blocks (solve_blocks) and Problem training graphs


@pytest.mark.parametrize("steps", [3, 5, 7])
def test_blocks_of_single_layers_equal_chain_dp(steps: int) -> None:
    cost, mem, preds = revolve_chain(steps)
    fi, bi = (lambda i: i - 1), (lambda i: 2 * steps + 1 - i)
    fwd = [[fi(k)] for k in range(1, steps + 1)]
    bwd = [[bi(k)] for k in range(1, steps + 1)]
    bwd[-1].append(bi(steps + 1))
    bc = make_blocks(preds, fwd, bwd)
    for s in range(1, steps + 1):
        r = checked(solve_blocks(cost, mem, preds, s + 2, bc), (cost, mem, preds), s + 2)
        assert r.space == "block_nested"
        assert r.objective == solve_chain(cost, mem, preds, s + 2).objective
        assert r.objective == revolve_steps(steps, s) + 1


def test_blocks_never_below_full_search_and_often_equal() -> None:
    rng = random.Random(7)
    equal = total = 0
    for _ in range(12):
        g, fwd, bwd = random_block_chain(rng.choice([2, 3]), seed=rng)
        cost, mem, preds = g
        bc = make_blocks(preds, fwd, bwd)
        for b in budgets_for(mem, preds)[::2]:
            full = checked(solve_search(cost, mem, preds, b), g, b)
            blk = checked(solve_blocks(cost, mem, preds, b, bc), g, b)
            if full.status == "infeasible":
                assert blk.status == "infeasible"
                continue
            assert blk.objective >= full.objective - 1e-9
            total += 1
            equal += blk.objective == full.objective
        # store-all budget: a recorded advance per block reaches zero recompute
        b = float(sum(mem))
        assert checked(solve_blocks(cost, mem, preds, b, bc), g, b).objective == sum(cost)
    assert total and equal / total > 0.5


def test_blocks_equal_full_search_when_the_full_optimum_is_block_nested() -> None:
    """On a chain of single-op blocks whose sizes are uniform the full optimum is
    nested (chain DP tests), so the block DP must reach it."""
    rng = random.Random(3)
    for _ in range(10):
        cost, mem, preds = random_chain(uniform=True, seed=rng)
        spec = chain_spec(preds)
        assert spec is not None
        if spec.n_forward < spec.steps:
            continue
        fwd = [[spec.forward_index(k)] for k in range(1, spec.n_forward + 1)]
        bwd = [[spec.backward_index(k)] for k in range(1, spec.steps + 1)]
        bc = make_blocks(preds, fwd, bwd)
        for b in budgets_for(mem, preds):
            full = solve_search(cost, mem, preds, b)
            blk = checked(solve_blocks(cost, mem, preds, b, bc), (cost, mem, preds), b)
            assert blk.objective == full.objective


def test_block_dp_record_options_nest() -> None:
    """More recorded advances, larger space: subsets <= all <= none."""
    rng = random.Random(11)
    for _ in range(6):
        g, fwd, bwd = random_block_chain(3, seed=rng)
        cost, mem, preds = g
        bc = make_blocks(preds, fwd, bwd)
        for b in budgets_for(mem, preds)[::2]:
            v = [
                checked(solve_blocks(cost, mem, preds, b, bc, record=r), g, b).objective
                for r in ("subsets", "all", "none")
            ]
            assert v[0] <= v[1] <= v[2]


def test_make_blocks_rejects_bad_partitions() -> None:
    (cost, mem, preds), fwd, bwd = random_block_chain(3, seed=1)
    with pytest.raises(ValueError):
        make_blocks(preds, fwd, bwd[::-1])
    with pytest.raises(ValueError):
        make_blocks(preds, [fwd[0] + fwd[1], fwd[2]], [bwd[0], bwd[1] + bwd[2]][:1] + [[]])


@pytest.fixture(scope="module")
def resnet_graph():
    from monet_opt.api import load
    from monet_opt.heuristics.allocation import greedy_decision

    p = load("examples/resnet18_cifar_edge.yaml").problem
    return p, from_problem(p, greedy_decision(p).allocation)


def test_from_problem_resnet18(resnet_graph) -> None:
    from monet_opt.models.ir import Phase

    p, tg = resnet_graph
    n_train = sum(op.phase != Phase.OPTIMIZER for op in p.nodes)
    assert len(tg.cost) == n_train == 107
    assert all(c > 0 for c in tg.cost)
    # forward activations and gradients counted, weight gradients not read
    i = tg.names.index("layer1.0.conv1")
    assert tg.mem[i] == 4194304.0 and tg.preds[i] == (tg.names.index("conv1"),)
    bc = tg.blocks()
    # stem, 8 basic blocks ending at their last ReLU, avgpool, fc, loss
    assert bc.n_blocks == 12
    assert [tg.names[x] for x in bc.outputs[1:9]] == [
        f"layer{i}.{j}.relu_1" for i in range(1, 5) for j in range(2)
    ]
    big = float(sum(tg.mem))
    r = checked(solve_blocks(tg.cost, tg.mem, tg.preds, big, bc), (tg.cost, tg.mem, tg.preds), big)
    assert r.recompute_cost == 0.0
    tight = 2.5 * 8 * 2**20
    r = solve_blocks(tg.cost, tg.mem, tg.preds, tight, bc)
    checked(r, (tg.cost, tg.mem, tg.preds), tight)
    assert r.status == "optimal" and r.recompute_cost > 0
    assert solve_blocks(tg.cost, tg.mem, tg.preds, tight - 8 * 2**20 / 64, bc).status == (
        "infeasible"
    )


def test_single_level_schedule_is_valid_and_matches_monet_costs(resnet_graph) -> None:
    _, tg = resnet_graph
    g = (tg.cost, tg.mem, tg.preds)
    big = float(sum(tg.mem))
    fwd = [i for i in range(len(tg.cost)) if tg.is_forward[i]]
    store_all = validate_schedule(single_level_schedule(tg.preds, tg.is_forward, fwd), *g, big)
    assert store_all.objective == pytest.approx(sum(tg.cost))
    none = validate_schedule(single_level_schedule(tg.preds, tg.is_forward, ()), *g, big)
    assert none.objective > store_all.objective
    assert none.peak_memory < store_all.peak_memory
