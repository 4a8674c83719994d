"""Command line: ``monet-opt validate|solve|pareto|compare|export CONFIG.yaml`` and
``monet-opt dse SPACE.yaml``.

A thin layer over :mod:`monet_opt.api`: each command parses its options, calls one API
function, prints a summary and writes its files as one set
(:class:`monet_opt.atomic.OutputFolder`: checked and locked before any work, swapped in
whole at the end, the previous set kept as ``<out>.previous``).

Bad input (an invalid config, accelerator or ONNX file, option or output folder) prints
one line ``error: <file>: <field>: <message>`` on standard error and exits with status 2,
without a traceback.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from monet_opt import __version__, api
from monet_opt.api.compare import DEFAULT_EVALS, SPACE_NAMES
from monet_opt.atomic import OutputFolder, OutputFolderError
from monet_opt.errors import INPUT_ERROR_EXIT, InputError

__all__ = ["cli", "main", "INPUT_ERROR_EXIT"]


class CliInputError(click.ClickException):
    """Bad input: ``error: <message>`` on standard error, exit status 2."""

    exit_code = INPUT_ERROR_EXIT

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", err=True)


def _one_line(msg: str) -> str:
    lines = [ln.strip() for ln in msg.splitlines() if ln.strip()] or ["invalid input"]
    return lines[0] + (f" (and {len(lines) - 1} more)" if len(lines) > 1 else "")


@contextlib.contextmanager
def _errors(config: Path | None = None) -> Iterator[None]:
    """Turn input errors into one ``error:`` line and exit status 2."""
    try:
        yield
    except InputError as exc:
        raise CliInputError(_one_line(str(exc))) from None
    except OutputFolderError as exc:
        raise CliInputError(f"--out: {_one_line(str(exc))}") from None
    except (ValueError, OSError) as exc:  # a file the API did not attribute
        prefix = f"{config}: " if config is not None else ""
        raise CliInputError(prefix + _one_line(str(exc))) from None


class FiniteFloat(click.ParamType):
    """A finite number in ``[lo, hi]`` (``lo`` excluded when ``lo_open``); NaN and
    infinities are rejected."""

    name = "number"

    def __init__(self, lo: float, hi: float = 7 * 24 * 3600.0, lo_open: bool = False) -> None:
        self.lo, self.hi, self.lo_open = lo, hi, lo_open

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        try:
            v = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        low_ok = v > self.lo if self.lo_open else v >= self.lo
        if not (math.isfinite(v) and low_ok and v <= self.hi):
            op = ">" if self.lo_open else ">="
            self.fail(f"{value!r}: allowed a finite number {op} {self.lo:g} and <= {self.hi:g}")
        return v


def _time_limit(help_text: str) -> Callable[[Any], Any]:
    return click.option(
        "--time-limit", type=FiniteFloat(0, lo_open=True), default=None, help=help_text
    )


def _out_option(default: str) -> Callable[[Any], Any]:
    return click.option(
        "--out",
        "out_dir",
        type=click.Path(path_type=Path),
        default=None,
        help=f"Output folder (default: {default}); the previous set is kept as <out>.previous.",
    )


def _progress(limit: float | None, unit: str = "") -> Any:
    from monet_opt.report.progress import ProgressDisplay

    return ProgressDisplay(Console(stderr=True), limit, unit)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="monet-opt")
def cli() -> None:
    """Model NN training on multi-core dataflow accelerators and optimize the core
    allocation, layer fusion and activation checkpointing exactly (HiGHS MILP), with a
    genetic-algorithm baseline."""


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
def validate(config: Path) -> None:
    """Check CONFIG.yaml as `solve` would: build the training graph, the accelerator and
    the problem, check the fusion stacks and the footprint budget, and print a summary."""
    from monet_opt.report.summary import inputs_tables

    with _errors(config):
        inputs = api.load(config)
        budget = api.footprint_budget(inputs) if inputs.config.uses_joint else None
        stacks = api.fixed_stacks(inputs)
    out = Console()
    for table in inputs_tables(inputs, budget, stacks):
        out.print(table)
    out.print("[green]OK[/]")


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option(
    "--method",
    type=click.Choice(["milp", "ga", "both"]),
    default="milp",
    show_default=True,
    help="Exact MILP, the GA baseline, or both.",
)
@_time_limit("Seconds for the whole run (default solver.time_limit_s); also caps the GA.")
@click.option(
    "--seed", type=click.IntRange(0, 2**32 - 1), default=None, help="GA seed (overrides ga.seed)."
)
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
    """Optimize CONFIG.yaml and write result.json, plots and Perfetto traces.

    The MILP decides the core allocation; with fusion.mode other than `none` or
    checkpointing.mode `optimal` it decides the layer stacks and the kept activations
    too (joint solver; objective latency or energy)."""
    from monet_opt.report.outputs import write_solve
    from monet_opt.report.summary import print_summary

    # the output folder is checked and locked before any work (a bad --out fails at once)
    with _errors(config), OutputFolder(out_dir or Path("out") / config.stem) as folder:
        inputs = api.load(config)
        limit = time_limit if time_limit is not None else inputs.config.solver.time_limit_s
        with _progress(limit) as progress:
            run = api.solve(
                inputs,
                method=method,
                objective=objective,
                time_limit=time_limit,
                seed=seed,
                progress=progress,
            )
        if run.infeasible:
            raise CliInputError(
                f"{config}: checkpointing: no decision meets the footprint budget "
                f"({run.milp.extra.get('message', 'proven infeasible')})"
            )
        write_solve(folder.path, run, plots=not no_plots)
    for note in run.notes:
        click.echo(f"note: {note}", err=True)
    print_summary(
        objective=run.objective,
        milp=run.milp,
        ga=run.ga,
        wall_times=run.wall_seconds,
        out_dir=folder.dest,
        joint=run.joint,
        budget_bits=None if run.budget is None else run.budget.bits,
        baseline=run.baseline,
    )


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option(
    "--points",
    type=click.IntRange(2, 1000),
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
    help="Allocation of the fronts: the latency-optimal MILP or the greedy one.",
)
@_time_limit("Seconds for the whole run (default solver.time_limit_s).")
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
    """Footprint budget vs optimum of the exact checkpointing MILP for CONFIG.yaml:
    budgets from the minimum feasible footprint to store-all; writes pareto.csv and
    pareto.png."""
    from monet_opt.report.outputs import write_pareto
    from monet_opt.report.pareto import pareto_rows, pareto_tables
    from monet_opt.units import MIB_BITS

    with _errors(config), OutputFolder(out_dir or Path("out") / config.stem) as folder:
        inputs = api.load(config)
        limit = time_limit if time_limit is not None else inputs.config.solver.time_limit_s
        with _progress(limit) as progress:
            run = api.pareto(
                inputs,
                points=points,
                objective=objective,
                allocation=alloc_mode,
                time_limit=time_limit,
                progress=progress,
            )
        write_pareto(folder.path, run, plots=not no_plots)
    out = Console()
    rows = pareto_rows(run.fronts, run.budgets_bits)
    multi = run.inputs.config.checkpointing.levels == "multi"
    levels = ", multi-level schedules" if multi else ""
    for table in pareto_tables(rows, suffix=f" ({alloc_mode} allocation{levels})"):
        out.print(table)
    fmin, fall = run.min_feasible_bits, run.store_all_bits
    low = "largest single step" if multi else "minimum feasible budget"
    out.print(
        f"{low} {fmin / MIB_BITS:.4f} MiB ({fmin / fall:.1%} of store-all "
        f"{fall / MIB_BITS:.4f} MiB); {run.n_optimal}/{run.n_points} points optimal; "
        + ", ".join(f"{k} {v:.2f} s" for k, v in run.seconds.items())
    )
    out.print(f"results written to [bold]{folder.dest}[/]")


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option(
    "--budget-evals",
    type=click.IntRange(1, 10**9),
    default=None,
    help=f"GA budget per run in distinct evaluations (default {DEFAULT_EVALS}; reproducible).",
)
@click.option(
    "--budget-seconds",
    type=FiniteFloat(0, lo_open=True),
    default=None,
    help="GA budget per run in seconds (not reproducible).",
)
@click.option(
    "--equal-time",
    is_flag=True,
    help="Give each GA run the MILP's wall time on its space (not reproducible).",
)
@click.option(
    "--min-seconds",
    type=FiniteFloat(0),
    default=2.0,
    show_default=True,
    help="Floor of the --equal-time budget.",
)
@click.option(
    "--seeds",
    "n_seeds",
    type=click.IntRange(1, 1000),
    default=5,
    show_default=True,
    help="GA seeds per space (ga.seed, ga.seed + 1, ...).",
)
@click.option(
    "--spaces",
    default=",".join(SPACE_NAMES),
    show_default=True,
    help="Comma-separated decision spaces to compare.",
)
@click.option("--no-pareto", is_flag=True, help="Skip the exact vs NSGA-II front comparison.")
@click.option("--no-warm-start", is_flag=True, help="Skip the MILP re-solve from the GA answer.")
@_time_limit("Seconds per exact solve (default solver.time_limit_s).")
@_out_option("out/<config stem>/compare")
@click.option("--no-plots", is_flag=True, help="Skip the PNG plots (the report has no images).")
def compare(
    config: Path,
    budget_evals: int | None,
    budget_seconds: float | None,
    equal_time: bool,
    min_seconds: float,
    n_seeds: int,
    spaces: str,
    no_pareto: bool,
    no_warm_start: bool,
    time_limit: float | None,
    out_dir: Path | None,
    no_plots: bool,
) -> None:
    """Exact (HiGHS MILP) vs GA (DEAP) on every decision space of CONFIG.yaml, scored
    by one evaluator; writes compare.json, compare.csv, plots, Perfetto traces and
    report.md / report.html."""
    from monet_opt.report.outputs import write_compare
    from monet_opt.report.summary import compare_table

    out_dir = out_dir or Path("out") / config.stem / "compare"
    with _errors(config), OutputFolder(out_dir) as folder:
        chosen = [s.strip() for s in spaces.split(",") if s.strip()]
        with _progress(None) as progress:
            result = api.compare(
                config,
                seeds=n_seeds,
                budget_evals=budget_evals,
                budget_seconds=budget_seconds,
                equal_time=equal_time,
                min_seconds=min_seconds,
                spaces=chosen,
                pareto=not no_pareto,
                warm_start=not no_warm_start,
                time_limit=time_limit,
                progress=progress,
            )
        write_compare(folder.path, result, plots=not no_plots)
    out = Console()
    for line in compare_table(result):
        out.print(line)
    out.print(f"results written to [bold]{folder.dest}[/] (open report.html)")


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["mps", "lp"]), default="mps",
              show_default=True, help="Model file format.")  # fmt: skip
@_time_limit("Seconds for the allocation MILP that fixes the other models' allocation.")
@_out_option("out/<config stem>/models")
def export(config: Path, fmt: str, time_limit: float | None, out_dir: Path | None) -> None:
    """Write the MILPs `solve` builds for CONFIG.yaml (allocation, fusion, checkpointing)
    as MPS or LP files, each with a JSON sidecar that maps its columns to the decision
    (read another solver's answer back with monet_opt.api.decode_solution)."""
    out_dir = out_dir or Path("out") / config.stem / "models"
    with _errors(config), OutputFolder(out_dir) as folder:
        models = api.export(config, folder.path, fmt=fmt, time_limit=time_limit)
    table = Table(title=f"exported MILPs ({fmt})")
    for col in ("model", "columns", "rows", "binaries", "file"):
        table.add_column(col, justify="left" if col in ("model", "file") else "right")
    for m in models:
        path = folder.dest / m.model.name
        table.add_row(m.name, f"{m.n_vars:,}", f"{m.n_cons:,}", f"{m.n_binaries:,}", str(path))
    Console().print(table)


class _DseBar:
    """Rich progress bar of ``monet-opt dse``: points done / total, points/s, ETA and
    the best value of each objective so far (on standard error)."""

    _SHORT = {
        "latency_cycles": "lat",
        "energy_pj": "E",
        "edp": "EDP",
        "area_mm2": "mm2",
        "peak_dram_bits": "DRAM",
    }

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("dse"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[best]}"),
            console=Console(stderr=True),
            transient=False,
        )
        self.task: Any = None

    def __enter__(self) -> _DseBar:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bar.__exit__(*exc)

    def __call__(self, done: int, total: int, counts: Any, best: Any, rate: float) -> None:
        best_txt = " ".join(f"{self._SHORT.get(k, k)} {v:.4g}" for k, v in best.items())
        bad = counts.get("failed", 0) + counts.get("infeasible", 0)
        fields = {"rate": f"{rate:.2f} pt/s", "best": f"best {best_txt} ({bad} not ok)"}
        if self.task is None:
            self.task = self.bar.add_task("dse", total=total, completed=done, **fields)
        else:
            self.bar.update(self.task, total=total, completed=done, **fields)


@cli.command()
@click.argument("space", type=click.Path(path_type=Path))
@click.option("--budget", type=click.IntRange(1, 10**7), required=True,
              help="Distinct design points to evaluate.")  # fmt: skip
@click.option(
    "--sampler",
    type=click.Choice(["random", "grid", "nsga2"]),
    default="random",
    show_default=True,
    help="random (MONET's), grid (exhaustive, small spaces) or nsga2 (DEAP NSGA-II).",
)
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True,
              help="Sampler seed: same seed, same points and results for any workers.")  # fmt: skip
@click.option("--workers", type=click.IntRange(1, 256), default=None,
              help="Local worker processes (default: the CPU count).")  # fmt: skip
@click.option("--resume", is_flag=True, help="Continue the sweep in --out (dse.sqlite).")
@click.option("--scheduler", default=None,
              help="Address of a dask.distributed scheduler (tcp://host:port).")  # fmt: skip
@click.option("--cluster", default=None, help="local:N starts a Dask LocalCluster of N workers.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Output folder (default: out/<space stem>); holds dse.sqlite and the report files.",
)
def dse(
    space: Path,
    budget: int,
    sampler: str,
    seed: int,
    workers: int | None,
    resume: bool,
    scheduler: str | None,
    cluster: str | None,
    out_dir: Path | None,
) -> None:
    """Hardware design-space exploration of SPACE.yaml: sample accelerators of its
    template, run its workloads on each (inner decisions fast or exact), and write
    dse.sqlite (committed point by point; --resume continues), dse.csv, pareto.csv,
    pareto.png, the parameter effects, report.md / report.html and designs/<id>.yaml."""
    from monet_opt.api.dse import load_space, run_dse

    out = out_dir or Path("out") / space.stem
    with _errors(space):
        sp = load_space(space)
        with _DseBar() as bar:
            run = run_dse(
                sp,
                budget=budget,
                out_dir=out,
                sampler=sampler,
                seed=seed,
                workers=workers,
                resume=resume,
                scheduler=scheduler,
                cluster=cluster,
                progress=bar,
            )
        written = _write_dse_report(out, run.summary, run.records)
    for note in run.notes:
        click.echo(f"note: {note}", err=True)
    s = run.summary
    c = s["counts"]
    con = Console()
    con.print(
        f"{s['evaluated']} points ({c.get('ok', 0)} ok, {c.get('infeasible', 0)} infeasible, "
        f"{c.get('failed', 0)} failed) in {s['seconds']:.1f} s "
        f"({s['points_per_second']:.2f} points/s this run)"
        + (f"; hypervolume {s['hypervolume'][sampler]:.4f}" if "hypervolume" in s else "")
    )
    con.print(f"results written to [bold]{out}[/]" + ("" if written else " (dse.sqlite only)"))


def _write_dse_report(out: Path, summary: Any, records: Any) -> bool:
    """The report files of a sweep (``monet_opt.report.dse``); ``False`` when that
    module is not available."""
    try:
        from monet_opt.report.dse import write_dse_outputs
    except ImportError:
        return False
    write_dse_outputs(out, summary, records)
    return True


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="monet-opt")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
