"""Solver options and the time budget every formulation honours.

One :class:`SolverOptions` is passed to every ``solve_*`` function.  Its ``time_limit``
is the limit of the whole call: a formulation that runs several MILPs (EDP sweeps,
lexicographic energy-then-latency, the joint solver's blocks) divides it between them
with a :class:`Deadline` and stops on time with its best answer, bound and gap.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

__all__ = ["SolverOptions", "Deadline", "ProgressCallback"]

#: ``progress(stage, best, bound)``: the stage being solved and the best objective value
#: and bound known so far (``None`` when unknown).
ProgressCallback = Callable[[str, "float | None", "float | None"], None]


#: The ``threads`` of the first HiGHS option set of this process (HiGHS fixes its thread
#: pool at the first solve: a later different value makes the solve fail, so it is
#: not passed).
_POOL: list[int | None] = []


@dataclass(frozen=True)
class SolverOptions:
    """HiGHS settings shared by every formulation.

    Parameters
    ----------
    time_limit
        Seconds for the whole call (all MILPs it runs), > 0.
    mip_gap
        Relative MIP gap at which HiGHS stops (``mip_rel_gap``), >= 0.
    threads
        HiGHS threads (``None``: HiGHS' default).  HiGHS fixes its thread pool at the
        first solve of a process, so later values are ignored in that process.
    seed
        HiGHS ``random_seed``.
    progress
        Optional :data:`ProgressCallback`, called as stages start and incumbents
        improve.  Not part of equality.

    Raises
    ------
    ValueError
        On a non-finite or non-positive time limit or a negative gap.
    """

    time_limit: float = 60.0
    mip_gap: float = 1e-4
    threads: int | None = None
    seed: int = 0
    progress: ProgressCallback | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.time_limit) and self.time_limit > 0):
            raise ValueError(f"time_limit must be a finite number > 0, got {self.time_limit}")
        if not (math.isfinite(self.mip_gap) and self.mip_gap >= 0):
            raise ValueError(f"mip_gap must be a finite number >= 0, got {self.mip_gap}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")

    def highs(self, time_limit: float | None = None) -> dict[str, object]:
        """HiGHS option values (``time_limit`` overrides the options' own)."""
        t = self.time_limit if time_limit is None else time_limit
        opts: dict[str, object] = {
            "time_limit": max(float(t), 1e-3),
            "mip_rel_gap": float(self.mip_gap),
            "mip_abs_gap": 1e-6,
            "random_seed": int(self.seed),
        }
        if not _POOL:  # the first option set of this process fixes HiGHS' pool
            _POOL.append(self.threads)
        if self.threads is not None and _POOL[0] == self.threads:
            opts["threads"] = int(self.threads)
        return opts

    def with_time(self, time_limit: float) -> SolverOptions:
        """The same options with another time limit (at least 1 ms)."""
        return replace(self, time_limit=max(float(time_limit), 1e-3))

    def report(self, stage: str, best: float | None = None, bound: float | None = None) -> None:
        """Forward a progress event to :attr:`progress` (if any)."""
        if self.progress is not None:
            self.progress(stage, best, bound)


class Deadline:
    """The remaining share of a time limit, measured from construction (wall clock)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)
        self._t0 = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._t0

    def remaining(self) -> float:
        """Seconds left (never below 0)."""
        return max(self.seconds - self.elapsed, 0.0)

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def share(self, parts: int) -> float:
        """An equal share of the remaining time for the next of ``parts`` steps (≥ 1 ms)."""
        return max(self.remaining() / max(parts, 1), 1e-3)
