"""Output files of the hardware DSE (:mod:`monet_opt.report.dse`) on hand-made records."""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path
from typing import Any

import pytest

from monet_opt.hardware import load_accelerator
from monet_opt.hardware.yaml_io import accelerator_to_dict, load_monet_accelerator
from monet_opt.report.dse import (
    OUTPUT_NAMES,
    best_per_objective,
    front_indices,
    separation,
    write_dse_outputs,
)
from tests.report.helpers import PNG_MAGIC

ROOT = Path(__file__).resolve().parents[2]
ACC_FILE = ROOT / "examples" / "hardware" / "tpu_like_quad_core.yaml"
OBJECTIVES = ["latency_cycles", "energy_pj", "area_mm2"]

# id: (status, (latency cycles, energy pJ, area mm²), params)
POINTS: dict[str, tuple[str, tuple[float, float, float] | None, dict[str, Any]]] = {
    "p00": ("ok", (100.0, 50.0, 3.0), {"sram_mib": 2, "cores": 4, "dataflow": "KC"}),
    "p01": ("ok", (200.0, 40.0, 3.0), {"sram_mib": 4, "cores": 2, "dataflow": "KC"}),
    "p02": ("ok", (150.0, 60.0, 4.0), {"sram_mib": 1, "cores": 4, "dataflow": "OX"}),
    "p03": ("ok", (300.0, 30.0, 1.0), {"sram_mib": 2, "cores": 1, "dataflow": "KC"}),
    "p04": ("ok", (100.0, 50.0, 3.0), {"sram_mib": 0.5, "cores": 4, "dataflow": "OX"}),
    "p05": ("failed", None, {"sram_mib": 0.5, "cores": 8, "dataflow": "KC"}),
    "p06": ("infeasible", None, {"sram_mib": 1, "cores": 8, "dataflow": "OX"}),
    "p07": ("ok", (400.0, 100.0, 0.5), {"sram_mib": 4, "cores": 1, "dataflow": "OX"}),
    "p08": ("ok", (120.0, 45.0, 5.0), {"sram_mib": 2, "cores": 8, "dataflow": "KC"}),
    "p09": ("ok", (math.nan, 45.0, 2.0), {"sram_mib": 1, "cores": 2, "dataflow": "KC"}),
    "p10": ("ok", (500.0, 200.0, 10.0), {"cores": 2, "dataflow": "OX"}),  # no sram_mib
}
# By hand: p02 and p10 are dominated by p00, p04 equals p00 (the first is kept), p09 has
# no finite latency, p05/p06 did not run.
FRONT = {"p00", "p01", "p03", "p07", "p08"}
BEST = {"latency_cycles": "p00", "energy_pj": "p03", "area_mm2": "p07"}
REASONS = {"p05": "solver error: HiGHS crashed", "p06": "memory does not fit: sram"}


@pytest.fixture(scope="module")
def acc_dict() -> dict[str, Any]:
    return accelerator_to_dict(load_accelerator(ACC_FILE))


def make_records(acc: dict[str, Any] | None) -> list[dict[str, Any]]:
    recs = []
    for i, (pid, (status, objs, params)) in enumerate(POINTS.items()):
        rec: dict[str, Any] = {
            "id": pid,
            "sampler": "random" if i % 2 == 0 else "grid",
            "index": i,
            "params": dict(params),
            "status": status,
            "reason": REASONS.get(pid),
            "objectives": None,
            "metrics": {"seconds": 0.01 * i, "memory_fits": status == "ok"},
            "accelerator": acc,
        }
        if objs is not None:
            lat, en, area = objs
            rec["objectives"] = {
                "latency_cycles": lat,
                "energy_pj": en,
                "area_mm2": area,
                "edp": lat * en,
            }
            rec["metrics"]["latency_cycles"] = {"resnet18": lat}  # a nested metric
            rec["metrics"]["gap"] = math.inf if pid == "p02" else 0.0
        recs.append(rec)
    return recs[::-1]  # finishing order need not be sampling order


def make_summary(objectives: list[str] = OBJECTIVES) -> dict[str, Any]:
    return {
        "space_file": "examples/dse/edge_space.yaml",
        "space": {"sram_mib": [0.5, 1, 2, 4], "cores": [1, 2, 4, 8], "dataflow": ["KC", "OX"]},
        "objectives": list(objectives),
        "constraints": ["area_mm2 <= 10"],
        "budget": len(POINTS),
        "sampler": "random",
        "seed": 7,
        "inner_mode": "fast",
        "workloads": [{"name": "resnet18_cifar", "weight": 1.0}],
        "seconds": 3.5,
        "points_per_second": len(POINTS) / 3.5,
        "counts": {"ok": 9, "failed": 1, "infeasible": 1},
        "hypervolume": {"random": 0.42, "grid": 0.37},
    }


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def section(md: str, title: str) -> str:
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", md, re.S | re.M)
    assert m, f"no section {title!r}"
    return m.group(1)


@pytest.fixture(scope="module")
def written(tmp_path_factory, acc_dict) -> tuple[Path, dict[str, Path]]:
    out = tmp_path_factory.mktemp("dse")
    (out / "dse.sqlite").write_bytes(b"not touched")
    (out / ".dse-outputs-killed").mkdir()  # left by a killed run
    return out, write_dse_outputs(out, make_summary(), make_records(acc_dict))


# -- pure helpers -------------------------------------------------------------------------


def test_front_and_best_by_hand():
    recs = sorted(make_records(None), key=lambda r: r["index"])
    ids = [r["id"] for r in recs]
    assert {ids[i] for i in front_indices(recs, OBJECTIVES)} == FRONT
    assert {k: ids[i] for k, i in best_per_objective(recs, OBJECTIVES).items()} == BEST
    assert [ids[i] for i in front_indices(recs, ["area_mm2"])] == ["p07"]
    assert front_indices(recs, []) == []


def test_separation_sentences():
    s = separation("sram_mib", [2, 4, 2, None], [1, 0.5, 1, 4])
    assert s.sentence == "all front points have `sram_mib` >= 2 (rest: 25 % do)"
    assert s.n_front == 3 and 0 < s.distance <= 1
    s = separation("dataflow", ["KC", "KC"], ["OX", "KC", "OX", "OX"])
    assert s.sentence == "all front points have `dataflow` = KC (rest: 25 % do)"
    s = separation("cores", [1, 2, 4, 8], [1, 2, 4, 8])
    assert "does not separate" in s.sentence and s.distance == 0
    assert "on the front" in separation("x", [1], []).sentence


# -- the written set ----------------------------------------------------------------------


def test_every_file_is_written(written):
    out, paths = written
    for name in OUTPUT_NAMES:
        assert paths[name] == out / name and (out / name).is_file(), name
    assert paths["designs"].is_dir()
    for name in ("pareto.png", "parameter_effects.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC
    assert (out / "dse.sqlite").read_bytes() == b"not touched"
    assert not list(out.glob(".dse-outputs-*"))  # staging folders gone


def test_dse_csv_rows_and_columns(written):
    out, _ = written
    cols, rows = read_csv(out / "dse.csv")
    assert cols == [
        "id", "sampler", "index", "status", "reason",
        "sram_mib", "cores", "dataflow",
        "latency_cycles", "energy_pj", "area_mm2", "edp",
        "seconds", "memory_fits", "latency_cycles.resnet18", "gap",
        "on_front",
    ]  # fmt: skip
    assert [r["id"] for r in rows] == list(POINTS)  # sampling order
    by_id = {r["id"]: r for r in rows}
    assert {i for i, r in by_id.items() if r["on_front"] == "true"} == FRONT
    assert by_id["p09"]["latency_cycles"] == ""  # NaN -> empty
    assert by_id["p02"]["gap"] == ""  # inf -> empty
    assert by_id["p10"]["sram_mib"] == ""  # missing parameter
    assert by_id["p05"]["reason"] == REASONS["p05"] and by_id["p05"]["latency_cycles"] == ""
    assert float(by_id["p08"]["latency_cycles.resnet18"]) == 120.0
    assert by_id["p00"]["memory_fits"] == "true"


def test_pareto_csv_is_the_hand_front(written):
    out, _ = written
    cols, rows = read_csv(out / "pareto.csv")
    assert {r["id"] for r in rows} == FRONT and len(rows) == len(FRONT)
    lat = [float(r["latency_cycles"]) for r in rows]
    assert lat == sorted(lat)  # sorted by the first objective
    assert cols[-1] == "design" and "on_front" not in cols
    assert all(r["design"] == f"designs/{r['id']}.yaml" for r in rows)


def test_designs_round_trip(written, acc_dict):
    out, paths = written
    files = sorted(p.name for p in (out / "designs").iterdir())
    assert files == sorted(f"{i}.yaml" for i in FRONT)
    original = load_accelerator(ACC_FILE)
    for pid in FRONT:
        path = out / "designs" / f"{pid}.yaml"
        assert paths[f"designs/{pid}.yaml"] == path
        acc = load_monet_accelerator(path)
        assert acc.cores == original.cores and acc.links == original.links
        assert acc.offchip_core_id == original.offchip_core_id
        back = accelerator_to_dict(acc)
        dse = back.pop("extra")["dse"]
        assert back == {k: v for k, v in acc_dict.items() if k != "extra"}
        assert dse["id"] == pid and dse["params"] == POINTS[pid][2]
        assert dse["objectives"]["latency_cycles"] == POINTS[pid][1][0]


def test_report_contents(written):
    out, _ = written
    md = (out / "report.md").read_text(encoding="utf-8")
    for text in ("edge_space.yaml", "random", "| seed | 7 |", "| budget | 11 points |", "fast",
                 "resnet18_cifar", "3.14", "`area_mm2 <= 10`"):  # fmt: skip
        assert text in md, text
    space = section(md, "Design space")
    assert "{0.5, 1, 2, 4}" in space and "{KC, OX}" in space
    points = section(md, "Points")
    assert "| failed | 1 |" in points and "| infeasible | 1 |" in points
    assert "| ok | 9 |" in points
    assert REASONS["p05"] in points and REASONS["p06"] in points
    front = section(md, "Pareto front")
    assert "**5 designs**" in front
    for pid in FRONT:
        assert f"[{pid}](designs/{pid}.yaml)" in front
    assert "p02" not in front and "p04" not in front
    best = section(md, "Best design per objective")
    for label, key in (
        ("latency", "latency_cycles"),
        ("energy", "energy_pj"),
        ("area", "area_mm2"),
    ):
        row = next(ln for ln in best.splitlines() if ln.startswith(f"| {label} |"))
        assert f"[{BEST[key]}](designs/{BEST[key]}.yaml)" in row
    hv = section(md, "Hypervolume per sampler")
    assert "| random | 0.42 |" in hv and "| grid | 0.37 |" in hv
    sep = section(md, "What separates the front from the rest")
    # front sram_mib: 2, 4, 2, 4, 2; rest (ok, off the front, with the parameter): 1, 0.5, 1
    assert "All front points have `sram_mib` >= 2 (rest: 0 % do)." in sep
    notes = section(md, "Notes")
    assert "p09" in notes and "`sram_mib`" in notes and "p10" in notes


def test_html_is_self_contained(written):
    out, _ = written
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 2
    assert 'src="pareto.png"' not in page
    assert '<a href="designs/p03.yaml">p03</a>' in page


def test_rewrite_replaces_the_set(tmp_path, acc_dict):
    recs = make_records(acc_dict)
    write_dse_outputs(tmp_path, make_summary(), recs)
    assert len(list((tmp_path / "designs").iterdir())) == len(FRONT)
    paths = write_dse_outputs(tmp_path, make_summary(["area_mm2"]), recs)
    assert sorted(p.name for p in (tmp_path / "designs").iterdir()) == ["p07.yaml"]
    assert [k for k in paths if k.startswith("designs/")] == ["designs/p07.yaml"]
    _, rows = read_csv(tmp_path / "pareto.csv")
    assert [r["id"] for r in rows] == ["p07"]
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "**1 design** of 9 ok points is non-dominated over area" in md
    assert not list(tmp_path.glob(".dse-outputs-*"))


def test_no_ok_point(tmp_path):
    recs = [
        {"id": f"q{i}", "sampler": "random", "index": i, "params": {"sram_mib": 1},
         "status": "failed" if i else "infeasible", "reason": "boom" if i else None,
         "objectives": None, "metrics": {}, "accelerator": None}
        for i in range(3)
    ]  # fmt: skip
    summary = make_summary()
    summary.pop("hypervolume")
    summary["counts"] = {"failed": 2, "infeasible": 1}
    paths = write_dse_outputs(tmp_path / "out", summary, recs)
    for name in OUTPUT_NAMES:
        assert paths[name].is_file(), name
    cols, rows = read_csv(tmp_path / "out" / "pareto.csv")
    assert rows == [] and cols[0] == "id"
    _, rows = read_csv(tmp_path / "out" / "dse.csv")
    assert [r["status"] for r in rows] == ["infeasible", "failed", "failed"]
    md = paths["report.md"].read_text(encoding="utf-8")
    assert "**No design point succeeded** (0 ok of 3)" in md
    assert "| failed | 2 |" in md and "| boom | 2 |" in md and "no reason given" in md
    assert "Best design per objective" not in md
    assert not list(paths["designs"].iterdir())


def test_no_record_at_all(tmp_path):
    paths = write_dse_outputs(tmp_path, {"objectives": ["latency_cycles"]}, [])
    md = paths["report.md"].read_text(encoding="utf-8")
    assert "No point was evaluated." in md
    assert paths["pareto.png"].read_bytes()[:8] == PNG_MAGIC


def test_bad_designs_reasons_and_computed_hypervolume(tmp_path, acc_dict):
    recs = {r["id"]: r for r in make_records(acc_dict)}
    recs["p01"]["accelerator"] = None
    recs["p03"]["accelerator"] = {"format": "monet-opt/accelerator@1", "name": "broken"}
    recs["p05"]["reason"] = "Traceback:\n  line | two\n"
    summary = make_summary(["latency_cycles", "energy_pj"])
    summary.pop("hypervolume")
    summary["reference_point"] = [1000.0, 1000.0]
    paths = write_dse_outputs(tmp_path, summary, list(recs.values()))
    # 2-D front by hand: p00 (100, 50), p08 (120, 45), p01 (200, 40), p03 (300, 30)
    _, rows = read_csv(tmp_path / "pareto.csv")
    assert [r["id"] for r in rows] == ["p00", "p08", "p01", "p03"]
    assert [r["design"] for r in rows] == ["designs/p00.yaml", "designs/p08.yaml", "", ""]
    assert sorted(k for k in paths if k.startswith("designs/")) == [
        "designs/p00.yaml",
        "designs/p08.yaml",
    ]
    md = paths["report.md"].read_text(encoding="utf-8")
    notes = section(md, "Notes")
    assert "p01 has no accelerator" in notes and "p03: its accelerator does not validate" in notes
    assert "| Traceback: line \\| two |" in section(md, "Points")
    # random: p00 (100, 50), p08 (120, 45) -> 900 * 950 + 880 * 5;
    # grid: p01 (200, 40), p03 (300, 30) -> 800 * 960 + 700 * 10
    hv = section(md, "Hypervolume per sampler")
    assert "| random | 859400 | 5 |" in hv and "| grid | 775000 | 4 |" in hv


def test_alike_reasons_are_grouped(tmp_path):
    """Reasons that differ only in their numbers (each point's area) form one row."""
    recs = [
        {"id": f"q{i}", "sampler": "random", "index": i, "params": {"sram_mib": 1},
         "status": "infeasible", "reason": f"area_mm2 <= 400 broken (area {500 + i}.5 mm2)",
         "objectives": None, "metrics": {}, "accelerator": None}
        for i in range(5)
    ]  # fmt: skip
    recs.append({**recs[0], "id": "q9", "index": 9, "reason": "weights do not fit mm2 DRAM"})
    paths = write_dse_outputs(tmp_path / "out", make_summary(), recs)
    md = paths["report.md"].read_text(encoding="utf-8")
    assert "| infeasible | area_mm2 <= 400 broken (area 500.5 mm2) (and alike) | 5 |" in md
    assert "| infeasible | weights do not fit mm2 DRAM | 1 |" in md
    assert "other reasons" not in md
