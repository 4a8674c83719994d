"""Terminal summary (monet_opt.report.summary)."""

from __future__ import annotations

from rich.console import Console

from monet_opt.report import print_summary
from tests.report.helpers import fake_joint


def test_summary_renders(problem, ga_result):
    console = Console(record=True, width=120)
    print_summary(objective="latency", ga=ga_result, wall_times={"ga": 0.5}, console=console)
    text = console.export_text()
    for needle in ("latency", "compute", "DRAM", "EDP", "peak", "GA (DEAP)", "Wall times"):
        assert needle in text


def test_summary_joint(ck_result):
    res, budget = ck_result
    console = Console(record=True, width=100)
    print_summary(objective="latency", joint=fake_joint(res), budget_bits=budget, console=console)
    text = console.export_text()
    for needle in ("Decisions (exact; iterated, 1 iteration;", "checkpointing", "final",
                   "activation footprint: peak", "<= budget", "joint MILP"):  # fmt: skip
        assert needle in text, text
    assert "OVER BUDGET" not in text
