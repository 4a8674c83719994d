"""Command line: ``monet-opt validate|solve|pareto|compare CONFIG.yaml``.

* ``validate`` checks a config and prints a summary of the workload and accelerator;
* ``solve`` optimizes the core allocation (HiGHS MILP and/or the GA baseline) and, when
  the config asks for layer fusion or activation checkpointing, the joint decisions
  (:mod:`monet_opt.formulations.joint`); it writes ``result.json`` and plots;
* ``pareto`` sweeps the activation-footprint budget of the exact checkpointing MILP and
  writes ``pareto.csv`` and ``pareto.png``;
* ``compare`` runs the MILPs and the GAs on every decision space with the same evaluator
  and writes ``compare.json``, ``compare.csv``, plots, Perfetto traces and a report
  (:mod:`monet_opt.compare`, :mod:`monet_opt.report.compare`).

Bad input (an invalid config, accelerator or ONNX file, a missing file) prints one line
``error: <file>: <field>: <message>`` on stderr and exits with status 2, without a
traceback.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from monet_opt import __version__
from monet_opt.config import (
    JOINT_OBJECTIVES,
    MIB_BITS,
    Config,
    ConfigError,
    build_inputs,
    build_problem_for,
    load_config,
)

__all__ = ["cli", "main", "INPUT_ERROR_EXIT"]

#: Exit status for bad input.
INPUT_ERROR_EXIT = 2


class InputError(click.ClickException):
    """Bad input: ``error: <message>`` on stderr, exit status 2."""

    exit_code = INPUT_ERROR_EXIT

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", err=True)


@contextlib.contextmanager
def _input_errors(config_path: Path, field: str | None = None) -> Iterator[None]:
    """Turn input errors into :class:`InputError` (one line, exit 2)."""
    try:
        yield
    except ConfigError as exc:
        raise InputError(_one_line(str(exc))) from None
    except (ValueError, OSError, KeyError) as exc:  # HardwareFormatError, OnnxImportError...
        msg = _one_line(str(exc) if not isinstance(exc, KeyError) else str(exc.args[0]))
        prefix = f"{config_path}: " + (f"{field}: " if field else "")
        if msg.startswith(str(config_path)):
            prefix = ""
        raise InputError(prefix + msg) from None


def _one_line(msg: str) -> str:
    lines = [ln for ln in msg.splitlines() if ln.strip()]
    if not lines:
        return "invalid input"
    first = lines[0].strip()
    return first + (f" (and {len(lines) - 1} more)" if len(lines) > 1 else "")


def _stderr_console() -> Console:
    return Console(stderr=True)


def _load(config: Path, console: Console) -> tuple[Config, Any, Any, float]:
    with _input_errors(config):
        cfg = load_config(config)
    t0 = time.perf_counter()
    with console.status("building the training graph and reading the accelerator..."):
        with _input_errors(config):
            graph, accelerator = build_inputs(cfg)
    return cfg, graph, accelerator, time.perf_counter() - t0


def _build_problem(cfg: Config, graph: Any, accelerator: Any, config: Path) -> Any:
    with _input_errors(config, "accelerator"):
        return build_problem_for(cfg, graph, accelerator)


#: ``--time-limit`` of the commands that run MILPs per decision.
_MILP_TIME_LIMIT = click.option(
    "--time-limit",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds per MILP solve (default solver.time_limit_s).",
)


def _out_option(default: str) -> Any:
    """``--out DIR`` with the command's default folder in its help."""
    return click.option(
        "--out",
        "out_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help=f"Output directory (default: {default}).",
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="monet-opt")
def cli() -> None:
    """Model NN training on multi-core dataflow accelerators and optimize the core
    allocation, layer fusion and activation checkpointing exactly (HiGHS MILP), with a
    genetic-algorithm baseline."""


# -- validate -----------------------------------------------------------------------------
@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
def validate(config: Path) -> None:
    """Check CONFIG.yaml: load it, build the training graph and the accelerator, and
    print a short summary."""
    from monet_opt.models import Phase

    err = _stderr_console()
    out = Console()
    cfg, graph, acc, _ = _load(config, err)
    problem = _build_problem(cfg, graph, acc, config)

    paths = cfg.resolved_paths()
    out.print(f"[bold]config[/]       {config}")
    wl = cfg.workload
    out.print(f"[bold]workload[/]     {graph.name}: {len(graph.ops)} ops, optimizer {wl.optimizer}")
    phases = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
    phases.add_column("phase")
    phases.add_column("ops", justify="right")
    phases.add_column("MACs", justify="right")
    phases.add_column("element ops", justify="right")
    for ph in Phase:
        ops = graph.ops_in(ph)
        macs = sum(o.macs for o in ops if o.is_mac)
        elem = sum(o.macs for o in ops if not o.is_mac)
        phases.add_row(ph.value, str(len(ops)), f"{macs:,}", f"{elem:,}")
    out.print(phases)
    out.print(f"[bold]parameters[/]   {graph.parameter_count:,}")
    out.print(f"[bold]accelerator[/]  {acc.name} ({paths['accelerator']})")
    cores = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("id", "core", "kind", "PEs", "op kinds", "memory"):
        cores.add_column(col, justify="right" if col in ("id", "PEs") else "left")
    for c in acc.cores:
        kinds = "all" if c.operator_types is None else ", ".join(sorted(c.operator_types))
        mem_bits = c.memories[-1].size_bits if c.is_offchip and c.memories else c.onchip_bits
        mem_txt = _fmt_bits(mem_bits) if c.memories else "—"
        cores.add_row(
            str(c.id), c.name, c.kind, f"{c.array.n_pes:,}", kinds if not c.is_offchip else "—",
            mem_txt,
        )  # fmt: skip
    out.print(cores)
    out.print(
        f"[bold]links[/]        {len(acc.links)}; DRAM bandwidth {acc.dram_bandwidth:g} bit/cycle"
    )
    out.print(
        f"[bold]schedule[/]     {problem.n_nodes} nodes, {len(problem.flexible)} with a choice "
        f"of core; order {cfg.schedule.order}; objective {cfg.objective}"
    )
    ck = cfg.checkpointing
    budget = ""
    if ck.budget_mib is not None:
        budget = f" (budget {ck.budget_mib:g} MiB)"
    elif ck.budget_fraction is not None:
        budget = f" (budget {ck.budget_fraction:g} of store-all)"
    out.print(
        f"[bold]decisions[/]    fusion {cfg.fusion.mode}, checkpointing {ck.mode}{budget}; "
        f"{len(problem.checkpoint_tensors)} checkpoint candidates"
    )
    out.print("[green]OK[/]")


def _fmt_bits(bits: float) -> str:
    b = bits / 8
    if not math.isfinite(b):
        return "unbounded"
    for unit, scale in (("GiB", 1024.0**3), ("MiB", 1024.0**2), ("KiB", 1024.0)):
        if b >= scale:
            return f"{b / scale:.4g} {unit}"
    return f"{b:g} B"


# -- solve --------------------------------------------------------------------------------
@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option(
    "--method",
    type=click.Choice(["milp", "ga", "both"]),
    default="milp",
    show_default=True,
    help="Exact MILP, the GA baseline, or both.",
)
@click.option(
    "--time-limit",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds for the MILP (solver.time_limit_s) and cap for the GA.",
)
@click.option("--seed", type=int, default=None, help="GA seed (overrides ga.seed).")
@click.option(
    "--objective",
    type=click.Choice(["latency", "energy", "edp"]),
    default=None,
    help="Override the config's objective.",
)
@_out_option("out/<config stem>")
@click.option("--no-plots", is_flag=True, help="Skip the PNG plots.")
def solve(
    config: Path,
    method: str,
    time_limit: float | None,
    seed: int | None,
    objective: str | None,
    out_dir: Path | None,
    no_plots: bool,
) -> None:
    """Optimize CONFIG.yaml and write result.json and plots.

    The MILP optimizes the core allocation; with ``fusion.mode`` other than ``none`` or
    ``checkpointing.mode: optimal`` it also decides the layer stacks and the kept
    activations (joint solver; objective latency or energy).  The GA searches the core
    allocation only."""
    from monet_opt.report.plots import plot_footprint, plot_memory, plot_schedule
    from monet_opt.report.result_json import best_result, write_result
    from monet_opt.report.summary import fmt_energy, print_summary

    err = _stderr_console()
    cfg, graph, acc, t_inputs = _load(config, err)
    objective = objective or cfg.objective
    joint_mode = cfg.uses_joint
    if joint_mode and objective not in JOINT_OBJECTIVES:
        raise InputError(
            f"{config}: objective: {objective!r} is not supported with fusion or "
            f"checkpointing; allowed values: {', '.join(JOINT_OBJECTIVES)}"
        )
    out_dir = out_dir if out_dir is not None else Path("out") / config.stem
    wall: dict[str, float] = {"build_inputs": t_inputs}

    t0 = time.perf_counter()
    with err.status("building the scheduling problem..."):
        problem = _build_problem(cfg, graph, acc, config)
    wall["build_problem"] = time.perf_counter() - t0
    budget = store_all = stacks = None
    if joint_mode:  # input errors first
        budget, store_all = _budget(cfg, problem, config)
        stacks = _check_stacks(cfg, problem, config)
    err.print(
        f"{graph.name} on {acc.name}: {problem.n_nodes} nodes, "
        f"{len(problem.flexible)} with a choice of core; objective {objective}"
    )
    if joint_mode:
        err.print(
            f"fusion {cfg.fusion.mode}, checkpointing {cfg.checkpointing.mode}"
            + ("" if budget is None else f" (budget {budget / MIB_BITS:.4g} MiB)")
        )

    milp = ga = joint = None
    limit = time_limit if time_limit is not None else cfg.solver.time_limit_s
    if method in ("milp", "both") and joint_mode:
        t0 = time.perf_counter()
        joint = _solve_joint(cfg, problem, objective, limit, budget, stacks, err, config)
        milp = joint.final
        wall["milp"] = time.perf_counter() - t0
        err.print(
            f"joint ({joint.mode}, {joint.iterations} iteration"
            f"{'' if joint.iterations == 1 else 's'}): {milp.status}, "
            f"objective {milp.objective:.6g}, gap {milp.gap:.3g}"
        )
    elif method in ("milp", "both"):
        from monet_opt.formulations.allocation import solve_allocation

        t0 = time.perf_counter()
        with err.status(f"solving the allocation MILP with HiGHS (time limit {limit:g} s)..."):
            milp = solve_allocation(
                problem,
                objective=objective,
                time_limit=limit,
                mip_gap=cfg.solver.mip_gap,
                threads=cfg.solver.threads,
            )
        wall["milp"] = time.perf_counter() - t0
        err.print(f"MILP: {milp.status}, objective {milp.objective:.6g}, gap {milp.gap:.3g}")

    if method in ("ga", "both"):
        searched = _ga_searches(cfg)
        if joint_mode and not searched[0] and not searched[1]:
            err.print(
                "note: the GA optimizes the core allocation only (layer by layer, store-all); "
                "it searches fusion / checkpointing when their mode is 'optimal'"
            )
        ga = _run_ga(cfg, problem, objective, time_limit, seed, err, budget=budget)
        wall["ga"] = ga.seconds

    t0 = time.perf_counter()
    with err.status(f"writing results to {out_dir}..."):
        write_result(
            out_dir,
            problem=problem,
            objective=objective,
            milp=milp,
            ga=ga,
            config=cfg,
            wall_times=wall,
            extra={"method": method, "overrides": {"time_limit": time_limit, "seed": seed}},
            joint=joint,
            budget_bits=budget,
            store_all_bits=store_all,
        )
        if not no_plots:
            if joint is not None:
                name, best = "milp", milp
            else:
                chosen = best_result({"milp": milp, "ga": ga}, objective)
                assert chosen is not None
                name, best = chosen
            label = "JOINT MILP" if joint is not None else name.upper()
            title = (
                f"{graph.name} on {acc.name} — {label} ({objective}): "
                f"latency {best.schedule.latency:,.0f} cycles, "
                f"energy {fmt_energy(best.schedule.energy.total)}"
            )
            plot_schedule(best.schedule, out_dir / "schedule.png", problem, title=title)
            plot_memory(
                best.schedule,
                out_dir / "memory.png",
                title=f"{graph.name} on {acc.name} — memory occupancy ({label})",
            )
            if best.schedule.footprint is not None and len(best.schedule.footprint):
                plot_footprint(
                    best.schedule,
                    out_dir / "footprint.png",
                    budget_bits=budget,
                    store_all_bits=store_all,
                    title=f"{graph.name} on {acc.name} — activation footprint ({label}, "
                    f"checkpointing {cfg.checkpointing.mode})",
                )
        if milp is not None or ga is not None:
            from monet_opt.report.trace import write_trace

            for tname, res in (("milp", milp), ("ga", ga)):
                if res is not None:
                    write_trace(out_dir / f"trace_{tname}.json", res.schedule, problem)
    wall["report"] = time.perf_counter() - t0
    print_summary(
        objective=objective,
        milp=milp,
        ga=ga,
        wall_times=wall,
        out_dir=out_dir,
        joint=joint,
        budget_bits=budget,
    )


def _budget(cfg: Config, problem: Any, config: Path) -> tuple[float | None, float]:
    """``(budget bits or None, store-all footprint bits)``; a budget below the minimum
    feasible footprint is an input error naming the budget field."""
    from monet_opt.formulations.checkpointing import min_feasible_budget, store_all_footprint

    store_all = store_all_footprint(problem)
    ck = cfg.checkpointing
    budget = ck.budget_bits(store_all) if ck.mode == "optimal" else None
    if budget is not None:
        fmin = min_feasible_budget(problem)
        if budget < fmin * (1 - 1e-12):
            field = "budget_mib" if ck.budget_mib is not None else "budget_fraction"
            value = ck.budget_mib if ck.budget_mib is not None else ck.budget_fraction
            raise InputError(
                f"{config}: checkpointing.{field}: {value:g} gives a budget of "
                f"{budget / MIB_BITS:.4g} MiB, below the minimum feasible activation "
                f"footprint {fmin / MIB_BITS:.4g} MiB (store-all {store_all / MIB_BITS:.4g} "
                f"MiB, fraction {fmin / store_all:.3g})"
                if store_all > 0
                else f"{config}: checkpointing.{field}: no activation to checkpoint"
            )
    return budget, store_all


def _check_stacks(cfg: Config, problem: Any, config: Path) -> list[list[str]] | None:
    """The fixed stacks (node names), checked against the problem's node names."""
    if cfg.fusion.mode != "fixed":
        return None
    stacks = [list(st) for st in cfg.fusion.stacks or []]
    known = set(problem.node_names)
    for k, st in enumerate(stacks):
        for name in st:
            if name not in known:
                import difflib

                close = difflib.get_close_matches(name, problem.node_names, n=3)
                hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
                raise InputError(
                    f"{config}: fusion.stacks[{k}]: unknown node {name!r} (node names are "
                    f"those listed in result.json 'decisions'){hint}"
                )
    return stacks


def _solve_joint(
    cfg: Config,
    problem: Any,
    objective: str,
    limit: float,
    budget: float | None,
    stacks: list[list[str]] | None,
    err: Console,
    config: Path,
) -> Any:
    try:
        from monet_opt.formulations.joint import solve_joint
    except ImportError as exc:  # pragma: no cover - while joint.py is being written
        raise click.ClickException(
            f"fusion/checkpointing need monet_opt.formulations.joint ({exc})"
        ) from None
    field = "fusion.stacks" if stacks is not None else None
    with err.status(
        f"solving fusion {cfg.fusion.mode} / checkpointing {cfg.checkpointing.mode} "
        f"with HiGHS (time limit {limit:g} s)..."
    ):
        ctx = _input_errors(config, field) if field else contextlib.nullcontext()
        with ctx:
            return solve_joint(
                problem,
                objective=objective,
                fusion=cfg.fusion.mode,
                fixed_stacks=stacks,
                max_stack=cfg.fusion.max_stack,
                checkpointing=cfg.checkpointing.mode,
                budget_bits=budget,
                time_limit=limit,
                mip_gap=cfg.solver.mip_gap,
                threads=cfg.solver.threads,
            )


# -- pareto -------------------------------------------------------------------------------
@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option(
    "--points",
    type=click.IntRange(min=2),
    default=None,
    help="Budgets in the sweep (overrides pareto.points).",
)
@click.option(
    "--objective",
    type=click.Choice(["latency", "energy", "both"]),
    default=None,
    help="Front(s) to compute (overrides pareto.objective).",
)
@click.option(
    "--allocation",
    "alloc_mode",
    type=click.Choice(["milp", "greedy"]),
    default="milp",
    show_default=True,
    help="Core allocation the fronts are computed for: the latency-optimal allocation "
    "MILP or the greedy one.",
)
@_MILP_TIME_LIMIT
@_out_option("out/<config stem>")
@click.option("--no-plots", is_flag=True, help="Skip pareto.png.")
def pareto(
    config: Path,
    points: int | None,
    objective: str | None,
    alloc_mode: str,
    time_limit: float | None,
    out_dir: Path | None,
    no_plots: bool,
) -> None:
    """Footprint budget vs optimum of the exact checkpointing MILP for CONFIG.yaml.

    Sweeps N budgets evenly from the minimum feasible activation footprint (every
    activation recomputed) to the store-all footprint, layer by layer, and writes
    pareto.csv and pareto.png."""
    import numpy as np

    from monet_opt.formulations.checkpointing import (
        checkpoint_front,
        min_feasible_budget,
        store_all_footprint,
    )
    from monet_opt.report.pareto import (
        pareto_rows,
        pareto_tables,
        plot_pareto,
        write_pareto_csv,
    )

    err = _stderr_console()
    cfg, graph, acc, _ = _load(config, err)
    n_points = points if points is not None else cfg.pareto.points
    which = objective or cfg.pareto.objective
    objectives = ["latency", "energy"] if which == "both" else [which]
    limit = time_limit if time_limit is not None else cfg.solver.time_limit_s
    out_dir = out_dir if out_dir is not None else Path("out") / config.stem
    t_all = time.perf_counter()
    with err.status("building the scheduling problem..."):
        problem = _build_problem(cfg, graph, acc, config)
    if not problem.checkpoint_tensors:
        raise InputError(f"{config}: workload: no forward activation is read by the backward")
    if cfg.fusion.mode != "none":
        err.print("note: pareto sweeps checkpointing layer by layer (fusion is not applied)")

    if alloc_mode == "milp":
        from monet_opt.formulations.allocation import solve_allocation

        with err.status(f"solving the allocation MILP (latency, time limit {limit:g} s)..."):
            ares = solve_allocation(
                problem,
                objective="latency",
                time_limit=limit,
                mip_gap=cfg.solver.mip_gap,
                threads=cfg.solver.threads,
            )
        alloc = ares.decision.allocation
        err.print(f"allocation MILP: {ares.status}, makespan {ares.simulated:,.0f} cycles")
    else:
        alloc = problem.default_decision().allocation

    fmin = min_feasible_budget(problem)
    fall = store_all_footprint(problem)
    budgets = np.linspace(fmin, fall, n_points)
    err.print(
        f"{graph.name} on {acc.name}: {len(problem.checkpoint_tensors)} checkpoint "
        f"candidates; minimum feasible budget {fmin / MIB_BITS:.4g} MiB, store-all "
        f"{fall / MIB_BITS:.4g} MiB; {n_points} budgets, order {cfg.schedule.order}"
    )
    fronts: dict[str, list[Any]] = {}
    times: dict[str, float] = {}
    for obj in objectives:
        t0 = time.perf_counter()
        with err.status(f"sweeping {n_points} budgets ({obj})..."):
            fronts[obj] = checkpoint_front(
                problem,
                [float(b) for b in budgets],
                objective=obj,
                allocation=alloc,
                time_limit=limit,
                mip_gap=cfg.solver.mip_gap,
            )
        times[obj] = time.perf_counter() - t0
    rows = pareto_rows(fronts, [float(b) for b in budgets])
    with err.status(f"writing results to {out_dir}..."):
        write_pareto_csv(out_dir / "pareto.csv", rows)
        if not no_plots:
            plot_pareto(
                rows,
                out_dir / "pareto.png",
                min_budget_bits=fmin,
                store_all_bits=fall,
                title=f"{graph.name} on {acc.name} — exact checkpointing front "
                f"({alloc_mode} allocation, order {cfg.schedule.order})",
            )
    out = Console()
    for table in pareto_tables(rows, suffix=f" ({alloc_mode} allocation)"):
        out.print(table)
    n_opt = sum(r["status"] == "optimal" for r in rows)
    out.print(
        f"minimum feasible budget {fmin / MIB_BITS:.4f} MiB "
        f"({fmin / fall:.1%} of store-all {fall / MIB_BITS:.4f} MiB); "
        f"{n_opt}/{len(rows)} points optimal; "
        + ", ".join(f"{k} {v:.2f} s" for k, v in times.items())
        + f"; total {time.perf_counter() - t_all:.2f} s"
    )
    out.print(f"results written to [bold]{out_dir}[/]")


# -- compare ------------------------------------------------------------------------------
@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option(
    "--budget-evals",
    type=click.IntRange(min=1),
    default=None,
    help="GA budget per run in distinct evaluations.",
)
@click.option(
    "--budget-seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="GA budget per run in seconds.  Without either budget: the MILP's wall time on "
    "the same space (at least --min-seconds).",
)
@click.option(
    "--min-seconds",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="Floor of the equal-wall-time GA budget.",
)
@click.option(
    "--seeds",
    "n_seeds",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="GA seeds per space (ga.seed, ga.seed + 1, ...).",
)
@click.option(
    "--spaces",
    default=",".join(("allocation", "allocation_magma", "fusion", "checkpointing", "joint")),
    show_default=True,
    help="Comma-separated decision spaces to compare.",
)
@click.option("--no-pareto", is_flag=True, help="Skip the exact vs NSGA-II front comparison.")
@click.option("--no-warm-start", is_flag=True, help="Skip the MILP re-solve from the GA answer.")
@_MILP_TIME_LIMIT
@_out_option("out/<config stem>/compare")
@click.option("--no-plots", is_flag=True, help="Skip the PNG plots (the report has no images).")
def compare(
    config: Path,
    budget_evals: int | None,
    budget_seconds: float | None,
    min_seconds: float,
    n_seeds: int,
    spaces: str,
    no_pareto: bool,
    no_warm_start: bool,
    time_limit: float | None,
    out_dir: Path | None,
    no_plots: bool,
) -> None:
    """Exact (HiGHS MILP) vs GA (DEAP) on every decision space of CONFIG.yaml.

    Spaces: the core allocation with Stream's genome (a core per layer) and MAGMA's
    (core + priority per node), layer fusion, activation checkpointing under the
    footprint budget, and all three jointly.  Every answer is re-simulated by the same
    evaluator.  Writes compare.json, compare.csv, convergence and Pareto plots, the Gantt
    and memory timeline of both answers, Perfetto traces and report.md / report.html."""
    from monet_opt.compare import SPACES, CompareSettings
    from monet_opt.compare import compare as run_compare

    err = _stderr_console()
    cfg, graph, acc, _ = _load(config, err)
    objective = cfg.objective
    if objective not in JOINT_OBJECTIVES:
        err.print(f"note: compare supports latency or energy; using latency (config: {objective})")
        objective = "latency"
    chosen = tuple(s.strip() for s in spaces.split(",") if s.strip())
    bad = [s for s in chosen if s not in SPACES]
    if bad or not chosen:
        raise click.BadParameter(
            f"unknown spaces {bad}; allowed: {', '.join(SPACES)}", param_hint="--spaces"
        )
    out_dir = out_dir if out_dir is not None else Path("out") / config.stem / "compare"
    with err.status("building the scheduling problem..."):
        problem = _build_problem(cfg, graph, acc, config)
    store_all = None
    budget = None
    if cfg.checkpointing.mode == "optimal":
        budget, store_all = _budget(cfg, problem, config)
    settings = CompareSettings(
        objective=objective,
        seeds=tuple(cfg.ga.seed + k for k in range(n_seeds)),
        budget_evals=budget_evals,
        budget_seconds=budget_seconds,
        min_seconds=min_seconds,
        processes=cfg.ga.processes,
        time_limit=time_limit if time_limit is not None else cfg.solver.time_limit_s,
        mip_gap=cfg.solver.mip_gap,
        threads=cfg.solver.threads,
        budget_bits=budget,
        max_stack=cfg.fusion.max_stack,
        spaces=chosen,
        pareto=not no_pareto and bool(problem.checkpoint_tensors),
        warm_start=not no_warm_start,
    )
    what = (
        f"{budget_evals} evaluations"
        if budget_evals
        else f"{budget_seconds:g} s"
        if budget_seconds
        else f"the MILP's wall time (at least {min_seconds:g} s)"
    )
    err.print(
        f"{graph.name} on {acc.name}: {problem.n_nodes} nodes; objective {objective}; "
        f"{n_seeds} GA seeds, budget per run {what}"
    )
    meta = {
        "config": str(config),
        "workload": graph.name,
        "accelerator": acc.name,
        "n_nodes": problem.n_nodes,
        "version": __version__,
    }
    with err.status("comparing...") as status:
        with _input_errors(config, "checkpointing"):
            result = run_compare(
                problem,
                settings,
                progress=lambda m: status.update(f"{m}..."),
                meta=meta,
            )
    with err.status(f"writing results to {out_dir}..."):
        _write_compare(result, problem, out_dir, plots=not no_plots)
    _print_compare(result)
    Console().print(f"results written to [bold]{out_dir}[/] (open report.html)")


def _write_compare(result: Any, problem: Any, out_dir: Path, *, plots: bool) -> None:
    """compare.json, compare.csv, plots, traces and the report."""
    from monet_opt.report.compare import (
        plot_convergence,
        plot_pareto_compare,
        write_compare_csv,
        write_report,
    )
    from monet_opt.report.plots import plot_memory, plot_schedule
    from monet_opt.report.result_json import write_json_atomic
    from monet_opt.report.summary import fmt_energy
    from monet_opt.report.trace import write_trace

    data = result.as_dict()
    data["wall_seconds"] = result.wall_seconds
    write_json_atomic(out_dir / "compare.json", data)
    write_compare_csv(out_dir / "compare.csv", data)
    main = next((s for s in result.spaces if s.space == "joint"), result.spaces[-1])
    answers = {"milp": main.milp.schedule, "ga": main.ga_schedule}
    for name, sched in answers.items():
        if sched is not None:
            write_trace(out_dir / f"trace_{name}.json", sched, problem)
    images: dict[str, Path] = {}
    if plots:
        for entry in data["spaces"]:
            key = f"convergence_{entry['space']}"
            images[key] = plot_convergence(entry, out_dir / f"{key}.png")
        if data.get("pareto"):
            images["pareto"] = plot_pareto_compare(data["pareto"], out_dir / "pareto_compare.png")
        for name, sched in answers.items():
            if sched is None:
                continue
            label = "MILP" if name == "milp" else "best GA"
            title = (
                f"{data['workload']} on {data['accelerator']} — {main.space}, {label}: "
                f"{sched.latency:,.0f} cycles, {fmt_energy(sched.energy.total)}"
            )
            images[f"gantt_{name}"] = plot_schedule(
                sched, out_dir / f"gantt_{name}.png", problem, title=title
            )
            images[f"memory_{name}"] = plot_memory(
                sched,
                out_dir / f"memory_{name}.png",
                title=f"{data['workload']} — memory occupancy ({main.space}, {label})",
            )
    write_report(out_dir, data, images)


def _short(v: float | None) -> str:
    """Compact number for the terminal table (``48.76M``)."""
    if v is None or not math.isfinite(v):
        return "—"
    for suffix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= scale:
            return f"{v / scale:.4g}{suffix}"
    return f"{v:.4g}"


def _print_compare(result: Any) -> None:
    table = Table(title="exact (MILP) vs GA, same evaluator (median over seeds)")
    cols = ("space", "MILP", "s", "GA", "gap", "@MILP s", "GA s", "evals")
    for col in cols:
        table.add_column(col, justify="left" if col == "space" else "right", no_wrap=True)

    def pct(v: Any) -> str:
        return "—" if v is None else f"{100 * v:+.2f}%"

    for s in result.spaces:
        sm = s.as_dict()["ga"]["summary"]
        milp = _short(s.milp_value) + ("*" if s.proven_optimal else "")
        table.add_row(
            s.space.replace("allocation", "alloc").replace("checkpointing", "ckpt"),
            milp,
            f"{s.milp_seconds:.2f}",
            _short(sm.get("median")),
            pct(sm.get("gap_to_milp_median")),
            pct(sm.get("gap_to_milp_at_milp_time_median")),
            f"{sm['seconds_median']:.1f}",
            f"{sm['evaluations_median']:.0f}",
        )
    out = Console()
    out.print(table)
    out.print(
        "* proven optimal.  gap = (GA - MILP) / MILP; @MILP s = the same at the MILP's "
        "wall time; bounds, ranges and units in report.md"
    )
    pa = result.pareto
    if pa and pa.get("summary"):
        ps = pa["summary"]
        out.print(
            f"Pareto (checkpointing): exact front {len(pa['exact'])} points in "
            f"{pa['exact_seconds']:.2f} s; NSGA-II hypervolume ratio median "
            f"{ps['ratio_median']:.3f} (range {ps['ratio_min']:.3f}–{ps['ratio_max']:.3f}), "
            f"union of seeds {ps['ratio_union']:.3f}"
        )
    out.print(f"total wall time {result.wall_seconds:.1f} s")


def _ga_searches(cfg: Config) -> tuple[bool, bool]:
    """Whether ``solve``'s GA searches (fusion, checkpointing): their mode is optimal."""
    return cfg.fusion.mode == "optimal", cfg.checkpointing.mode == "optimal"


def _run_ga(
    cfg: Config,
    problem: Any,
    objective: str,
    time_limit: float | None,
    seed: int | None,
    err: Console,
    budget: float | None = None,
) -> Any:
    from monet_opt.ga import GAResult, run_ga
    from monet_opt.ga.engine import run_search
    from monet_opt.ga.spaces import JointSpace

    g = cfg.ga
    fusion, checkpointing = _ga_searches(cfg)
    limits = [t for t in (g.time_limit_s, time_limit) if t is not None]
    with Progress(
        TextColumn("GA"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("gen · best {task.fields[best]} · {task.fields[evals]} evals"),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    ) as progress:
        task = progress.add_task("ga", total=g.generations, best="—", evals=0)

        def callback(gen: int, evals: int, seconds: float, best: float) -> None:
            progress.update(task, completed=gen, best=f"{best:.6g}", evals=evals)

        if fusion or checkpointing:  # the joint genome: layer cores + cuts + drop bits
            space = JointSpace(
                problem,
                max_stack=cfg.fusion.max_stack,
                fusion=fusion,
                checkpointing=checkpointing,
            )
            r = run_search(
                space,
                (objective,),
                algorithm="ga",
                population=g.population,
                generations=g.generations,
                cx_prob=g.cx_prob,
                mut_prob=g.mut_prob,
                crossover=g.crossover,
                budget_bits=budget,
                seed=g.seed if seed is None else seed,
                processes=g.processes,
                max_evals=g.max_evals,
                time_limit=min(limits) if limits else None,
                callback=callback,
            )
            return GAResult.from_search(problem, objective, r)
        return run_ga(
            problem,
            objective,
            population=g.population,
            generations=g.generations,
            cx_prob=g.cx_prob,
            mut_prob=g.mut_prob,
            seed=g.seed if seed is None else seed,
            processes=g.processes,
            max_evals=g.max_evals,
            time_limit=min(limits) if limits else None,
            crossover=g.crossover,
            callback=callback,
        )


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="monet-opt")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
