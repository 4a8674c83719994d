r"""Exact layer fusion under memory capacities (logic-based Benders, HiGHS).

Under the capacity semantics of :mod:`monet_opt.schedule.memory` a fused stack changes
which working sets are co-resident, which tensors move as tiles, what the default policy
spills and when prefetches find room; none of that is linear in the fusion binaries.  The
fusion MILP of :mod:`monet_opt.formulations.fusion` models the schedule without
capacities, so under them its answer is only a candidate.  This module finds the best
stacking *with* capacities, and proves it, by logic-based Benders decomposition (Hooker
and Ottosson, "Logic-based Benders decomposition", Mathematical Programming 96, 2003):
the evaluator is the subproblem, a MILP over the fusion binaries the master.

Space
-----
For the fixed allocation, program order :math:`\pi` and keep set: every cut vector
:math:`u` (consecutive original nodes of :math:`\pi` fused when :math:`u_k = 1`) with
stacks of at most :math:`L` nodes, simulated with the default placement policy
(weights that do not fit with the rest of a stack re-streamed per tile); a stacking whose
schedule overflows a memory is infeasible.  A stack whose members' working sets cannot
fit together is excluded up front (``_stack_fit_rows``), which removes no fitting
stacking.  :math:`V(u)` is its
simulated makespan (or energy); the answer is :math:`\min_u V(u)`.

Master
------
The fusion MILP's :math:`u_k`, :math:`z_e` (edge inside a stack) and stack-length rows,
the stack-fit rows, node times :math:`S_i, E_i` and :math:`\eta`, minimized, with the
rules every capacity schedule obeys (``_master_time_rows``):

.. math::

   E_i \ge S_i + d_i, \qquad \eta \ge E_i,

   S_q \ge E_p - M z_e,\quad S_q \ge S_p + d_p/\tau,\quad E_q \ge E_p + d_q/\tau
   \quad (\text{fusable } p \to q), \qquad S_q \ge E_p \ (\text{other edges}),

   S_i \ge E_{i'} - M z_{i'i} \quad (i' \text{ the node before } i \text{ on its core}),

   \eta \ge \textstyle\sum_{i \text{ on } c} d_i \ \forall c, \qquad
   \eta \ge \kappa\, U

(:math:`d_i` cycles on the allocated core, :math:`\tau` tiles, :math:`\kappa U` the DRAM
cycles of the traffic no decision removes); for energy :math:`\eta \ge \sum_i e_i + U_r r
+ U_w w`.  The evaluator's times satisfy each row (a node's fetch phase, the DMA tasks,
the gates and the same-core tile interleaving only add), so :math:`\eta \le V(u)` at the
least times.

Cuts and why it is exact
------------------------
For an evaluated :math:`u^*` with value :math:`V^*` the cut
:math:`\eta \ge V^* (1 - H(u))`, :math:`H(u) = \sum_{k: u^*_k = 1} (1 - u_k) + \sum_{k:
u^*_k = 0} u_k`, holds at :math:`u^*` and is void elsewhere; an infeasible :math:`u^*` gets
:math:`H(u) \ge 1`.  Every master row holds at every :math:`u` of the space with
:math:`\eta = V(u)`, so the master's optimum (its dual bound at a time limit) is a lower
bound over the whole space; the incumbent is the best evaluated :math:`u`, and the loop
ends when the master proposes an evaluated :math:`u` (its bound is then that
:math:`u`'s value, at most the incumbent) or is infeasible.  Tests: equal to brute force
over all cut vectors on random instances where capacity binds.

The master's bound is strong where compute and dependencies decide the makespan; where
the DRAM port does (large training steps on small chips), it is the port bound for every
stacking and the loop evaluates candidates in the master's order until the time limit,
reporting the gap.  The first candidates evaluated are the warm start, the greedy
(DeFiNES/Stream) stacks, layer by layer and the capacity-blind fusion MILP's answer split
until it fits.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import replace

from monet_opt.formulations._builder import Affine, ModelBuilder, solve_model
from monet_opt.formulations.benders import run_benders
from monet_opt.formulations.bounds import unavoidable_dram_bits
from monet_opt.formulations.fusion import (
    _edge_inside_rows,
    _fusion_inputs,
    _Inputs,
    _stack_length_rows,
    solve_fusion,
    stack_names,
    stacks_of_cuts,
)
from monet_opt.formulations.joint_bound import node_tables
from monet_opt.formulations.options import Deadline, SolverOptions
from monet_opt.formulations.result import SolveResult
from monet_opt.heuristics.allocation import greedy_decision
from monet_opt.heuristics.stacks import fit_stacks, greedy_stacks
from monet_opt.schedule.evaluator import evaluate_metrics
from monet_opt.schedule.memory import memory_model
from monet_opt.schedule.problem import Problem
from monet_opt.schedule.types import Decision

__all__ = ["solve_fusion_capacity", "stacks_of", "cuts_of"]

OBJECTIVES = ("latency", "energy")


def stacks_of(inp: _Inputs, on: frozenset[int]) -> tuple[tuple[int, ...], ...]:
    """Stacks (base node indices) of the cut vector whose fused pairs are ``on``."""
    return stacks_of_cuts(inp.real, on)


def cuts_of(inp: _Inputs, stacks: Sequence[Sequence[int]]) -> frozenset[int] | None:
    """The fused pairs of ``stacks`` (``None`` when a stack is not a run of consecutive
    original nodes of π)."""
    k_of = {inp.real.origin[d]: k for k, d in enumerate(inp.base)}
    on: set[int] = set()
    for st in stacks:
        ks = sorted(k_of.get(int(i), -1) for i in st)
        if len(ks) < 2:
            continue
        if ks[0] < 0 or ks != list(range(ks[0], ks[0] + len(ks))):
            return None
        on.update(ks[:-1])
    return frozenset(on)


def _stack_fit_rows(
    mb: ModelBuilder,
    inp: _Inputs,
    u: dict[int, int],
    problem: Problem,
    alloc: Sequence[int],
    max_stack: int,
) -> None:
    r"""Forbid exactly the stacks whose members' working sets do not fit their memories
    together (:meth:`~monet_opt.schedule.memory.MemoryModel.group_fits`, a necessary
    condition of fitting): for such a run :math:`[s, t]` of π,
    :math:`\sum_{k=s}^{t-1} u_k - u_{s-1} - u_t \le t - s - 1` (it may still be part
    of a longer stack, which is checked on its own)."""
    mm = memory_model(problem)
    cidx = [problem.core_ids.index(int(a)) for a in alloc]
    nb = len(inp.base)
    for s0 in range(nb - 1):
        for t in range(s0 + 1, min(nb, s0 + max_stack)):
            members = [inp.real.origin[inp.base[j]] for j in range(s0, t + 1)]
            if mm.group_fits(members, cidx):
                continue
            lhs = Affine.total(Affine.of(u[k]) for k in range(s0, t))
            if s0 > 0:
                lhs = lhs - Affine.of(u[s0 - 1])
            if t < nb - 1:
                lhs = lhs - Affine.of(u[t])
            mb.le(lhs, t - s0 - 1)


def _master_time_rows(
    mb: ModelBuilder, inp: _Inputs, z: dict[tuple[int, int], int], eta: int, big_m: float
) -> None:
    """The time rows of the module docstring (*Master*)."""
    n = inp.problem.n_nodes
    tiles = float(inp.problem.tiles)
    S = [mb.var(f"S[{i}]", 0.0, big_m) for i in range(n)]
    E = [mb.var(f"E[{i}]", 0.0, big_m) for i in range(n)]
    for i in range(n):
        mb.ge(Affine.of(E[i]) - Affine.of(S[i]), float(inp.lat[i]))
        mb.ge(Affine.of(eta), Affine.of(E[i]))
    seen: set[tuple[int, int]] = set()
    for e in inp.problem.edges:
        p, q = e.src, e.dst
        if (p, q) in seen:
            continue
        seen.add((p, q))
        if (p, q) in z:
            mb.ge(Affine.of(S[q]), Affine.of(E[p]) - big_m * Affine.of(z[p, q]))
            mb.ge(Affine.of(S[q]), Affine.of(S[p]) + float(inp.lat[p]) / tiles)
            mb.ge(Affine.of(E[q]), Affine.of(E[p]) + float(inp.lat[q]) / tiles)
        else:
            mb.ge(Affine.of(S[q]), Affine.of(E[p]))
    last_on: dict[int, int] = {}
    for i, c in enumerate(inp.core):  # derived nodes are in program order
        if c in last_on:
            prev = last_on[c]
            relax = big_m * Affine.of(z[prev, i]) if (prev, i) in z else 0.0
            mb.ge(Affine.of(S[i]), Affine.of(E[prev]) - relax)
        last_on[c] = i


def _bound_rows(
    mb: ModelBuilder, inp: _Inputs, eta: int, objective: str, problem: Problem
) -> float:
    """:math:`\\eta` ≥ each core's work and the DRAM port's compulsory traffic (or the
    energy): per node on its core, its duration with in-node streams and its unavoidable
    and streamed DRAM bits (:func:`~monet_opt.formulations.joint_bound.node_tables`, which
    no stacking changes).  Returns the largest of these constants: a bound of every
    stacking even when the master never runs."""
    pb = inp.problem
    c = pb.costs
    u_r, u_w = unavoidable_dram_bits(pb)
    if objective == "latency":
        # tables of the base problem under capacities, read through each derived node's
        # original (recompute copies run the same mapping; their traffic only adds)
        dur, port = node_tables(problem, fusion=True)
        origin = inp.real.origin
        best = 0.0
        for core in sorted(set(inp.core)):
            load = sum(
                max(float(inp.lat[i]), float(dur[origin[i], cc]))
                for i, cc in enumerate(inp.core)
                if cc == core
            )
            mb.ge(Affine.of(eta), load)
            best = max(best, load)
        firsts = {o: inp.core[i] for i, o in reversed(list(enumerate(origin)))}
        dram = float(sum(port[o, cc] for o, cc in firsts.items()))
        mb.ge(Affine.of(eta), dram)
        return max(best, dram)
    e = sum(float(c.energy[i, inp.core[i]]) for i in range(pb.n_nodes))
    e += u_r * c.dram_read_pj_per_bit + u_w * c.dram_write_pj_per_bit
    mb.ge(Affine.of(eta), e)
    return e


def solve_fusion_capacity(
    problem: Problem,
    fixed: Decision | None = None,
    objective: str = "latency",
    options: SolverOptions | None = None,
    warm_start: Decision | None = None,
    *,
    max_stack: int = 8,
    candidate: bool = True,
) -> SolveResult:
    """Optimal layer stacks under memory capacities (module docstring).

    Parameters
    ----------
    problem
        The base problem, under ``schedule.memory: capacity``.
    fixed
        ``allocation`` (empty: greedy), ``priority`` (π) and ``checkpoints`` are fixed;
        ``stacks`` and ``placement`` are ignored (the default policy places).
    objective
        ``"latency"`` (makespan, cycles) or ``"energy"`` (pJ).
    options
        HiGHS options; ``time_limit`` covers the whole call.
    warm_start
        A decision whose stacks are evaluated first.
    max_stack
        Most nodes in one stack (:math:`L`).
    candidate
        Also evaluate the capacity-blind fusion MILP's answer, split until it fits (a
        quarter of the time limit at most).

    Returns
    -------
    SolveResult
        ``formulation="fusion"``, ``method="milp-benders"``; ``bound`` is valid over the
        whole space; ``extra`` holds the stacks and ``stackings_evaluated``.

    Raises
    ------
    ValueError
        Without the capacity semantics, on an unknown objective or ``max_stack < 2``.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    if problem.memory != "capacity":
        raise ValueError("solve_fusion_capacity needs schedule.memory: capacity")
    if max_stack < 2:
        raise ValueError(f"max_stack must be >= 2, got {max_stack}")
    opts = options or SolverOptions()
    deadline = Deadline(opts.time_limit)
    t0 = time.perf_counter()
    fx = fixed or Decision(())
    alloc = tuple(fx.allocation) or greedy_decision(problem).allocation
    prio = None if fx.priority is None else tuple(float(x) for x in fx.priority)
    ck = fx.checkpoints
    inp = _fusion_inputs(problem.unbounded, alloc, prio, ck)
    mb = ModelBuilder()
    u = {k: mb.binary(f"u[{k}]") for k in range(len(inp.base) - 1)}
    _stack_length_rows(mb, u, max_stack)
    z = _edge_inside_rows(mb, inp, u, max_stack)
    _stack_fit_rows(mb, inp, u, problem, alloc, max_stack)
    eta = mb.var("eta", 0.0, math.inf)
    big_m = float(inp.lat.sum()) + 1.0  # no node starts later in the least times
    _master_time_rows(mb, inp, z, eta, big_m)
    compulsory = _bound_rows(mb, inp, eta, objective, problem)
    mb.minimize(Affine.of(eta))
    build = time.perf_counter() - t0

    def evaluate_cut(on: frozenset[int]) -> tuple[float, float]:
        m = evaluate_metrics(problem, Decision(alloc, prio, stacks_of(inp, on), ck))
        v = m.value(objective) if m.memory_overflow == 0 and m.stack_overflow == 0 else math.inf
        return v, v

    def in_space(on: frozenset[int] | None) -> bool:
        if on is not None and not on:  # layer by layer: always in the space
            return True
        if on is None or any(k not in u for k in on) or deadline.expired:
            return False
        h = mb.to_highs({"time_limit": max(min(5.0, deadline.remaining()), 1e-3)})
        for k, c in u.items():
            v = 1.0 if k in on else 0.0
            h.changeColBounds(c, v, v)
        return solve_model(h).has_solution

    starts: list[frozenset[int] | None] = []
    if warm_start is not None:
        starts.append(cuts_of(inp, warm_start.stacks))
    starts.append(cuts_of(inp, greedy_stacks(problem, alloc, prio, max_stack, ck)))
    starts.append(frozenset())
    solve_s = 0.0
    if candidate:
        fu = solve_fusion(problem, Decision(alloc, prio, (), ck), objective,
                          opts.with_time(deadline.share(4)), max_stack=max_stack)  # fmt: skip
        solve_s += fu.solve_seconds
        starts.append(cuts_of(inp, fit_stacks(problem, fu.decision).stacks))
    run = run_benders(
        mb,
        eta,
        u,
        evaluate_cut,
        [on for on in starts if in_space(on)],
        opts,
        deadline,
    )
    solve_s += run.solve_seconds
    bound = run.bound
    found = run.best is not None
    dec = Decision(alloc, prio, stacks_of(inp, run.best or frozenset()), ck)  # type: ignore[arg-type]
    if found:
        status = "optimal" if bound >= run.value * (1 - opts.mip_gap) else "iterated"
    else:  # no stacking fits, layer by layer included: the decision is only a reference
        status = "infeasible" if bound == math.inf else "time_limit"
    res = SolveResult.build(
        problem,
        formulation="fusion",
        objective_name=objective,
        decision=dec,
        simulated_of=objective if found else (lambda _s: math.inf),
        milp_objective=run.value if found else None,
        milp_bound=bound,
        solver_status=status,
        infeasible=not found and bound == math.inf,
        mip_gap=opts.mip_gap,
        scope=(
            "layer stacks of at most max_stack nodes that fit, for the fixed allocation, "
            "program order π and checkpoints, with the default placement policy"
        ),
        n_vars=mb.n_vars,
        n_cons=mb.n_cons,
        n_binaries=len(u),
        build_seconds=build,
        solve_seconds=solve_s,
        extra={"tiles": problem.tiles, "max_stack": max_stack},
        extra_bounds={"compulsory": compulsory},
        models_capacity=True,
        method="milp-benders",
    )
    sched = res.schedule
    return replace(
        res,
        extra={
            **res.extra,
            "stacks": stack_names(problem, dec.stacks),
            "stack_overflow": int(sched.stats["stack_overflow"]),
            "stackings_evaluated": len(run.evaluated),
            "master_solves": run.master_solves,
        },
    )
