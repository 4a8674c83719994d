"""Tile groups in our accelerator YAML; the IPU-like and GPU-like examples load and a
config using them passes ``monet-opt validate``."""

from __future__ import annotations

import copy

import pytest
import yaml
from click.testing import CliRunner

from monet_opt.cli import cli
from monet_opt.hardware import load_accelerator
from monet_opt.hardware.yaml_io import (
    HardwareFormatError,
    accelerator_from_dict,
    accelerator_to_dict,
)
from tests.test_cli import EXAMPLES

IPU = EXAMPLES / "hardware" / "ipu_like.yaml"
GPU = EXAMPLES / "hardware" / "gpu_like.yaml"


def test_ipu_like_loads():
    acc = load_accelerator(IPU)
    (tiles,) = acc.compute_cores
    assert tiles.tiles is not None
    assert tiles.tiles.count == 1472 and tiles.tiles.threads == 6
    assert tiles.tile_count == 1472
    sram = tiles.top_memory("I2")
    assert sram is not None and sram.size_bits == 624 * 1024 * 8  # one tile's
    assert tiles.onchip_bits == 1472 * 624 * 1024 * 8  # the group's, ~900 MiB
    # 1,472 tiles x 64 MACs x 2 FLOP x 1.33 GHz = 250.6 TFLOPS FP16
    assert 1472 * tiles.array.n_pes * 2 * acc._extra["clock_hz"] == pytest.approx(250e12, rel=0.01)
    # 8 TB/s exchange over 1,472 tiles at 1.33 GHz
    per_tile = tiles.tiles.exchange_bits_per_cycle * 1472 * acc._extra["clock_hz"] / 8
    assert per_tile == pytest.approx(8e12, rel=0.001)
    assert acc.dram is not None and acc.dram_bandwidth == 120


def test_gpu_like_loads():
    acc = load_accelerator(GPU)
    (gpu,) = acc.compute_cores
    assert gpu.sparse is None  # spikes and sparse layers run dense
    assert gpu.tile_count == 1 and gpu.tiles is not None and gpu.tiles.sync_cycles > 0
    # 110,592 FP16 MACs x 2 x 1.41 GHz = 312 TFLOPS dense
    assert gpu.array.n_pes * 2 * acc._extra["clock_hz"] == pytest.approx(312e12, rel=0.001)
    assert gpu.top_memory("I1").name == "l2"
    assert gpu.top_memory("I1").size_bits == 40 * 2**20 * 8
    assert acc.dram_bandwidth * acc._extra["clock_hz"] / 8 == pytest.approx(1.555e12, rel=0.001)


def test_tiles_round_trip_and_errors():
    acc = load_accelerator(IPU)
    doc = accelerator_to_dict(acc)
    back = accelerator_from_dict(copy.deepcopy(doc), "rt.yaml")
    assert back.core(0).tiles == acc.core(0).tiles
    bad = copy.deepcopy(doc)
    bad["cores"][0]["tiles"]["count"] = 0
    with pytest.raises(HardwareFormatError, match=r"cores\[0\]\.tiles\.count"):
        accelerator_from_dict(bad, "bad.yaml")
    bad = copy.deepcopy(doc)
    bad["cores"][0]["tiles"]["size"] = 3
    with pytest.raises(HardwareFormatError, match="size"):
        accelerator_from_dict(bad, "bad.yaml")
    bad = copy.deepcopy(doc)
    bad["cores"][1]["tiles"] = {"count": 2}
    with pytest.raises(HardwareFormatError, match=r"cores\[1\]\.tiles.*kind compute"):
        accelerator_from_dict(bad, "bad.yaml")


@pytest.mark.parametrize("hw", [IPU, GPU])
def test_validate_accepts_a_config_on_it(tmp_path, hw):
    cfg = {
        "workload": {
            "model": "mlp",
            "options": {"batch": 48, "sizes": [2312, 256, 10]},
            "optimizer": "adamw",
        },
        "accelerator": str(hw),
        "objective": "latency",
        "schedule": {"memory": "capacity"},
        "solver": {"time_limit_s": 10},
    }
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(cfg))
    r = CliRunner().invoke(cli, ["validate", str(p)])
    assert r.exit_code == 0, r.output + (r.stderr or "")
