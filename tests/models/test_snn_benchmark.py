"""``benchmarks/snn_ipu_vs_gpu.py`` (issue 14 §4) and ``examples/snn_nmnist_ipu.yaml``.

On a small network (2 hidden layers of 128, NMNIST preset, B = 48, T = 100) the core of
the benchmark, :func:`ratio_curve` (exact tile placement on ``ipu_like.yaml`` against
``api.solve`` of the dense step on ``gpu_like.yaml``), gives an IPU / GPU throughput ratio
that grows as the activity falls; the first layer of a placement computes no dX for its
data inputs; and the IPU example config loads on the tile chip and solves end to end
with every memory within capacity.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from monet_opt import api
from monet_opt.formulations.tile_placement import tile_layers_from_snn
from monet_opt.models.snn import snn_spec

ROOT = Path(__file__).resolve().parents[2]


def _bench() -> ModuleType:
    name = "snn_ipu_vs_gpu_bench"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / "snn_ipu_vs_gpu.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_ratio_grows_as_activity_falls() -> None:
    bench = _bench()
    acts = (0.5, 0.05, 0.005)
    gpu = bench.gpu_step(2, width=128, time_limit=5.0)
    ratios = bench.ratio_curve(2, acts, width=128, gpu=gpu)
    assert all(r > 0 for r in ratios)
    # strictly growing as activity falls, and by a wide margin end to end
    assert ratios[0] < ratios[1] < ratios[2]
    assert ratios[2] > 5 * ratios[0]
    # the dense GPU step does not depend on activity: the trend is the IPU's
    ipu = [bench.ipu_step(2, a, width=128).samples_per_s for a in acts]
    assert ipu == pytest.approx([r * gpu.samples_per_s for r in ratios])


def test_first_layer_has_no_data_dx() -> None:
    # 100 -> 64 -> 10, B = 2, 10 % input activity, dense dX, 1 op per cycle:
    # layer 1: fwd 2 * 10 + dW 2 * 10 = 40 cycles (no dX of the data);
    # layer 2: fwd + dW 2 * 2 * (10 % of 64 = 6.4) + dense dX 2 * 64 = 153.6
    spec = snn_spec(inputs=100, steps=5, classes=10, batch=2, hidden_width=64,
                    hidden_layers=1, activity=0.1)  # fmt: skip
    l1, l2 = tile_layers_from_snn(spec, ops_per_cycle=1.0)
    assert l1.cycles_per_neuron_step == pytest.approx(40.0)
    assert l2.cycles_per_neuron_step == pytest.approx(2 * 2 * 6.4 + 2 * 64)
    # a recurrent first layer computes dX for its recurrent inputs (64 of its 164)
    rec = snn_spec(inputs=100, steps=5, classes=10, batch=2, hidden_width=64,
                   hidden_layers=1, activity=0.1, recurrent=True)  # fmt: skip
    r1 = tile_layers_from_snn(rec, ops_per_cycle=1.0)[0]
    assert r1.fan_in == 164
    assert r1.cycles_per_neuron_step == pytest.approx(2 * 2 * 0.1 * 164 + 2 * 64)


def test_ipu_example_loads_on_the_tile_chip() -> None:
    inputs = api.load(ROOT / "examples" / "snn_nmnist_ipu.yaml")
    assert inputs.accelerator.name == "ipu_like"
    tiles = [c for c in inputs.accelerator.compute_cores if c.tiles is not None]
    assert tiles and tiles[0].tiles is not None and tiles[0].tiles.count == 1472
    assert len(inputs.graph.ops) == 146


def test_ipu_example_solves_within_capacity() -> None:
    run = api.solve(ROOT / "examples" / "snn_nmnist_ipu.yaml", time_limit=10)
    assert run.milp is not None and run.milp.status in ("optimal", "feasible")
    sched = run.milp.schedule
    assert sched.memory
    for tr in sched.memory.values():
        assert tr.peak_bits <= tr.capacity_bits
    assert int(sched.stats.get("memory_overflow", 0)) == 0
