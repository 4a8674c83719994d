"""``monet-opt dse``: end to end, exit status 2 on bad input, kill -9 then --resume."""

from __future__ import annotations

import copy
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from monet_opt.api.dse import run_dse
from monet_opt.cli import cli
from monet_opt.dse.store import Store
from tests.dse.conftest import TINY_SPACE, plain


def _space_file(tmp_path: Path, **patch) -> Path:
    data = {**TINY_SPACE, **patch}
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_cli_end_to_end_and_designs_load_in_solve(tmp_path: Path) -> None:
    space = _space_file(tmp_path)
    out = tmp_path / "out"
    res = CliRunner().invoke(
        cli, ["dse", str(space), "--budget", "6", "--workers", "1", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert (out / "dse.sqlite").is_file()
    assert "6 points" in res.output
    designs = sorted((out / "designs").glob("*.yaml")) if (out / "designs").is_dir() else []
    for name in ("dse.csv", "pareto.csv", "pareto.png", "report.md", "report.html"):
        assert (out / name).is_file(), name
    assert designs
    from monet_opt import api

    cfg = {
        "workload": {"model": "mlp", "options": {"batch": 2, "sizes": [64, 32, 10]}},
        "accelerator": str(designs[0]),
    }
    run = api.solve(cfg, method="milp", time_limit=5)  # a front design runs in solve
    assert run.milp is not None and run.milp.schedule.latency > 0
    # a second run into the same folder without --resume is refused (exit 2)
    again = CliRunner().invoke(cli, ["dse", str(space), "--budget", "6", "--out", str(out)])
    assert again.exit_code == 2
    assert "--resume" in again.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--budget", "0"], "budget"),
        (["--budget", "3", "--sampler", "sobol"], "sampler"),
        (["--budget", "3", "--cluster", "local:x"], "--cluster"),
    ],
)
def test_cli_bad_options_exit_2(tmp_path: Path, args: list[str], words: str) -> None:
    space = _space_file(tmp_path)
    res = CliRunner().invoke(cli, ["dse", str(space), *args, "--out", str(tmp_path / "o")])
    assert res.exit_code == 2, res.output
    assert words in res.output


def test_cli_bad_space_exit_2(tmp_path: Path) -> None:
    space = _space_file(tmp_path, objectives=["speed"])
    res = CliRunner().invoke(cli, ["dse", str(space), "--budget", "3", "--out", str(tmp_path)])
    assert res.exit_code == 2
    assert f"error: {space}: objectives[0]: invalid value 'speed'" in res.output


def _count(db: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return int(con.execute("SELECT COUNT(*) FROM points").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def _slow_space(tmp_path: Path) -> tuple[Path, dict]:
    """The tiny space on ResNet-18 CIFAR (batch 2, about 40 ms a point), 36 points."""
    data = copy.deepcopy(TINY_SPACE)
    data["workloads"][0]["workload"] = {"model": "resnet18-cifar", "options": {"batch": 2}}
    data["parameters"]["dram_gbit"] = [10]
    data["parameters"]["x_pe"] = [1, 2, 3]
    path = tmp_path / "slow.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path, data


def test_kill_9_mid_sweep_then_resume_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    space, data = _slow_space(tmp_path)
    out = tmp_path / "killed"
    budget = 36
    cmd = [sys.executable, "-m", "monet_opt.cli", "dse", str(space), "--budget", str(budget),
           "--seed", "7", "--workers", "2", "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    db = out / "dse.sqlite"
    deadline = time.monotonic() + 60
    try:
        while _count(db) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.002)
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its pool workers, mid-sweep
    finally:
        proc.wait(timeout=30)
    killed_at = _count(db)
    assert 2 <= killed_at < budget, "the sweep was not interrupted mid-way"
    res = CliRunner().invoke(
        cli,
        [
            "dse",
            str(space),
            "--budget",
            str(budget),
            "--seed",
            "7",
            "--workers",
            "1",
            "--out",
            str(out),
            "--resume",
        ],  # fmt: skip
    )
    assert res.exit_code == 0, res.output
    con = sqlite3.connect(db)
    ids = [r[0] for r in con.execute("SELECT id FROM points ORDER BY idx")]
    con.close()
    assert ids == [f"p{i:06d}" for i in range(budget)]  # nothing lost, nothing twice
    fresh = run_dse(data, budget=budget, seed=7, workers=1, out_dir=tmp_path / "fresh")
    store = Store(db)
    resumed = store.records()
    store.close()
    assert plain(resumed) == plain(fresh.records)
