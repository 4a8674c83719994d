"""Running a sweep: executors (inline, process pool, Dask), the SQLite store, resume.

:func:`run_sweep` samples the points, sends the ones the store does not hold yet to an
executor, and commits each result to ``dse.sqlite`` in the parent process as it arrives
(:mod:`monet_opt.dse.store`). Tasks are plain dicts and :func:`~monet_opt.dse.evaluate.
evaluate_point` is a module-level function, so the same task runs in this process
(``workers=1``), in a :class:`~concurrent.futures.ProcessPoolExecutor` (``spawn``: the
parent may hold threads, e.g. the progress display) or on a ``dask.distributed``
cluster (``scheduler="tcp://host:port"`` or ``cluster="local:N"``, a ``LocalCluster``).

Every point's result depends only on its parameters and the space (the ``fast`` inner
mode is deterministic; ``exact`` is up to HiGHS's time limit, which is not
reproducible), and its id is its sampling index, so the same seed gives the same points
and results whatever the number of workers or the executor.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from monet_opt.dse.evaluate import evaluate_point, point_key
from monet_opt.dse.sampling import PENALTY, SAMPLERS, Nsga2, grid_points, random_points
from monet_opt.dse.space import DesignSpace
from monet_opt.dse.store import Store, open_store
from monet_opt.errors import InputError
from monet_opt.indicators import hypervolume, nondominated_indices

__all__ = [
    "Progress",
    "SweepResult",
    "run_sweep",
    "make_executor",
    "front",
    "sweep_hypervolume",
    "reference_point",
]

#: ``progress(done, total, counts, best, rate)`` after every finished point.
Progress = Callable[[int, int, Mapping[str, int], Mapping[str, float], float], None]
MAX_WORKERS = 256


@dataclass(frozen=True)
class SweepResult:
    """A finished (or interrupted) sweep.

    Attributes
    ----------
    summary
        The summary of :func:`monet_opt.report.dse.write_dse_outputs`.
    records
        One record per point, in sampling order.
    out_dir
        The folder holding ``dse.sqlite``.
    notes
        Remarks for the user.
    """

    summary: dict[str, Any]
    records: list[dict[str, Any]]
    out_dir: Path
    notes: tuple[str, ...] = field(default_factory=tuple)


# -- executors -------------------------------------------------------------------------------
class InlineExecutor:
    """Evaluates the tasks one after the other in this process."""

    name = "inline"

    def run(self, tasks: Sequence[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
        for t in tasks:
            yield evaluate_point(t)

    def close(self) -> None:
        pass


def _crash(task: Mapping[str, Any], exc: BaseException) -> dict[str, Any]:
    """The record of a task whose worker died."""
    return {
        "id": task["id"],
        "index": task["index"],
        "params": dict(task["params"]),
        "status": "failed",
        "reason": f"worker failed: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}",
        "objectives": {},
        "metrics": {"seconds": 0.0},
        "accelerator": None,
    }


class PoolExecutor:
    """A process pool of ``workers`` (``spawn``); at most ``2 × workers`` tasks in flight."""

    name = "pool"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))

    def run(self, tasks: Sequence[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
        todo = list(tasks)[::-1]
        running: dict[Future[dict[str, Any]], Mapping[str, Any]] = {}
        try:
            while todo or running:
                while todo and len(running) < 2 * self.workers:
                    t = todo.pop()
                    running[self.pool.submit(evaluate_point, t)] = t
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in sorted(done, key=lambda f: running[f]["index"]):
                    t = running.pop(fut)
                    exc = fut.exception()
                    yield _crash(t, exc) if exc is not None else fut.result()
        finally:
            for fut in running:
                fut.cancel()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor:
    """Tasks on a ``dask.distributed`` cluster: an existing scheduler or a
    ``LocalCluster`` of ``n_workers`` single-threaded worker processes.

    A cluster left without any worker for ``no_worker_timeout`` seconds stops the sweep
    with an :class:`~monet_opt.errors.InputError` (the finished points are committed;
    ``--resume`` continues) instead of waiting forever."""

    name = "dask"

    def __init__(
        self,
        scheduler: str | None = None,
        local_workers: int | None = None,
        no_worker_timeout: float = 120.0,
    ) -> None:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise InputError(
                None,
                "--scheduler" if scheduler else "--cluster",
                "needs dask.distributed: pip install 'monet-opt[dask]'",
            ) from None
        self.option = "--scheduler" if scheduler is not None else "--cluster"
        self.no_worker_timeout = no_worker_timeout
        self.cluster = None
        if scheduler is not None:
            try:
                self.client = Client(scheduler, timeout="20s")
            except (OSError, TimeoutError) as exc:
                raise InputError(
                    None, "--scheduler", f"cannot connect to {scheduler}: {exc}"
                ) from None
        else:
            self.cluster = LocalCluster(
                n_workers=int(local_workers or 1),
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
            )
            self.client = Client(self.cluster)

    def _workers(self) -> int:
        try:
            return len(self.client.scheduler_info().get("workers", {}))
        except Exception:  # noqa: BLE001 - a scheduler we cannot reach has no worker for us
            return 0

    def run(self, tasks: Sequence[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
        from dask.distributed import wait as dask_wait

        pending = {}
        for t in tasks:
            f = self.client.submit(evaluate_point, dict(t), pure=False)
            pending[f.key] = (f, t)
        idle_since: float | None = None
        try:
            while pending:
                try:
                    done, _ = dask_wait(
                        [f for f, _ in pending.values()], timeout=5, return_when="FIRST_COMPLETED"
                    )
                except TimeoutError:
                    done = set()
                if not done:
                    if self._workers() > 0:
                        idle_since = None
                        continue
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since > self.no_worker_timeout:
                        raise InputError(
                            None,
                            self.option,
                            f"the Dask cluster has had no worker for {self.no_worker_timeout:g} "
                            f"s; {len(pending)} points not evaluated (the finished ones are in "
                            "dse.sqlite: rerun with --resume)",
                        )
                    continue
                idle_since = None
                for fut in sorted(done, key=lambda f: pending[f.key][1]["index"]):
                    t = pending.pop(fut.key)[1]
                    try:
                        yield fut.result()
                    except Exception as exc:  # noqa: BLE001 - a dead worker: one failed point
                        yield _crash(t, exc)
        finally:
            for f, _ in pending.values():
                f.cancel()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close()


def parse_cluster(spec: str) -> int:
    """``"local:N"`` -> ``N``.

    Raises
    ------
    InputError
        Field ``--cluster`` for any other form.
    """
    kind, _, n = spec.partition(":")
    if kind != "local" or not n.isdigit() or not 1 <= int(n) <= MAX_WORKERS:
        raise InputError(
            None, "--cluster", f"invalid value {spec!r}; allowed: local:N with 1 <= N <= 256"
        )
    return int(n)


def make_executor(
    workers: int | None, scheduler: str | None = None, cluster: str | None = None
) -> InlineExecutor | PoolExecutor | DaskExecutor:
    """The executor for the options (``--scheduler`` / ``--cluster`` win over
    ``--workers``; ``workers=1`` runs in this process)."""
    if scheduler is not None and cluster is not None:
        raise InputError(None, "--scheduler", "give either --scheduler or --cluster, not both")
    if scheduler is not None:
        if not scheduler.strip():
            raise InputError(None, "--scheduler", "empty address; allowed: tcp://host:port")
        return DaskExecutor(scheduler=scheduler)
    if cluster is not None:
        return DaskExecutor(local_workers=parse_cluster(cluster))
    n = workers if workers is not None else (os.cpu_count() or 1)
    if not 1 <= n <= MAX_WORKERS:
        raise InputError(None, "--workers", f"invalid value {n}; allowed: 1 to {MAX_WORKERS}")
    return InlineExecutor() if n == 1 else PoolExecutor(n)


# -- fronts and hypervolume ---------------------------------------------------------------------
def _vector(rec: Mapping[str, Any], objectives: Sequence[str]) -> list[float] | None:
    o = rec.get("objectives") or {}
    try:
        v = [float(o[k]) for k in objectives]
    except (KeyError, TypeError, ValueError):
        return None
    return v if all(math.isfinite(x) for x in v) else None


def front(records: Sequence[Mapping[str, Any]], objectives: Sequence[str]) -> list[int]:
    """Positions in ``records`` of the non-dominated ``ok`` points."""
    ok = [(i, v) for i, r in enumerate(records) if r["status"] == "ok"
          if (v := _vector(r, objectives)) is not None]  # fmt: skip
    keep = nondominated_indices([v for _, v in ok])
    return sorted(ok[k][0] for k in keep)


def reference_point(
    records: Sequence[Mapping[str, Any]], objectives: Sequence[str], margin: float = 1.1
) -> list[float] | None:
    """``margin ×`` the worst value of each objective over the ``ok`` points."""
    vecs = [v for r in records if r["status"] == "ok" if (v := _vector(r, objectives))]
    if not vecs:
        return None
    return [max(v[k] for v in vecs) * margin for k in range(len(objectives))]


def sweep_hypervolume(
    records: Sequence[Mapping[str, Any]],
    objectives: Sequence[str],
    reference: Sequence[float],
) -> float:
    """Hypervolume of the ``ok`` points, each objective divided by its reference value
    (a unitless volume in ``[0, 1]``)."""
    ref = [float(x) for x in reference]
    pts = [
        [x / r if r else x for x, r in zip(v, ref, strict=True)]
        for rec in records
        if rec["status"] == "ok"
        if (v := _vector(rec, objectives)) is not None
    ]
    return hypervolume(pts, [1.0] * len(ref)) if pts else 0.0


# -- the sweep ------------------------------------------------------------------------------------
def _task(
    space: DesignSpace, index: int, params: Mapping[str, Any], seed: int, mode: str
) -> dict[str, Any]:
    objective = next(
        (o for o in ("latency", "energy", "edp") if _OBJ[o] in space.objectives), "latency"
    )
    return {
        "id": f"p{index:06d}",
        "index": index,
        "params": dict(params),
        "template": space.template.name,
        "fixed": dict(space.fixed),
        "workloads": space.workload_payloads(),
        "constraints": [[c.text, c.metric, c.op, c.bound] for c in space.constraints],
        "mode": mode,
        "time_limit_s": float(space.inner.time_limit_s),
        "objective": objective,
        "seed": (seed * 1_000_003 + index) % 2**32,
    }


_OBJ = {"latency": "latency_cycles", "energy": "energy_pj", "edp": "edp"}


class _Tracker:
    """Counts, the best value per objective and the rate, for the progress callback."""

    def __init__(self, objectives: Sequence[str], total: int, progress: Progress | None):
        self.objectives = objectives
        self.total = total
        self.progress = progress
        self.counts: dict[str, int] = {"ok": 0, "failed": 0, "infeasible": 0}
        self.best: dict[str, float] = {}
        self.t0 = time.perf_counter()
        self.fresh = 0

    def add(self, rec: Mapping[str, Any], new: bool) -> None:
        self.counts[rec["status"]] = self.counts.get(rec["status"], 0) + 1
        if rec["status"] == "ok":
            for k in self.objectives:
                v = (rec.get("objectives") or {}).get(k)
                if v is not None and math.isfinite(float(v)):
                    self.best[k] = min(self.best.get(k, math.inf), float(v))
        self.fresh += int(new)
        if self.progress is not None:
            self.progress(sum(self.counts.values()), self.total, self.counts, self.best,
                          self.rate())  # fmt: skip

    def rate(self) -> float:
        dt = time.perf_counter() - self.t0
        return self.fresh / dt if dt > 0 else 0.0


def _check_meta(store: Store, space: DesignSpace, sampler: str, seed: int, mode: str) -> None:
    meta = store.meta()
    want = {
        "fingerprint": space.fingerprint(),
        "sampler": sampler,
        "seed": seed,
        "inner_mode": mode,
    }
    if not meta:
        store.set_meta(want)
        return
    for k, v in want.items():
        if meta.get(k) != v:
            what = "the space file's content" if k == "fingerprint" else f"--{k}"
            was = "" if k == "fingerprint" else f" (the sweep has {meta.get(k)!r}, got {v!r})"
            raise InputError(
                None,
                "--resume",
                f"{what} differs from the sweep being resumed{was}; resume with the same "
                "space, sampler and seed, or choose another --out",
            )


def _values(rec: Mapping[str, Any], objectives: Sequence[str]) -> tuple[float, ...]:
    v = _vector(rec, objectives) if rec["status"] == "ok" else None
    if v is None:
        return (PENALTY * (2.0 if rec["status"] == "failed" else 1.0),) * len(objectives)
    return tuple(v)


def run_sweep(
    space: DesignSpace,
    *,
    budget: int,
    sampler: str = "random",
    seed: int = 0,
    out_dir: str | Path,
    workers: int | None = None,
    resume: bool = False,
    scheduler: str | None = None,
    cluster: str | None = None,
    progress: Progress | None = None,
) -> SweepResult:
    """Run (or resume) a sweep of ``space`` into ``out_dir/dse.sqlite``.

    Parameters
    ----------
    space
        The design space.
    budget
        Number of distinct points to evaluate (a grid or a small space may have fewer).
    sampler
        ``random``, ``grid`` or ``nsga2``.
    seed
        Seed of the sampler (and of each task: ``seed × 1000003 + index``).
    out_dir
        Folder of ``dse.sqlite`` (created).
    workers
        Process-pool size (default: the CPU count; 1 runs in this process).
    resume
        Continue the sweep in ``out_dir`` (its space, sampler, seed and inner mode must
        be the same); without it a folder that holds a sweep is refused.
    scheduler, cluster
        A ``dask.distributed`` scheduler address, or ``"local:N"`` for a ``LocalCluster``.
    progress
        Called after every finished point.

    Raises
    ------
    InputError
        For a bad option (named ``--budget``, ``--sampler``, ``--out``...), a grid over a
        continuous range, or a resumed sweep that does not match.
    """
    if sampler not in SAMPLERS:
        raise InputError(
            None, "--sampler", f"invalid value {sampler!r}; allowed: {', '.join(SAMPLERS)}"
        )
    if not isinstance(budget, int) or isinstance(budget, bool) or not 1 <= budget <= 10**7:
        raise InputError(None, "--budget", f"invalid value {budget!r}; allowed: 1 to 10000000")
    if not 0 <= seed < 2**32:
        raise InputError(None, "--seed", f"invalid value {seed!r}; allowed: 0 to 4294967295")
    mode = space.inner.mode
    first = "fast" if mode == "fast+exact" else mode
    out = Path(out_dir)
    notes: list[str] = []
    t_start = time.perf_counter()
    points: list[dict[str, Any]] = []
    if sampler == "random":
        points = random_points(space, budget, seed)
    elif sampler == "grid":
        points = grid_points(space, budget)
        if space.size > budget:
            notes.append(
                f"grid: the space has {space.size:.0f} points; the budget evaluates the first "
                f"{budget} in grid order"
            )
    if sampler != "nsga2" and len(points) < budget:
        notes.append(f"the space has only {len(points)} distinct points")
    with open_store(out, resume=resume) as store:
        _check_meta(store, space, sampler, seed, mode)
        store.set_meta({"budget": budget, "space_file": str(space.source or "<mapping>")})
        executor = make_executor(workers, scheduler, cluster)
        try:
            done = store.by_key()
            total = len(points) if sampler != "nsga2" else min(budget, int(min(space.size, 1e12)))
            tracker = _Tracker(space.objectives, total, progress)
            for rec in done.values():
                tracker.add(rec, new=False)

            def run_batch(batch: Sequence[tuple[int, Mapping[str, Any]]]) -> None:
                tasks = [
                    _task(space, i, p, seed, first) for i, p in batch if point_key(p) not in done
                ]
                for res in executor.run(tasks):
                    rec = {**res, "sampler": sampler}
                    key = point_key(rec["params"])
                    new = store.add(rec, key)
                    done[key] = rec
                    tracker.add(rec, new)

            if sampler != "nsga2":
                run_batch(list(enumerate(points)))
            else:
                order: dict[str, int] = {}

                def evaluate(batch: Sequence[Mapping[str, Any]]) -> list[tuple[float, ...]]:
                    for p in batch:
                        order.setdefault(point_key(p), len(order))
                    run_batch([(order[point_key(p)], p) for p in batch])
                    return [_values(done[point_key(p)], space.objectives) for p in batch]

                gens = Nsga2(space, len(space.objectives), seed).run(budget, evaluate)
                notes.append(f"nsga2: {gens} generations of {space.nsga2.population}")
            records = store.records()
            if mode == "fast+exact":
                records = _polish(space, store, records, executor, seed, notes)
        finally:
            executor.close()
    summary = _summary(space, records, budget, sampler, seed, time.perf_counter() - t_start,
                       tracker.rate())  # fmt: skip
    return SweepResult(summary, records, out, tuple(notes))


def _polish(
    space: DesignSpace,
    store: Store,
    records: list[dict[str, Any]],
    executor: Any,
    seed: int,
    notes: list[str],
) -> list[dict[str, Any]]:
    """Re-evaluate the ``inner.polish`` front points (lowest index first) in ``exact``
    mode; the records take the exact objectives and keep the fast ones in ``metrics``."""
    done = store.polished()
    idx = front(records, space.objectives)[: space.inner.polish]
    tasks = [
        _task(space, records[i]["index"], records[i]["params"], seed, "exact")
        for i in idx
        if records[i]["id"] not in done
    ]
    for res in executor.run(tasks):
        store.add_polish(res)
        done[res["id"]] = res
    by_id = {r["id"]: r for r in records}
    for pid, pol in done.items():
        rec = by_id.get(pid)
        if rec is None:
            continue
        m = rec["metrics"]
        for k, v in rec["objectives"].items():
            m[f"fast_{k}"] = v
        if pol["status"] == "ok":
            rec["objectives"] = dict(pol["objectives"])
            m.update({k: v for k, v in pol["metrics"].items() if k != "seconds"})
            m["polished"] = True
        else:
            m["polished"] = False
            m["polish_error"] = pol["reason"]
    notes.append(f"fast+exact: {len(done)} front points re-evaluated with the exact inner mode")
    return records


def _summary(
    space: DesignSpace,
    records: Sequence[Mapping[str, Any]],
    budget: int,
    sampler: str,
    seed: int,
    seconds: float,
    rate: float,
) -> dict[str, Any]:
    counts = {"ok": 0, "failed": 0, "infeasible": 0}
    for r in records:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    summary: dict[str, Any] = {
        "space_file": str(space.source) if space.source is not None else "<mapping>",
        "space_name": space.name,
        "template": space.template.name,
        "fixed": dict(space.fixed),
        "space": space.summary_space(),
        "objectives": list(space.objectives),
        "constraints": [c.text for c in space.constraints],
        "budget": budget,
        "sampler": sampler,
        "seed": seed,
        "inner_mode": space.inner.mode,
        "workloads": [{"name": n, "weight": w} for n, w, _ in space.workloads],
        "seconds": seconds,
        "points_per_second": rate,
        "counts": counts,
        "evaluated": len(records),
    }
    ref = reference_point(records, space.objectives)
    if ref is not None:
        summary["reference_point"] = ref
        summary["hypervolume"] = {sampler: sweep_hypervolume(records, space.objectives, ref)}
    return summary
