"""monet_opt.report.progress: the live line on a terminal, nothing elsewhere."""

from __future__ import annotations

import io

from rich.console import Console

from monet_opt.report.progress import ProgressDisplay


def test_nothing_is_drawn_on_a_non_terminal():
    buf = io.StringIO()
    with ProgressDisplay(Console(file=buf, force_terminal=False), limit=30) as p:
        assert not p.active
        p("allocation MILP", 100.0, 90.0)
    assert buf.getvalue() == ""
    assert p.best == 100.0 and p.bound == 90.0


def test_terminal_shows_stage_time_best_and_bound():
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=120)
    with ProgressDisplay(console, limit=30, unit="cycles") as p:
        assert p.active
        p("fusion MILP", 1_234_567.0, 1_000_000.0)
        p("fusion MILP", 2_000_000.0, 900_000.0)  # a worse value never replaces the best
        text = p._render().plain
    assert "fusion MILP" in text and "/ 30 s" in text
    assert "best 1.23457M cycles" in text and "bound 1M cycles" in text
    assert "fusion MILP" in buf.getvalue()
