"""A live progress line on a terminal: stage, elapsed time against the limit, best value
and bound so far.

:class:`ProgressDisplay` is a :data:`~monet_opt.formulations.options.ProgressCallback`
(``display(stage, best, bound)``) and a context manager.  On a terminal it draws a rich
``Live`` line that refreshes four times a second; on anything else (a pipe, a file, CI)
it draws nothing, so logs hold only the final summary.
"""

from __future__ import annotations

import math
import time

from rich.console import Console
from rich.live import Live
from rich.text import Text

__all__ = ["ProgressDisplay"]


def _short(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "—"
    for suffix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= scale:
            return f"{v / scale:.6g}{suffix}"
    return f"{v:.6g}"


class ProgressDisplay:
    """Live progress of one command (see the module docstring).

    Parameters
    ----------
    console
        Where to draw (default: standard error).
    limit
        The run's time limit in seconds, shown as ``elapsed / limit`` (``None``: none).
    unit
        Unit of the best value and bound (``cycles``, ``pJ``...).
    """

    def __init__(
        self, console: Console | None = None, limit: float | None = None, unit: str = ""
    ) -> None:
        self.console = console or Console(stderr=True)
        self.limit = limit
        self.unit = unit
        self.stage = "starting"
        self.best: float | None = None
        self.bound: float | None = None
        self._t0 = time.perf_counter()
        self._live: Live | None = None

    @property
    def active(self) -> bool:
        """Whether anything is drawn (standard error is a terminal)."""
        return self.console.is_terminal

    def __call__(self, stage: str, best: float | None = None, bound: float | None = None) -> None:
        self.stage = stage
        if best is not None and math.isfinite(best):
            self.best = best if self.best is None else min(self.best, best)
        if bound is not None and math.isfinite(bound):
            self.bound = bound if self.bound is None else max(self.bound, bound)
        if self._live is not None:
            self._live.refresh()

    def _render(self) -> Text:
        elapsed = time.perf_counter() - self._t0
        limit = f" / {self.limit:g} s" if self.limit is not None else " s"
        unit = f" {self.unit}" if self.unit else ""
        return Text.assemble(
            ("⏵ ", "cyan"),
            (self.stage, "bold"),
            f" · {elapsed:.1f}{limit} · best {_short(self.best)}{unit}"
            f" · bound {_short(self.bound)}{unit}",
        )

    def __enter__(self) -> ProgressDisplay:
        if self.active:
            self._live = Live(
                console=self.console,
                refresh_per_second=4,
                transient=True,
                get_renderable=self._render,
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None
