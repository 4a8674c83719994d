r"""Keep on chip, store in DRAM or recompute: each training activation's place, decided
exactly by makespan or energy (logic-based Benders, HiGHS).

A forward activation :math:`a \in A` read by the backward pass has three places (POET,
Patil et al., ICML 2022: "paging" and "rematerialization"; torchtitan's memory planner):
kept in its producer's memory, stored in DRAM (written and read back over the shared
DRAM port), or dropped and **recomputed** before its first backward reader.  The drop
decision is the keep set :math:`K` of :mod:`monet_opt.formulations.checkpointing`; for a
keep set, on chip or DRAM is the spill decision of
:mod:`monet_opt.formulations.placement` (which also places every other tensor).  The
checkpointing MILP alone minimizes the recompute work under the footprint budget and
cannot see what recomputing saves on a busy DRAM port or in a full SRAM; this module
minimizes the simulated makespan (or energy) of the pair.

Space
-----
For the fixed allocation, program order :math:`\pi` and layer-by-layer execution: every
keep set :math:`K \subseteq A` whose activation footprint :math:`F(K)` meets the budget
:math:`B`, and for each, every spill set of the placement MILP's space around the default
policy's placement of :math:`K`'s derived problem, that fits every memory.  Let
:math:`V(K)` be the best simulated objective over those spill sets (``inf`` when none
fits); the answer is :math:`\min_K V(K)`.

Master (MILP over :math:`K`)
----------------------------
The keep-set columns and rows of the checkpointing MILP (:func:`~monet_opt.formulations.
checkpointing.keep_set_rows`: :math:`k_a` binary, :math:`y_{ao}` the recompute copies
:math:`R_K(a)`, :math:`F \le B`) and a column :math:`\eta`, minimized, with

.. math::

   \eta \ge \sum_{i:\ c(i) = c} d_i + \sum_{(a, o):\ c(o) = c} d_o\, y_{ao}
   \quad \forall c \qquad \text{(each core runs its nodes and copies one at a time)}

   \eta \ge \kappa \Big(U + \sum_{(a, o)} \beta_o\, y_{ao}\Big)
   \qquad \text{(the DRAM port: unavoidable traffic and the copies' weight reads)}

for latency (:math:`d` cycles on the allocated core, :math:`\kappa` DRAM cycles per bit,
:math:`U` the bits no decision removes, :func:`~monet_opt.formulations.bounds.
unavoidable_dram_bits`, :math:`\beta_o` the bits node :math:`o` reads from DRAM other
than its data inputs), or for energy
:math:`\eta \ge \sum_i e_i + \sum_{(a,o)} (e_o + \beta_o r)\, y_{ao} + U_r r + U_w w`
(:math:`e` compute pJ on the allocated core, :math:`r, w` DRAM pJ per bit read and
written).  Each right-hand side is a lower bound of :math:`V(K)` at the least :math:`y`.

Subproblem and cuts
-------------------
For the master's :math:`K^*` the placement MILP gives :math:`V(K^*)` and a valid lower
bound :math:`\lambda \le V(K^*)` (equal when it proves optimality).  With the Hamming
distance :math:`H(k) = \sum_{a \in K^*} (1 - k_a) + \sum_{a \notin K^*} k_a` the cut

.. math::

   \eta \ge \lambda\,(1 - H(k))

holds at :math:`K^*` and is void elsewhere (:math:`H \ge 1`); a :math:`K^*` with no fitting
spill set gets :math:`H(k) \ge 1`.

Why it is exact
---------------
Every row of the master holds at every feasible :math:`K` with :math:`\eta = V(K)`, so
the master's optimum (its dual bound at a time limit) is a lower bound of
:math:`\min_K V(K)` over the whole space; every proposed :math:`K^*` is evaluated
exactly and the incumbent is the best evaluated pair.  The master cannot propose an
evaluated :math:`K^*` again unless its value there is :math:`\lambda(K^*)`; the loop then
stops with the bound :math:`\min(\text{incumbent}, \lambda)`, and when every
subproblem was solved to optimality the answer is optimal (tests: equal to brute force
over every keep set × every spill set on random instances where capacity binds).  The
space is finite (:math:`2^{|A|}` keep sets), so the loop ends.  Scope: allocation,
:math:`\pi`, the default policy's DMA windows per keep set and layer-by-layer execution
are inputs; the joint solver alternates this block with the capacity allocation MILP.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from monet_opt.formulations._builder import Affine, ModelBuilder, solve_model
from monet_opt.formulations.benders import run_benders
from monet_opt.formulations.bounds import unavoidable_dram_bits
from monet_opt.formulations.checkpointing import KeepSetColumns, keep_set_rows
from monet_opt.formulations.options import Deadline, SolverOptions
from monet_opt.formulations.placement import solve_placement
from monet_opt.formulations.result import SolveResult
from monet_opt.heuristics.allocation import greedy_decision
from monet_opt.schedule.evaluator import evaluate_metrics
from monet_opt.schedule.problem import Problem
from monet_opt.schedule.types import Decision
from monet_opt.units import within

__all__ = ["solve_remat_placement", "master_lower_bound"]

OBJECTIVES = ("latency", "energy")


@dataclass(frozen=True)
class _Master:
    """The master MILP: keep-set columns, :math:`\\eta` and its lower-bound rows."""

    mb: ModelBuilder
    cols: KeepSetColumns
    eta: int


def _extra_reads(problem: Problem) -> np.ndarray:
    """:math:`\\beta_o`: bits node ``o`` reads from DRAM other than its data inputs."""
    g = problem.graph
    edge_t: list[set[str]] = [set() for _ in range(problem.n_nodes)]
    for e in problem.edges:
        edge_t[e.dst].add(e.tensor)
    return np.array(
        [
            sum(g.tensors[t].bits for t in problem.dram_read_tensors[i] if t not in edge_t[i])
            for i in range(problem.n_nodes)
        ]
    )


def _bound_rows(
    mb: ModelBuilder, cols: KeepSetColumns, problem: Problem, cidx: Sequence[int], objective: str
) -> int:
    """Add :math:`\\eta` and its rows (module docstring, *Master*); returns its column."""
    c = problem.costs
    eta = mb.var("eta", 0.0, math.inf)
    beta = _extra_reads(problem)
    u_r, u_w = unavoidable_dram_bits(problem)
    n = problem.n_nodes
    if objective == "latency":
        for core in sorted(set(cidx)):
            const = float(sum(c.latency[i, core] for i in range(n) if cidx[i] == core))
            copies = Affine.total(
                Affine.of(col, float(c.latency[o, core]))
                for (_, o), col in cols.y.items()
                if cidx[o] == core
            )
            mb.ge(Affine.of(eta) - copies, const)
        k = c.dram_cycles_per_bit
        port = Affine.total(Affine.of(col, k * float(beta[o])) for (_, o), col in cols.y.items())
        mb.ge(Affine.of(eta) - port, k * (u_r + u_w))
    else:
        r, w = c.dram_read_pj_per_bit, c.dram_write_pj_per_bit
        const = float(sum(c.energy[i, cidx[i]] for i in range(n))) + u_r * r + u_w * w
        copies = Affine.total(
            Affine.of(col, float(c.energy[o, cidx[o]]) + float(beta[o]) * r)
            for (_, o), col in cols.y.items()
        )
        mb.ge(Affine.of(eta) - copies, const)
    mb.minimize(Affine.of(eta))
    return eta


def _master(
    problem: Problem,
    alloc: Sequence[int],
    priority: Sequence[float] | None,
    objective: str,
    budget_bits: float,
) -> _Master:
    mb = ModelBuilder()
    cols = keep_set_rows(mb, problem.unbounded, alloc, priority, (), "latency", budget_bits)
    cidx = [problem.core_ids.index(int(a)) for a in alloc]
    eta = _bound_rows(mb, cols, problem, cidx, objective)
    return _Master(mb, cols, eta)


def master_lower_bound(
    problem: Problem,
    allocation: Sequence[int],
    kept: frozenset[str],
    objective: str = "latency",
    priority: Sequence[float] | None = None,
) -> float:
    """The master's lower bound of :math:`V(K)` at one keep set (cycles or pJ): the
    master with :math:`k` fixed to ``kept`` and no cut (tests check it never exceeds a
    simulated value)."""
    m = _master(problem, allocation, priority, objective, math.inf)
    for a, col in m.cols.keep.items():
        v = 1.0 if a in kept else 0.0
        m.mb.add(Affine.of(col), v, v)
    st = solve_model(m.mb.to_highs({"mip_rel_gap": 1e-9}))
    return float(st.objective)


def _start_sets(
    problem: Problem, warm_start: Decision | None, budget_ok: Callable[[frozenset[str]], bool]
) -> list[frozenset[str]]:
    """Keep sets evaluated before the first master solve: the warm start's, store-all
    and keep-none, those within the budget."""
    cands = frozenset(problem.checkpoint_tensors)
    out: list[frozenset[str]] = []
    if warm_start is not None:
        ws = warm_start.checkpoints
        out.append(cands if ws is None else frozenset(ws) & cands)
    out += [cands, frozenset()]
    seen: list[frozenset[str]] = []
    for k in out:
        if k not in seen and budget_ok(k):
            seen.append(k)
    return seen


def solve_remat_placement(
    problem: Problem,
    fixed: Decision | None = None,
    objective: str = "latency",
    options: SolverOptions | None = None,
    warm_start: Decision | None = None,
    *,
    budget_bits: float | None = None,
) -> SolveResult:
    """Best keep set and placement (module docstring) for a fixed allocation and π.

    Parameters
    ----------
    problem
        The base problem, under ``schedule.memory: capacity``.
    fixed
        ``allocation`` (empty: greedy) and ``priority`` (π) are fixed; ``stacks`` must be
        empty; ``checkpoints`` and ``placement`` are decided.
    objective
        ``"latency"`` (makespan, cycles) or ``"energy"`` (pJ).
    options
        HiGHS options; ``time_limit`` covers the whole call (master and subproblems).
    warm_start
        A decision whose keep set is evaluated first (e.g. the checkpointing MILP's).
    budget_bits
        Activation footprint budget in bits (``None``: no limit).

    Returns
    -------
    SolveResult
        ``formulation="remat_placement"``; ``decision`` carries the keep set and a
        complete placement; ``bound`` is valid for the whole space; ``extra`` holds
        ``kept``, ``recomputed`` and ``keep_sets_evaluated``.  When no keep set's
        placement fits, ``status`` is ``infeasible`` (proven) or ``no_solution`` (time
        limit) and ``decision`` is the start, for reference.

    Raises
    ------
    ValueError
        Without the capacity semantics, with fused stacks or on an unknown objective.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    if problem.memory != "capacity":
        raise ValueError("keep / DRAM / recompute placement needs schedule.memory: capacity")
    fx = fixed or Decision(())
    if fx.stacks:
        raise ValueError("keep / DRAM / recompute placement handles layer by layer only")
    opts = options or SolverOptions()
    deadline = Deadline(opts.time_limit)
    t0 = time.perf_counter()
    alloc = tuple(fx.allocation) or greedy_decision(problem).allocation
    budget = math.inf if budget_bits is None else float(budget_bits)
    master = _master(problem, alloc, fx.priority, objective, budget)
    build = time.perf_counter() - t0

    def budget_ok(kept: frozenset[str]) -> bool:
        m = evaluate_metrics(problem, Decision(alloc, fx.priority, (), kept))
        return not math.isfinite(budget) or within(m.peak_footprint_bits, budget)

    subs: dict[frozenset[str], SolveResult] = {}
    n_vars, n_cons = master.mb.n_vars, master.mb.n_cons

    def evaluate_set(kept: frozenset[str]) -> tuple[float, float]:
        nonlocal n_vars, n_cons
        sub = solve_placement(
            problem,
            Decision(alloc, fx.priority, (), kept),
            objective,
            opts.with_time(max(deadline.share(2), 1e-3)),
        )
        subs[kept] = sub
        n_vars, n_cons = n_vars + sub.n_vars, n_cons + sub.n_cons
        if sub.solver_status == "infeasible":
            return math.inf, math.inf
        fits = evaluate_metrics(problem, sub.decision).memory_overflow == 0
        return (sub.simulated if fits else math.inf), sub.bound

    run = run_benders(
        master.mb,
        master.eta,
        master.cols.keep,
        evaluate_set,  # type: ignore[arg-type]
        _start_sets(problem, warm_start, budget_ok),
        opts,
        deadline,
    )
    bound = run.bound
    solve_s = run.solve_seconds + sum(x.solve_seconds for x in subs.values())
    cands = problem.checkpoint_tensors
    if run.best is None:  # no keep set's placement fits (proven when the bound is inf)
        return SolveResult.build(
            problem,
            formulation="remat_placement",
            objective_name=objective,
            decision=Decision(alloc, fx.priority, (), fx.checkpoints),
            simulated_of=lambda _s: math.inf,  # no answer: the start is only a reference
            milp_objective=None,
            milp_bound=bound,
            solver_status="infeasible" if bound == math.inf else "time_limit",
            mip_gap=opts.mip_gap,
            scope="keep sets within the footprint budget whose placement fits every memory",
            infeasible=bound == math.inf,
            solve_seconds=solve_s,
            extra={"keep_sets_evaluated": len(run.evaluated), "budget_bits": budget_bits},
            models_capacity=True,
            method="milp-benders",
        )
    best = subs[run.best]  # type: ignore[index]
    dec = best.decision
    kept = dec.checkpoints if dec.checkpoints is not None else frozenset(cands)
    return SolveResult.build(
        problem,
        formulation="remat_placement",
        objective_name=objective,
        decision=dec,
        simulated_of=objective,
        milp_objective=best.simulated,
        milp_bound=bound,
        solver_status="optimal" if bound >= best.simulated * (1 - opts.mip_gap) else "iterated",
        mip_gap=opts.mip_gap,
        scope=(
            "keep on chip / store in DRAM / recompute per checkpoint candidate (keep sets "
            "within the footprint budget × spill sets of the placement MILP's space) for "
            "the fixed allocation and program order π"
        ),
        n_vars=n_vars,
        n_cons=n_cons,
        n_binaries=len(master.cols.keep),
        build_seconds=build,
        solve_seconds=solve_s,
        extra={
            "kept": sorted(kept),
            "recomputed": [a for a in cands if a not in kept],
            "keep_sets_evaluated": len(run.evaluated),
            "budget_bits": budget_bits,
        },
        models_capacity=True,
        method="milp-benders",
    )
