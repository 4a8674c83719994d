"""Checkpointing front: rows, CSV, plot and tables (monet_opt.report.pareto)."""

from __future__ import annotations

import numpy as np
import pytest
from rich.console import Console

from monet_opt.formulations.checkpointing import (
    checkpoint_front,
    min_feasible_budget,
    store_all_footprint,
)
from monet_opt.formulations.options import SolverOptions
from monet_opt.report.pareto import (
    CSV_COLUMNS,
    pareto_rows,
    pareto_tables,
    plot_pareto,
    write_pareto_csv,
)
from tests.report.helpers import MIB, PNG_MAGIC


def test_pareto_report(tmp_path, ck_problem):
    fmin, fall = min_feasible_budget(ck_problem), store_all_footprint(ck_problem)
    budgets = list(np.linspace(fmin, fall, 3))
    fronts = {
        obj: checkpoint_front(ck_problem, budgets, None, obj, SolverOptions(time_limit=20))
        for obj in ("latency", "energy")
    }
    rows = pareto_rows(fronts, budgets)
    assert len(rows) == 6 and all(set(r) == set(CSV_COLUMNS) for r in rows)
    assert [r["status"] for r in rows] == ["optimal"] * 6  # small enough to prove
    assert rows[0]["budget_mib"] == pytest.approx(fmin / MIB)
    assert rows[2]["objective"] == 0.0 and rows[2]["n_recomputed"] == 0
    rows[1] = {**rows[1], "status": "time_limit", "gap": None}  # a non-optimal point
    p = write_pareto_csv(tmp_path / "pareto.csv", rows)
    lines = p.read_text().splitlines()
    assert lines[0] == ",".join(CSV_COLUMNS) and len(lines) == 7
    assert ",time_limit," in lines[2] and ",," in lines[2]  # missing gap -> empty field
    png = plot_pareto(rows, tmp_path / "pareto.png", min_budget_bits=fmin, store_all_bits=fall)
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert plot_pareto([], tmp_path / "empty.png").exists()
    console = Console(record=True, width=80)
    for t in pareto_tables(rows):
        console.print(t)
    text = console.export_text()
    assert "objective latency" in text and "objective energy" in text and "time_limit" in text
    assert "…" not in text  # fits 80 columns
