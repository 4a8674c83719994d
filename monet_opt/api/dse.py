"""``dse``: hardware design-space exploration over a parametric accelerator.

:func:`run_dse` reads a space file (:mod:`monet_opt.dse.space`), samples design points
(``random``, ``grid`` or ``nsga2``), evaluates each one's workloads through the inputs
and solvers of ``solve`` (:mod:`monet_opt.dse.evaluate`) on a process pool or a Dask
cluster, and commits every finished point to ``<out>/dse.sqlite`` as it arrives
(:mod:`monet_opt.dse.runner`; ``resume=True`` continues a sweep). The report files are
written by :func:`monet_opt.report.dse.write_dse_outputs` from the returned summary and
records.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from monet_opt.dse.runner import Progress, SweepResult, run_sweep
from monet_opt.dse.space import DesignSpace, load_space, space_from_dict

__all__ = ["run_dse", "SweepResult", "load_space"]


def run_dse(
    space: str | Path | Mapping[str, Any] | DesignSpace,
    *,
    budget: int,
    out_dir: str | Path,
    sampler: str = "random",
    seed: int = 0,
    workers: int | None = None,
    resume: bool = False,
    scheduler: str | None = None,
    cluster: str | None = None,
    progress: Progress | None = None,
) -> SweepResult:
    """Run or resume a design-space sweep.

    Parameters
    ----------
    space
        A space file, a mapping (paths relative to the working directory) or a
        :class:`~monet_opt.dse.space.DesignSpace`.
    budget
        Number of distinct design points to evaluate.
    out_dir
        Folder of ``dse.sqlite`` (and of the report files the caller writes).
    sampler
        ``random`` (MONET's), ``grid`` or ``nsga2``.
    seed
        Sampler seed: the same seed gives the same points and results for any number of
        workers and either executor.
    workers
        Local process-pool size (default: the CPU count; 1 evaluates in this process).
    resume
        Continue the sweep already in ``out_dir``.
    scheduler
        Address of a ``dask.distributed`` scheduler (``tcp://host:port``).
    cluster
        ``local:N``: a Dask ``LocalCluster`` of ``N`` worker processes.
    progress
        ``progress(done, total, counts, best, points_per_second)`` after every point.

    Returns
    -------
    SweepResult
        ``summary`` and ``records`` in the form of
        :func:`monet_opt.report.dse.write_dse_outputs`.

    Raises
    ------
    InputError
        Naming the file and field (space file) or option at fault.
    """
    if isinstance(space, DesignSpace):
        sp = space
    elif isinstance(space, Mapping):
        sp = space_from_dict(dict(space))
    else:
        sp = load_space(space)
    return run_sweep(
        sp,
        budget=budget,
        sampler=sampler,
        seed=seed,
        out_dir=out_dir,
        workers=workers,
        resume=resume,
        scheduler=scheduler,
        cluster=cluster,
        progress=progress,
    )
