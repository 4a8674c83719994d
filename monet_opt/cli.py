"""Command line: ``monet-opt solve CONFIG.yaml`` and ``monet-opt validate CONFIG.yaml``.

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
from monet_opt.config import Config, ConfigError, build_inputs, load_config

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
    from monet_opt.schedule.problem import build_problem

    with _input_errors(config, "accelerator"):
        return build_problem(
            graph,
            accelerator,
            prefetch_depth=cfg.schedule.prefetch_depth,
            layer_io=cfg.schedule.layer_io,
            fold_activations=cfg.schedule.fold_activations,
        )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="monet-opt")
def cli() -> None:
    """Model NN training on multi-core dataflow accelerators and optimize the core
    allocation exactly (HiGHS MILP), with a genetic-algorithm baseline."""


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
        f"of core; objective {cfg.objective}"
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
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output directory (default: out/<config stem>).",
)
@click.option("--no-plots", is_flag=True, help="Skip schedule.png and memory.png.")
def solve(
    config: Path,
    method: str,
    time_limit: float | None,
    seed: int | None,
    objective: str | None,
    out_dir: Path | None,
    no_plots: bool,
) -> None:
    """Optimize the core allocation of CONFIG.yaml and write result.json and plots."""
    from monet_opt.report.plots import plot_memory, plot_schedule
    from monet_opt.report.result_json import best_result, write_result
    from monet_opt.report.summary import fmt_energy, print_summary

    err = _stderr_console()
    cfg, graph, acc, t_inputs = _load(config, err)
    objective = objective or cfg.objective
    out_dir = out_dir if out_dir is not None else Path("out") / config.stem
    wall: dict[str, float] = {"build_inputs": t_inputs}

    t0 = time.perf_counter()
    with err.status("building the scheduling problem..."):
        problem = _build_problem(cfg, graph, acc, config)
    wall["build_problem"] = time.perf_counter() - t0
    err.print(
        f"{graph.name} on {acc.name}: {problem.n_nodes} nodes, "
        f"{len(problem.flexible)} with a choice of core; objective {objective}"
    )

    milp = ga = None
    if method in ("milp", "both"):
        from monet_opt.formulations.allocation import solve_allocation

        limit = time_limit if time_limit is not None else cfg.solver.time_limit_s
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
        ga = _run_ga(cfg, problem, objective, time_limit, seed, err)
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
        )
        if not no_plots:
            chosen = best_result({"milp": milp, "ga": ga}, objective)
            assert chosen is not None
            name, best = chosen
            title = (
                f"{graph.name} on {acc.name} — {name.upper()} ({objective}): "
                f"latency {best.schedule.latency:,.0f} cycles, "
                f"energy {fmt_energy(best.schedule.energy.total)}"
            )
            plot_schedule(best.schedule, out_dir / "schedule.png", problem, title=title)
            plot_memory(
                best.schedule,
                out_dir / "memory.png",
                title=f"{graph.name} on {acc.name} — memory occupancy ({name.upper()})",
            )
    wall["report"] = time.perf_counter() - t0
    print_summary(objective=objective, milp=milp, ga=ga, wall_times=wall, out_dir=out_dir)


def _run_ga(
    cfg: Config,
    problem: Any,
    objective: str,
    time_limit: float | None,
    seed: int | None,
    err: Console,
) -> Any:
    from monet_opt.ga import run_ga

    g = cfg.ga
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
