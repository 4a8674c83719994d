"""The files each workflow writes, into one output folder.

The command line opens the folder with :class:`monet_opt.atomic.OutputFolder` (staging,
lock, all-or-nothing swap) and calls one function here:

* :func:`write_solve`: ``result.json``, ``schedule.png``, ``memory.png``,
  ``footprint.png`` (fusion / checkpointing), ``trace_milp.json`` / ``trace_ga.json``
  (Perfetto);
* :func:`write_pareto`: ``pareto.csv``, ``pareto.png``;
* :func:`write_compare`: ``compare.json``, ``compare.csv``, convergence / Pareto /
  Gantt / memory plots, Perfetto traces, ``report.md`` and ``report.html``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monet_opt.api.compare import Comparison
from monet_opt.api.pareto import ParetoRun
from monet_opt.api.solve import SolveRun
from monet_opt.report.compare import (
    plot_convergence,
    plot_pareto_compare,
    write_compare_csv,
    write_report,
)
from monet_opt.report.pareto import pareto_rows, plot_pareto, write_pareto_csv
from monet_opt.report.plots import plot_footprint, plot_memory, plot_schedule
from monet_opt.report.result_json import write_json_atomic, write_result
from monet_opt.report.trace import write_trace
from monet_opt.units import fmt_energy

__all__ = ["write_solve", "write_pareto", "write_compare"]


def write_solve(folder: str | Path, run: SolveRun, *, plots: bool = True) -> list[Path]:
    """Write the outputs of :func:`monet_opt.api.solve` into ``folder``; returns the
    paths written."""
    folder = Path(folder)
    inputs = run.inputs
    problem = inputs.problem
    budget = run.budget
    written = [
        write_result(
            folder,
            problem=problem,
            objective=run.objective,
            milp=run.milp,
            ga=run.ga,
            config=inputs.config,
            wall_times=run.wall_seconds,
            extra={
                "method": run.method,
                "overrides": dict(run.overrides),
                "baseline": dict(run.baseline),
                "notes": list(run.notes),
            },
            joint=run.joint,
            budget_bits=None if budget is None else budget.bits,
            store_all_bits=None if budget is None else budget.store_all_bits,
        )
    ]
    name, best = run.best()
    label = "JOINT MILP" if run.joint is not None and name == "milp" else name.upper()
    where = f"{inputs.graph.name} on {inputs.accelerator.name}"
    if plots:
        sched = best.schedule
        title = (
            f"{where} — {label} ({run.objective}): latency {sched.latency:,.0f} cycles, "
            f"energy {fmt_energy(sched.energy.total)}"
        )
        written.append(plot_schedule(sched, folder / "schedule.png", problem, title=title))
        written.append(
            plot_memory(sched, folder / "memory.png", title=f"{where} — memory occupancy ({label})")
        )
        if sched.footprint is not None and len(sched.footprint):
            ck = inputs.config.checkpointing.mode
            multi = budget is not None and "multilevel" in (
                getattr(best, "formulation", ""),
                getattr(best, "extra", {}).get("base_formulation"),
            )
            if multi:  # the footprint of a multi-level schedule is in its own accounting
                ck = f"{ck}, multi-level"
                fp_budget, fp_store = budget.multilevel_bits, budget.multilevel_store_all_bits
            else:
                fp_budget = None if budget is None else budget.bits
                fp_store = None if budget is None else budget.store_all_bits
            written.append(
                plot_footprint(
                    sched,
                    folder / "footprint.png",
                    budget_bits=fp_budget,
                    store_all_bits=fp_store,
                    title=f"{where} — activation footprint ({label}, checkpointing {ck})",
                )
            )
    for tname, res in (("milp", run.milp), ("ga", run.ga)):
        if res is not None:
            written.append(write_trace(folder / f"trace_{tname}.json", res.schedule, problem))
    return written


def write_pareto(folder: str | Path, run: ParetoRun, *, plots: bool = True) -> list[Path]:
    """Write ``pareto.csv`` (and ``pareto.png``) of :func:`monet_opt.api.pareto`."""
    folder = Path(folder)
    rows = pareto_rows(run.fronts, run.budgets_bits)
    written = [write_pareto_csv(folder / "pareto.csv", rows)]
    if plots:
        inputs = run.inputs
        written.append(
            plot_pareto(
                rows,
                folder / "pareto.png",
                min_budget_bits=run.min_feasible_bits,
                store_all_bits=run.store_all_bits,
                title=f"{inputs.graph.name} on {inputs.accelerator.name} — exact checkpointing "
                f"front ({run.allocation_mode} allocation, order "
                f"{inputs.config.schedule.order})",
            )
        )
    return written


def write_compare(folder: str | Path, result: Comparison, *, plots: bool = True) -> list[Path]:
    """Write every output of :func:`monet_opt.api.compare` into ``folder``."""
    folder = Path(folder)
    problem = result.problem
    data: dict[str, Any] = result.as_dict()
    written = [write_json_atomic(folder / "compare.json", data)]
    written.append(write_compare_csv(folder / "compare.csv", data))
    main = next((s for s in result.spaces if s.space == "joint"), result.spaces[-1])
    answers = {"milp": main.milp.schedule, "ga": main.ga_schedule}
    for name, sched in answers.items():
        if sched is not None:
            written.append(write_trace(folder / f"trace_{name}.json", sched, problem))
    images: dict[str, Path] = {}
    if plots:
        for entry in data["spaces"]:
            key = f"convergence_{entry['space']}"
            images[key] = plot_convergence(entry, folder / f"{key}.png")
        if data.get("pareto"):
            images["pareto"] = plot_pareto_compare(data["pareto"], folder / "pareto_compare.png")
        for name, sched in answers.items():
            if sched is None:
                continue
            label = "MILP" if name == "milp" else "best GA"
            title = (
                f"{data['workload']} on {data['accelerator']} — {main.space}, {label}: "
                f"{sched.latency:,.0f} cycles, {fmt_energy(sched.energy.total)}"
            )
            images[f"gantt_{name}"] = plot_schedule(
                sched, folder / f"gantt_{name}.png", problem, title=title
            )
            images[f"memory_{name}"] = plot_memory(
                sched,
                folder / f"memory_{name}.png",
                title=f"{data['workload']} — memory occupancy ({main.space}, {label})",
            )
    written.extend(images.values())
    written.extend(write_report(folder, data, images) or [])
    return written
