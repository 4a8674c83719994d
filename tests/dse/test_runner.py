"""Sweeps: same results for any number of workers and for pool vs Dask, failing designs
recorded, resume, NSGA-II reproducibility."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from monet_opt.api.dse import run_dse
from monet_opt.dse.runner import front
from monet_opt.dse.store import DB_NAME, Store
from monet_opt.errors import InputError
from tests.dse.conftest import plain

HAS_DASK = importlib.util.find_spec("distributed") is not None


def test_one_vs_two_workers_same_points_and_results(tiny_space, tmp_path: Path) -> None:
    one = run_dse(tiny_space, budget=10, seed=3, workers=1, out_dir=tmp_path / "w1")
    two = run_dse(tiny_space, budget=10, seed=3, workers=2, out_dir=tmp_path / "w2")
    assert plain(one.records) == plain(two.records)
    assert [r["id"] for r in one.records] == [f"p{i:06d}" for i in range(10)]
    assert len({str(sorted(r["params"].items())) for r in one.records}) == 10
    assert one.summary["counts"] == two.summary["counts"]
    # another seed, other points
    other = run_dse(tiny_space, budget=10, seed=4, workers=1, out_dir=tmp_path / "s4")
    assert [r["params"] for r in other.records] != [r["params"] for r in one.records]


@pytest.mark.skipif(not HAS_DASK, reason="dask.distributed not installed (monet-opt[dask])")
def test_pool_vs_dask_local_cluster_same_results(tiny_space, tmp_path: Path) -> None:
    pool = run_dse(tiny_space, budget=8, seed=1, workers=2, out_dir=tmp_path / "pool")
    dask = run_dse(tiny_space, budget=8, seed=1, cluster="local:2", out_dir=tmp_path / "dask")
    assert plain(pool.records) == plain(dask.records)


def test_failing_design_recorded_not_fatal(tiny_space, tmp_path: Path) -> None:
    tiny_space["parameters"]["dram_gbit"] = [0.0001]  # too small for weights + moments
    tiny_space["parameters"]["x_pe"] = [1, 2, 3]
    run = run_dse(tiny_space, budget=4, workers=1, out_dir=tmp_path / "f")
    assert run.summary["counts"]["failed"] == 4
    for r in run.records:
        assert r["status"] == "failed"
        assert "DRAM" in r["reason"] or "dram" in r["reason"]
        assert r["objectives"] == {}
    store = Store(tmp_path / "f" / DB_NAME)
    assert store.count() == 4
    store.close()


def test_grid_and_constraints(tiny_space, tmp_path: Path) -> None:
    tiny_space["parameters"] = {"x_pe": [1, 2], "sram_mib": [0.5, 1]}
    tiny_space["constraints"] = ["area_mm2 <= 30"]
    run = run_dse(tiny_space, budget=100, sampler="grid", workers=1, out_dir=tmp_path / "g")
    assert [r["params"] for r in run.records] == [
        {"x_pe": 1, "sram_mib": 0.5},
        {"x_pe": 1, "sram_mib": 1.0},
        {"x_pe": 2, "sram_mib": 0.5},
        {"x_pe": 2, "sram_mib": 1.0},
    ]
    for r in run.records:  # an area over the bound is infeasible, never run
        area = r["objectives"]["area_mm2"]
        assert (r["status"] == "infeasible") == (area > 30)
        if r["status"] == "infeasible":
            assert "area_mm2 <= 30" in r["reason"] and "latency_cycles" not in r["objectives"]
        else:
            assert r["objectives"]["latency_cycles"] > 0 and r["metrics"]["memory_fits"]
    assert run.notes and "only 4 distinct points" in run.notes[0]
    assert front(run.records, ["latency_cycles", "energy_pj", "area_mm2"])


def test_resume_continues_and_refuses_a_different_sweep(tiny_space, tmp_path: Path) -> None:
    out = tmp_path / "r"
    first = run_dse(tiny_space, budget=5, seed=2, workers=1, out_dir=out)
    with pytest.raises(InputError, match="--resume"):
        run_dse(tiny_space, budget=8, seed=2, workers=1, out_dir=out)
    more = run_dse(tiny_space, budget=8, seed=2, workers=1, out_dir=out, resume=True)
    fresh = run_dse(tiny_space, budget=8, seed=2, workers=1, out_dir=tmp_path / "fresh")
    assert plain(more.records) == plain(fresh.records)
    assert plain(more.records[:5]) == plain(first.records)
    with pytest.raises(InputError, match="seed"):
        run_dse(tiny_space, budget=8, seed=9, workers=1, out_dir=out, resume=True)
    tiny_space["objectives"] = ["latency", "area"]
    with pytest.raises(InputError, match="space file"):
        run_dse(tiny_space, budget=8, seed=2, workers=1, out_dir=out, resume=True)


def test_nsga2_reproducible_and_within_budget(tiny_space, tmp_path: Path) -> None:
    a = run_dse(tiny_space, budget=14, sampler="nsga2", seed=5, workers=1, out_dir=tmp_path / "a")
    b = run_dse(tiny_space, budget=14, sampler="nsga2", seed=5, workers=2, out_dir=tmp_path / "b")
    assert plain(a.records) == plain(b.records)
    assert len(a.records) == 14
    assert len({str(sorted(r["params"].items())) for r in a.records}) == 14
    assert a.summary["sampler"] == "nsga2" and "nsga2" in a.summary["hypervolume"]


def test_bad_options(tiny_space, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--sampler"):
        run_dse(tiny_space, budget=2, sampler="sobol", out_dir=tmp_path / "x")
    with pytest.raises(InputError, match="--cluster"):
        run_dse(tiny_space, budget=2, cluster="slurm:3", out_dir=tmp_path / "y")
    tiny_space["parameters"]["sram_mib"] = {"low": 0.5, "high": 1.0}
    with pytest.raises(InputError, match="parameters.sram_mib"):
        run_dse(tiny_space, budget=2, sampler="grid", out_dir=tmp_path / "z")


def test_fast_then_exact_polishes_the_front(tiny_space, tmp_path: Path) -> None:
    tiny_space["inner"] = {"mode": "fast+exact", "time_limit_s": 5.0, "polish": 2}
    run = run_dse(tiny_space, budget=8, seed=0, workers=1, out_dir=tmp_path / "p")
    polished = [r for r in run.records if "polished" in r["metrics"]]
    assert 1 <= len(polished) <= 2
    for r in polished:
        assert r["metrics"]["polished"] is True
        assert "fast_latency_cycles" in r["metrics"] and "gap" in r["metrics"]
        assert r["objectives"]["latency_cycles"] > 0
    assert any("fast+exact" in n for n in run.notes)


@pytest.mark.skipif(not HAS_DASK, reason="dask.distributed not installed (monet-opt[dask])")
def test_existing_scheduler_address(tiny_space, tmp_path: Path) -> None:
    from dask.distributed import LocalCluster

    inline = run_dse(tiny_space, budget=4, seed=6, workers=1, out_dir=tmp_path / "inline")
    # a cluster of thread workers behind a real scheduler, reached over tcp
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as lc:
        run = run_dse(
            tiny_space, budget=4, seed=6, scheduler=lc.scheduler_address, out_dir=tmp_path / "tcp"
        )
    assert plain(run.records) == plain(inline.records)


def test_a_sweep_stopped_before_its_first_point_can_start_over(tiny_space, tmp_path: Path) -> None:
    out = tmp_path / "early"
    with pytest.raises(InputError, match="--cluster"):  # fails after the store is opened
        run_dse(tiny_space, budget=2, seed=1, cluster="local:0", out_dir=out)
    assert (out / DB_NAME).is_file()
    run = run_dse(tiny_space, budget=2, seed=2, workers=1, out_dir=out)  # no --resume needed
    assert len(run.records) == 2


@pytest.mark.parametrize("sampler", ["random", "nsga2"])
def test_interrupted_then_resumed_equals_uninterrupted(tiny_space, tmp_path: Path, sampler) -> None:
    whole = run_dse(
        tiny_space, budget=14, sampler=sampler, seed=8, workers=1, out_dir=tmp_path / "w"
    )

    def stop_after_6(done, total, counts, best, rate) -> None:
        if done >= 6:
            raise KeyboardInterrupt

    out = tmp_path / "i"
    with pytest.raises(KeyboardInterrupt):
        run_dse(tiny_space, budget=14, sampler=sampler, seed=8, workers=1, out_dir=out,
                progress=stop_after_6)  # fmt: skip
    store = Store(out / DB_NAME)
    assert store.count() == 6
    store.close()
    resumed = run_dse(
        tiny_space, budget=14, sampler=sampler, seed=8, workers=1, out_dir=out, resume=True
    )
    assert plain(resumed.records) == plain(whole.records)
