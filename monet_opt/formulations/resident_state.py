r"""Resident training state: which weights keep their state on chip across steps.

A post-step after the joint solve (like :mod:`monet_opt.formulations.remat_levels`):
the allocation, program order, stacks, checkpoints and placement of the given answer
are fixed; this step chooses the set :math:`R` of training-state groups
(:mod:`monet_opt.schedule.resident`: a weight and its optimizer state) kept resident.

Model
-----
Candidates :math:`G`: the groups whose touching nodes (every node of the simulated,
possibly derived, problem whose DMA tasks read or write a group tensor) all run on one
core :math:`c_g` (any other group cannot be resident under this allocation).  Per group:
its bits :math:`b_g` (weight and state inputs), the memory row :math:`r_g` (the ``I2``
memory of :math:`c_g`), and its saved DRAM port cycles
:math:`s_g = \text{cycles/bit} \cdot \sum_i` (bits of group tensors in node
:math:`i`'s read and write tasks).  With :math:`P_r` the per-memory **peak demand of the
re-simulated schedule without residency** and :math:`C_r` the capacity:

.. math::

    \max \sum_{g \in G} s_g x_g \quad \text{s.t.}\quad
    \sum_{g: r_g = r} b_g x_g \le C_r - P_r \;\; \forall r, \qquad
    \sum_{g: r_g = r} \beta_g x_g \le C^{tile}_r \;\; \forall r \text{ on a tile group},
    \qquad x \in \{0,1\}^{|G|},

(:math:`\beta_g` the bits one tile holds, :func:`~monet_opt.schedule.resident.per_tile_bits`,
:math:`C^{tile}_r` one tile's memory) solved by HiGHS.  Why the rows are safe: residency
only removes demand items of the other tensors (prefetch and write-back buffers of the
group tensors, working-set copies read in place) at the same positions, so with the
same placement the other demand stays below :math:`P_r` at every position, and the
permanent :math:`b_g` fits next to it.  The evaluator re-runs the placement policy,
though, so every answer is **re-simulated**; if a memory overflows, the exact no-good cut
:math:`\sum_{g \in R} x_g - \sum_{g \notin R} x_g \le |R| - 1` removes that set only and
HiGHS solves again, until the answer fits (the empty set always does).

What is exact: the answer maximizes the saved port cycles over the sets that satisfy the
rows above and fit when re-simulated (checked against enumeration of every subset in
``tests/formulations/test_resident_state.py``).  It is **not** a proof of the smallest
step latency: saved port cycles are the DRAM port's load, which bounds the step from
below but need not be its critical path; the re-simulated latency is reported, and the
step keeps no residency when it would be slower than without.  The peak :math:`P_r` is
conservative: a set that would only fit because residency frees buffers is not chosen.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from monet_opt.formulations._builder import ModelBuilder, solve_model
from monet_opt.formulations.bounds import lower_bounds
from monet_opt.formulations.options import SolverOptions
from monet_opt.formulations.result import SolveResult, metric_value
from monet_opt.schedule.evaluator import evaluate, evaluate_metrics
from monet_opt.schedule.memory import memory_model
from monet_opt.schedule.problem import Problem
from monet_opt.schedule.realize import realize
from monet_opt.schedule.realize_remat import realize_remat
from monet_opt.schedule.resident import (
    group_core,
    make_resident,
    per_tile_bits,
    training_state_groups,
)
from monet_opt.schedule.types import Decision

__all__ = ["Candidate", "candidates", "solve_resident_state", "fits"]


@dataclass(frozen=True)
class Candidate:
    """A training-state group that may be resident under a fixed answer.

    Attributes
    ----------
    weight
        The weight's name.
    core
        Core id of every node touching the group.
    row
        Memory row (:class:`~monet_opt.schedule.memory.MemoryModel`) it occupies.
    memory
        That memory's label.
    bits
        Bits it occupies all step (all tiles together on a tile group).
    tile_bits
        Bits one tile holds (``bits`` on a core without tiles).
    saved_cycles
        DRAM port cycles its reads and writes took per step.
    """

    weight: str
    core: int
    row: int
    memory: str
    bits: float
    tile_bits: float
    saved_cycles: float


def _simulated(problem: Problem, decision: Decision) -> tuple[Problem, np.ndarray]:
    """The problem the evaluator simulates for ``decision`` (without residency) and the
    core index per node."""
    from monet_opt.schedule.evaluator import _core_indices, _is_trivial

    if decision.remat is None and _is_trivial(problem, decision):
        return problem, np.asarray(_core_indices(problem, decision.allocation), dtype=int)
    real = (
        realize(problem, decision) if decision.remat is None else realize_remat(problem, decision)
    )
    pb = real.problem
    cidx = _core_indices(pb, real.expand(decision.allocation))
    return pb, np.asarray(cidx, dtype=int)


def candidates(problem: Problem, decision: Decision) -> tuple[Candidate, ...]:
    """The groups that may be resident under ``decision`` (module docstring).

    Parameters
    ----------
    problem
        The base problem.
    decision
        The fixed answer (its ``resident`` is ignored).

    Returns
    -------
    tuple[Candidate, ...]
        In the graph's weight order; groups without DRAM traffic are left out.
    """
    pb, cidx = _simulated(problem, replace(decision, resident=None))
    mm = memory_model(pb)
    cyc = float(pb.costs.dram_cycles_per_bit)
    g = pb.graph
    out: list[Candidate] = []
    for w, grp in training_state_groups(g).items():
        c = group_core(pb, grp, cidx)
        if c is None:
            continue
        row = int(mm.slot_row[c, 1])
        if row < 0:
            continue
        moved = sum(
            float(g.tensors[t].bits)
            for ts in (*pb.dram_read_tensors, *pb.dram_write_tensors)
            for t in ts
            if t in grp.tensors
        )
        if moved <= 0:
            continue
        out.append(
            Candidate(
                w,
                pb.core_ids[c],
                row,
                mm.labels[row],
                grp.bits,
                per_tile_bits(pb, grp, c),
                moved * cyc,
            )
        )
    return tuple(out)


def fits(problem: Problem, decision: Decision) -> bool:
    """Whether every memory stays within capacity when ``decision`` is re-simulated."""
    return evaluate_metrics(problem, decision).memory_overflow == 0


def _rows(problem: Problem, decision: Decision, cands: Sequence[Candidate]) -> dict:
    """Per memory row: the room ``C_r - P_r`` left by the schedule without residency;
    per tile-group row: one tile's capacity less the largest slice a node of that core
    holds on one tile (the evaluator checks the group's memory in aggregate only)."""
    pb, cidx = _simulated(problem, replace(decision, resident=None))
    mm = memory_model(pb)
    sched = evaluate(problem, replace(decision, resident=None))
    peak = sched.peak_memory_bits()
    room: dict[int, float] = {}
    tile_cap: dict[int, float] = {}
    for cd in cands:
        r = cd.row
        room[r] = float(mm.capacity[r]) - float(peak.get(mm.labels[r], 0.0))
        core = pb.accelerator.core(cd.core)
        if core.tiles is not None:  # one tile: its share of the state and any node's slice
            k = pb.core_ids.index(cd.core)
            slice_bits = max(
                (_tile_slice_bits(pb.costs.details[i][k]) for i in np.flatnonzero(cidx == k)),
                default=0.0,
            )
            tile_cap[r] = float(mm.capacity[r]) / core.tiles.count - slice_bits
    return {"room": room, "tile": tile_cap}


def _tile_slice_bits(cost: object) -> float:
    """Bits one tile holds while running its slice of a node on a tile group: the
    node's held operands over the tiles it uses (:func:`monet_opt.cost.op_cost.node_cost`
    reports them summed over those tiles), counted whole, as if they shared the memory
    of the resident state (safe when they do not)."""
    if cost is None:
        return 0.0
    mapping = str(getattr(cost, "mapping", ""))
    used = int(mapping.split()[1]) if mapping.startswith("tiles ") else 1
    return sum(float(b) for _, b in getattr(cost, "held", ())) / max(used, 1)


def solve_resident_state(
    problem: Problem,
    answer: SolveResult | Decision,
    objective: str,
    options: SolverOptions,
    *,
    max_rounds: int = 50,
) -> SolveResult:
    """Choose the resident training state of a fixed answer (module docstring).

    Parameters
    ----------
    problem
        The base problem the answer refers to.
    answer
        The joint (or any) answer: a :class:`SolveResult` or a :class:`Decision`.
    objective
        ``latency``, ``energy`` or ``edp``: the reported (simulated) value.
    options
        HiGHS options (time limit, threads).
    max_rounds
        Most no-good cuts before giving up on residency (the answer then keeps none).

    Returns
    -------
    SolveResult
        ``formulation="resident_state"``; ``decision.resident`` is the chosen set
        (``None`` when it is empty or slower than none); ``extra`` holds ``resident``
        (per weight: core, memory, bits, bits per tile, saved port cycles), the knapsack's
        objective, bound and gap in saved port cycles, the rounds and the value without
        residency; the answer's own ``extra`` (when a :class:`SolveResult`) is kept,
        with ``base_formulation`` its formulation.
    """
    t0 = time.perf_counter()
    base = answer.decision if isinstance(answer, SolveResult) else answer
    base = replace(base, resident=None)
    cands = candidates(problem, base)
    rows = _rows(problem, base, cands) if cands else {"room": {}, "tile": {}}
    mb = ModelBuilder()
    x = [mb.binary(f"x[{cd.weight}]", -cd.saved_cycles) for cd in cands]
    for r, room in rows["room"].items():
        mb.row([(x[k], cd.bits) for k, cd in enumerate(cands) if cd.row == r], ub=max(room, 0.0))
    for r, cap in rows["tile"].items():
        mb.row([(x[k], cd.tile_bits) for k, cd in enumerate(cands) if cd.row == r], ub=cap)
    build = time.perf_counter() - t0
    chosen: frozenset[str] = frozenset()
    knap_obj = knap_bound = 0.0
    rounds = 0
    status_name = "optimal"
    solve_s = 0.0
    exhausted = False
    while cands and rounds < max_rounds:
        rounds += 1
        st = solve_model(mb.to_highs(options.highs()))
        solve_s += st.seconds
        status_name = st.status
        if st.values is None:
            break
        pick = [k for k in range(len(cands)) if st.values[x[k]] > 0.5]
        if not pick:
            knap_obj, knap_bound = 0.0, -st.bound
            break
        trial = frozenset(cands[k].weight for k in pick)
        if fits(problem, replace(base, resident=trial)):
            chosen = trial
            knap_obj, knap_bound = -st.objective, -st.bound
            break
        inside = set(pick)
        mb.row(
            [(x[k], 1.0 if k in inside else -1.0) for k in range(len(cands))],
            ub=len(inside) - 1.0,
        )
        knap_bound = max(knap_bound, -st.bound)
    else:
        exhausted = bool(cands) and not chosen
    if exhausted:  # no set tried fitted: the empty one is kept, the knapsack's bound shown
        status_name = "round_limit"
    plain = evaluate(problem, base)
    dec = replace(base, resident=chosen) if chosen else base
    sched = evaluate(problem, dec)
    if chosen and metric_value(objective, sched) > metric_value(objective, plain):
        dec, sched, chosen = base, plain, frozenset()
    # bounds valid for every set of this space: every candidate resident (residency only
    # removes DMA traffic and reads in place, so each bound can only fall with more of it)
    lbs_problem: Problem | None = problem
    if cands:
        try:
            cidx = [problem.core_ids.index(c) for c in base.allocation]
            lbs_problem = make_resident(problem, frozenset(cd.weight for cd in cands), cidx)
        except ValueError:  # no bound that holds with residency: none is claimed
            lbs_problem = None
    table = {
        cd.weight: {
            "core": cd.core,
            "memory": cd.memory,
            "bytes": cd.bits / 8,
            "bytes_per_tile": cd.tile_bits / 8,
            "saved_port_cycles": cd.saved_cycles,
        }
        for cd in cands
        if cd.weight in chosen
    }
    knap_gap = (
        0.0 if knap_bound <= 0 else max(0.0, (knap_bound - knap_obj) / max(knap_bound, 1e-12))
    )
    lbs = lower_bounds(lbs_problem) if lbs_problem is not None else {}
    # lower_bounds are makespan bounds (cycles): a bound for the latency objective only
    bounds = {"max": lbs["max"]} if objective == "latency" and lbs else None
    res = SolveResult.build(
        problem,
        formulation="resident_state",
        objective_name=objective,
        decision=dec,
        simulated_of=objective,
        milp_objective=None,
        milp_bound=None,
        solver_status=status_name,
        mip_gap=options.mip_gap,
        scope=(
            "resident training state for the fixed joint answer: knapsack over the groups "
            "whose nodes share a core, per-memory room at the peak of the schedule without "
            "residency, re-simulated (exact for saved DRAM port cycles, not for latency; "
            "bound: the global lower bounds of the step with every candidate resident)"
        ),
        n_vars=len(x),
        n_cons=len(rows["room"]) + len(rows["tile"]) + max(rounds - 1, 0),
        n_binaries=len(x),
        build_seconds=build,
        solve_seconds=solve_s,
        schedule=sched,
        models_capacity=True,
        extra_bounds=bounds,
        extra={
            # the joint's certified bounds hold without residency only: kept aside
            **{
                ("bounds_without_residency" if k == "bounds" else k): v
                for k, v in (answer.extra if isinstance(answer, SolveResult) else {}).items()
            },
            "base_formulation": (
                answer.formulation if isinstance(answer, SolveResult) else "decision"
            ),
            "resident": table,
            "resident_bytes": sum(v["bytes"] for v in table.values()),
            "saved_port_cycles": sum(v["saved_port_cycles"] for v in table.values()),
            "knapsack_objective": knap_obj,
            "knapsack_bound": knap_bound,
            "knapsack_gap": knap_gap,
            "resident_candidates": len(cands),
            "rounds": rounds,
            "rounds_exhausted": exhausted,
            "without_resident": metric_value(objective, plain),
        },
    )
    if isinstance(answer, SolveResult) and answer.status not in ("optimal", "feasible"):
        res = replace(res, status=answer.status, objective=math.inf)  # no answer to carry
    return replace(res, lower_bounds=lbs or res.lower_bounds)
