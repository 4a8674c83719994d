"""PNG plots of a schedule, its memory occupancy and its footprint (monet_opt.report.plots)."""

from __future__ import annotations

from types import SimpleNamespace

from monet_opt.report import plot_footprint, plot_memory, plot_schedule
from monet_opt.schedule.types import Schedule
from tests.report.helpers import PNG_MAGIC, fake_schedule


def test_plots_real_schedule(tmp_path, problem, ga_result):
    s = plot_schedule(ga_result.schedule, tmp_path / "schedule.png", problem)
    m = plot_memory(ga_result.schedule, tmp_path / "memory.png")
    for p in (s, m):
        assert p.read_bytes()[:8] == PNG_MAGIC and p.stat().st_size > 5000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["memory.png", "schedule.png"]


def test_plots_fake_schedule_without_problem(tmp_path):
    sched = fake_schedule()
    fake_problem = SimpleNamespace(core_ids=(0, 1), accelerator=SimpleNamespace(offchip_core_id=9))
    p = plot_schedule(sched, tmp_path / "g.png", fake_problem, title="fake")
    assert p.read_bytes()[:8] == PNG_MAGIC
    p = plot_memory(sched, tmp_path / "m.png")
    assert p.read_bytes()[:8] == PNG_MAGIC
    # no problem at all, and an empty memory dict
    empty = Schedule(**{**sched.__dict__, "memory": {}})
    assert plot_schedule(empty, tmp_path / "g2.png").exists()
    assert plot_memory(empty, tmp_path / "m2.png").exists()


def test_plot_footprint(tmp_path, ck_problem, ck_result):
    res, budget = ck_result
    p = plot_footprint(res.schedule, tmp_path / "fp.png", budget_bits=budget, store_all_bits=2e4)
    assert p.read_bytes()[:8] == PNG_MAGIC and p.stat().st_size > 5000
    # without a budget, and a schedule without a footprint
    assert plot_footprint(res.schedule, tmp_path / "fp2.png").exists()
    assert plot_footprint(fake_schedule(), tmp_path / "fp3.png").exists()
    assert sorted(q.name for q in tmp_path.iterdir()) == ["fp.png", "fp2.png", "fp3.png"]
