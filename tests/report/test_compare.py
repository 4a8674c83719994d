"""Compare report: hypervolume, CSV, convergence / Pareto plots, Markdown + HTML report."""

from __future__ import annotations

import csv
import math

import matplotlib.image as mpimg
import numpy as np
import pytest

from monet_opt.report.compare import (
    CSV_COLUMNS,
    compare_rows,
    image_caption,
    markdown_to_html,
    pareto_summary,
    plot_convergence,
    plot_pareto_compare,
    space_verdict,
    write_compare_csv,
    write_report,
)

MIB_BITS = 8 * 2**20


# -- fake compare.json ------------------------------------------------------------------


def _history(rng, start, final, gens, pop=32, secs_per_gen=0.1):
    """``[evals, seconds, best_so_far]`` decaying from ``start`` towards ``final``."""
    hist = [[1, 0.004, start]]
    best = start
    for g in range(1, gens + 1):
        target = final + (start - final) * math.exp(-g / (gens / 4))
        if rng.random() < 0.6:
            best = min(best, target * (1 + 0.01 * rng.random()))
        hist.append([1 + g * pop, round(g * secs_per_gen * (1 + 0.1 * rng.random()), 4), best])
    hist[-1][2] = min(hist[-1][2], final)
    return hist


def _runs(rng, seeds, start, finals, gens):
    runs = []
    for seed, final in zip(seeds, finals, strict=True):
        h = _history(rng, start, final, gens)
        runs.append(
            {"seed": seed, "best": h[-1][2], "simulated": h[-1][2], "evaluations": h[-1][0],
             "seconds": h[-1][1] + 0.05, "generations": gens, "stop_reason": "time_limit",
             "feasible": True, "history": h}
        )  # fmt: skip
    return runs


def _summary(runs, milp_obj, bound):
    bests = [r["best"] for r in runs if r["feasible"] and r["best"] is not None]
    med = float(np.median(bests))
    return {
        "median": med, "min": min(bests), "max": max(bests),
        "q1": float(np.percentile(bests, 25)), "q3": float(np.percentile(bests, 75)),
        "gap_to_milp_median": (med - milp_obj) / milp_obj,
        "gap_to_milp_min": (min(bests) - milp_obj) / milp_obj,
        "gap_to_milp_max": (max(bests) - milp_obj) / milp_obj,
        "gap_to_bound_median": (med - bound) / bound,
        "seconds_median": float(np.median([r["seconds"] for r in runs])),
        "evaluations_median": float(np.median([r["evaluations"] for r in runs])),
    }  # fmt: skip


def make_data() -> dict:
    """A realistic compare.json: allocation (latency, MILP optimal, warm start),
    checkpointing (energy, MILP at its time limit, one infeasible and one one-point GA
    run, a GA seed better than the incumbent) and a checkpointing Pareto comparison."""
    rng = np.random.default_rng(7)
    seeds = [0, 1, 2, 3, 4]

    alloc_runs = _runs(rng, seeds, 1.46e6, [1.2e6, 1.2112e6, 1.2309e6, 1.2051e6, 1.2188e6], 20)
    alloc = {
        "space": "allocation",
        "title": "Core allocation (Stream-style: a core per layer)",
        "metric": "latency", "unit": "cycles", "metric_label": "makespan (cycles)",
        "milp": {"status": "optimal", "objective": 1.2e6, "simulated": 1.2e6, "bound": 1.2e6,
                 "gap": 0.0, "seconds": 0.31, "proven_optimal": True, "scope": None,
                 "warm_started": {"seconds": 0.22, "objective": 1.2e6, "status": "optimal"}},
        "ga": {"algorithm": "ga", "preset": "stream", "runs": alloc_runs,
               "summary": _summary(alloc_runs, 1.2e6, 1.2e6)},
    }  # fmt: skip

    ck_runs = _runs(rng, seeds[:3], 4.1e9, [3.50e9, 3.545e9, 3.561e9], 15)
    ck_runs.append(
        {"seed": 3, "best": 3.9e9, "simulated": 3.9e9, "evaluations": 1, "seconds": 0.01,
         "generations": 0, "stop_reason": "no_choice", "feasible": True,
         "history": [[1, 0.01, 3.9e9]]}
    )  # fmt: skip
    ck_runs.append(
        {"seed": 4, "best": None, "simulated": None, "evaluations": 480, "seconds": 1.5,
         "generations": 15, "stop_reason": "time_limit", "feasible": False,
         "history": [[1, 0.004, None], [33, 0.1, None]]}
    )  # fmt: skip
    ck = {
        "space": "checkpointing",
        "title": "Activation checkpointing (keep / recompute)",
        "metric": "energy", "unit": "pJ", "metric_label": "step energy (pJ)",
        "milp": {"status": "time_limit", "objective": 3.52e9, "simulated": 3.53e9,
                 "bound": 3.45e9, "gap": 0.0199, "seconds": 5.0, "proven_optimal": False,
                 "scope": "keep set only; the schedule order is fixed", "warm_started": None},
        "ga": {"algorithm": "mu_plus_lambda", "preset": "monet", "runs": ck_runs,
               "summary": _summary(ck_runs, 3.52e9, 3.45e9)},
    }  # fmt: skip

    exact = [[x * MIB_BITS, y] for x, y in
             [(2.0, 5.2e5), (3.0, 3.1e5), (4.5, 1.9e5), (6.0, 9.0e4), (8.0, 3.0e4),
              (10.0, 0.0)]]  # fmt: skip
    fronts = []
    for seed in seeds:
        pts = [[x * (1 + 0.04 * rng.random()), y * (1 + 0.15 * rng.random()) + 4e3 * seed]
               for x, y in exact[1:] if rng.random() < 0.85]  # fmt: skip
        pts.append([exact[-1][0] * 1.08, 1.0e4])  # dominated-ish extra point
        fronts.append({"seed": seed, "points": pts, "evaluations": 120 + seed,
                       "seconds": 0.8 + 0.05 * seed})  # fmt: skip
    pareto = {
        "space": "checkpointing",
        "x": {"name": "peak activation footprint", "unit": "bits"},
        "y": {"name": "recompute", "unit": "cycles"},
        "exact": exact,
        "exact_seconds": 1.2,
        "ga_fronts": fronts,
        "reference": None,
    }
    return {
        "config": "examples/resnet18_cifar_edge.yaml",
        "workload": "resnet18-cifar",
        "accelerator": "tpu_like_quad_core",
        "objective": "latency",
        "budget": {"evals": 2000, "seconds": 5.0, "equal_wall_time": False},
        "seeds": seeds,
        "spaces": [alloc, ck],
        "pareto": pareto,
        "wall_seconds": 123.4,
    }


@pytest.fixture(scope="module")
def data():
    return make_data()


@pytest.fixture(scope="module")
def images(tmp_path_factory, data):
    d = tmp_path_factory.mktemp("compare_imgs")
    out = {}
    for s in data["spaces"]:
        out[f"convergence_{s['space']}"] = plot_convergence(s, d / f"conv_{s['space']}.png")
    out["pareto"] = plot_pareto_compare(data["pareto"], d / "pareto.png")
    return out


# -- hypervolume ------------------------------------------------------------------------


def test_pareto_summary(data):
    s = pareto_summary(data["pareto"])
    assert s["hv_exact"] > 0 and len(s["per_seed"]) == 5
    assert all(0 < p["ratio"] < 1 for p in s["per_seed"])
    assert s["ratio_min"] <= s["ratio_median"] <= s["ratio_max"] <= s["ratio_union"] < 1
    assert s["n_exact"] == 6 and len(s["reference"]) == 2
    # identical GA front -> ratio 1
    same = {"exact": data["pareto"]["exact"], "ga_fronts": [{"seed": 0,
            "points": data["pareto"]["exact"]}], "reference": None}  # fmt: skip
    s1 = pareto_summary(same)
    assert s1["ratio_union"] == pytest.approx(1.0) and s1["ratio_median"] == pytest.approx(1.0)
    none = pareto_summary({"exact": [], "ga_fronts": []})
    assert none["ratio_median"] is None and none["ratio_union"] is None


# -- CSV --------------------------------------------------------------------------------


def test_compare_rows_and_csv(tmp_path, data):
    rows = compare_rows(data)
    # allocation: milp + milp_warm + 5 GA; checkpointing: milp + 5 GA
    assert len(rows) == 7 + 6
    assert [r["method"] for r in rows[:3]] == ["milp", "milp_warm", "ga"]
    assert rows[0]["seed"] is None and rows[2]["seed"] == 0
    ga0 = rows[2]
    assert ga0["gap_to_milp"] == pytest.approx((ga0["value"] - 1.2e6) / 1.2e6)
    infeasible = [r for r in rows if r["space"] == "checkpointing" and r["seed"] == 4][0]
    assert infeasible["value"] is None and infeasible["feasible"] is False
    path = write_compare_csv(tmp_path / "compare.csv", data)
    with open(path, newline="") as fh:
        got = list(csv.DictReader(fh))
    assert tuple(got[0]) == CSV_COLUMNS and len(got) == len(rows)
    assert got[0]["value"] == repr(1.2e6) and got[0]["seed"] == ""
    assert got[-1]["value"] == "" and got[-1]["status"] == "time_limit"


# -- plots ------------------------------------------------------------------------------


def test_plots_render(images):
    for key, path in images.items():
        assert path.is_file() and path.stat().st_size > 1000, key
        img = mpimg.imread(path)
        assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 400, key


def test_plot_convergence_degenerate(tmp_path):
    run = {"seed": 0, "best": None, "feasible": False, "history": []}
    entry = {"space": "fusion", "unit": "cycles", "milp": None, "ga": {"runs": [run]}}
    p = plot_convergence(entry, tmp_path / "c.png")
    assert mpimg.imread(p).shape[2] in (3, 4)
    p = plot_pareto_compare({"exact": [], "ga_fronts": []}, tmp_path / "p.png")
    assert p.stat().st_size > 0


# -- report -----------------------------------------------------------------------------


def test_verdicts(data):
    alloc, ck = data["spaces"]
    v = space_verdict(alloc)
    g = alloc["ga"]["summary"]["gap_to_milp_median"]
    assert f"{100 * g:.2f} % above the proven optimum" in v and "MILP: 0.31 s" in v
    v2 = space_verdict(ck)
    assert "MILP incumbent (time_limit" in v2
    entry = {**alloc, "ga": {**alloc["ga"], "summary": {**alloc["ga"]["summary"],
             "gap_to_milp_median": -0.01}}}  # fmt: skip
    assert "below the proven optimum" in space_verdict(entry)


def test_image_caption():
    titles = {"allocation": "Core allocation", "allocation_magma": "MAGMA allocation"}
    assert image_caption("gantt_milp") == "Schedule (Gantt chart) of the MILP solution"
    assert image_caption("memory_ga", titles) == "Memory occupancy of the best GA solution"
    assert image_caption("convergence_allocation_magma", titles).endswith("MAGMA allocation")
    assert image_caption("weird_key") == "weird_key"


def test_markdown_to_html():
    md = (
        "# T\n\npara *em* **b** `c` a\\|b\n\n"
        "| a | b |\n|---|---:|\n| 1 | x\\|y |\n\n![cap](x.png)\n"
    )
    out = markdown_to_html(md, lambda s: "data:image/png;base64,AAA" if s == "x.png" else None)
    assert "<h1>T</h1>" in out and "<em>em</em>" in out and "<strong>b</strong>" in out
    assert "<code>c</code>" in out and "a|b" in out
    assert '<td style="text-align:right">x|y</td>' in out
    assert 'src="data:image/png;base64,AAA"' in out
    assert "image missing" in markdown_to_html("![c](y.png)", lambda s: None)


def test_write_report(tmp_path, data, images):
    extra = dict(images)
    extra["gantt_milp"] = images["pareto"]  # any PNG will do
    extra["custom_thing"] = images["pareto"]
    extra["memory_ga"] = tmp_path / "does_not_exist.png"
    md_path, html_path = write_report(tmp_path / "out", data, extra)
    md, page = md_path.read_text(), html_path.read_text()
    assert md_path.name == "report.md" and html_path.name == "report.html"
    for text in (md, page):
        assert "resnet18-cifar" in text and "tpu_like_quad_core" in text
        assert "1,200,000 cc" in text  # MILP objective
        assert "3.520 mJ" in text  # checkpointing MILP incumbent
        assert "0.31 s" in text and "2 min 03 s" in text
        assert "Schedule (Gantt chart) of the MILP solution" in text
        assert "custom_thing" in text
    summ = pareto_summary(data["pareto"])
    assert f"{summ['ratio_union']:.3f}" in page and f"{summ['ratio_median']:.3f}" in page
    g = data["spaces"][0]["ga"]["summary"]["gap_to_milp_median"]
    assert f"{100 * g:+.2f} %" in page
    assert page.count("data:image/png;base64,") == 5  # 2 convergence, pareto, gantt, custom
    assert "image missing" in page
    assert "http://" not in page and "https://" not in page
    assert "conv_allocation.png" in md and "base64" not in md
    n_tables = sum(1 for ln in md.splitlines() if ln.startswith("|---"))
    assert page.count("<table>") == n_tables == 5  # settings, overview, 2 spaces, pareto


def test_convergence_plot_draws_the_exact_solve_over_time(tmp_path):
    """The seconds panel shows the exact solve's incumbent and bound as best-so-far
    step curves from ``milp["trace"]``."""
    from monet_opt.report.compare import _milp_over_time

    milp = {
        "trace": [[0.5, 120.0, 80.0], [1.0, 130.0, 90.0], [2.0, 100.0, None], [3.0, 100.0, 95.0]]
    }
    curves = _milp_over_time(milp)
    assert list(curves["inc_t"][1]) == [120.0, 120.0, 100.0, 100.0]  # best so far
    assert list(curves["bound_t"][1]) == [80.0, 90.0, 95.0]  # never falls
    assert _milp_over_time({"trace": [[1.0, 5.0, 4.0]]}) == {}  # one point: no curve
    entry = {
        "space": "joint", "unit": "cycles", "metric": "latency",
        "milp": {"objective": 100.0, "simulated": 100.0, "bound": 95.0, "seconds": 3.0,
                 "status": "feasible", **milp},
        "ga": {"runs": [{"seed": 0, "best": 110.0, "feasible": True,
                         "history": [[1, 0.1, 150.0], [50, 2.5, 110.0]]}]},
    }  # fmt: skip
    p = plot_convergence(entry, tmp_path / "c.png")
    assert mpimg.imread(p).shape[0] > 100
