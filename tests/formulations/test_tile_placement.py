"""Neuron-stationary tile placement (monet_opt.formulations.tile_placement): the
tile-capacity formula by hand, and the MILP against brute force on small instances."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from monet_opt.formulations.options import SolverOptions
from monet_opt.formulations.tile_placement import (
    HISTORY_MODES,
    TileChip,
    TileLayer,
    candidate_neurons_per_tile,
    history_cycles,
    history_stream_bytes,
    neuron_bytes,
    placement_step_cycles,
    snn_tile_layer,
    solve_tile_placement,
    stream_cycles,
    superstep_cycles,
    tile_chip_from_accelerator,
    tile_layers_from_snn,
)
from monet_opt.hardware import load_accelerator
from monet_opt.models.snn import snn_spec
from tests.test_cli import EXAMPLES

OPTS = SolverOptions(time_limit=10, mip_gap=0.0)


def test_tile_capacity_formula_by_hand():
    # GC200 tile: 624 KiB.  A layer of fan-in 700 with FP16 weights and gradients and two
    # FP32 Adam moments: 700 x (2 + 2 + 8) = 8,400 B per neuron; T = 100, B = 48 and an
    # FP16 membrane potential plus a spike bit (2.125 B): 100 x 48 x 2.125 = 10,200 B.
    layer = TileLayer("h", fan_in=700, neurons=256, steps=100, batch=48)
    chip = TileChip(tiles=1472, tile_bytes=624 * 1024, streaming_bytes_per_cycle=15)
    assert layer.static_bytes == 8400
    assert layer.history_bytes == 10200
    assert neuron_bytes(layer, chip, "keep") == 18600
    # streamed: 2 buffered steps on the tile, 2 x 48 x 2.125 = 204 B
    assert neuron_bytes(layer, chip, "stream") == 8604
    # neurons per tile: floor(638,976 / 18,600) = 34 kept, floor(638,976 / 8,604) = 74 streamed
    fits = [
        k for k in range(1, 100) if placement_step_cycles([layer], chip, [k], [False]) < math.inf
    ]
    assert max(fits) == 34 == 638976 // 18600
    fits = [
        k for k in range(1, 100) if placement_step_cycles([layer], chip, [k], [True]) < math.inf
    ]
    assert max(fits) == 74 == 638976 // 8604
    # streaming the history: 2 x 100 x 48 x 256 x 2.125 B = 5,222,400 B at 15 B/cc
    assert stream_cycles(layer, chip) == 348160
    # recompute: segments of ceil(sqrt(100)) = 10 steps on the tile plus the 2-step buffer:
    # 8,400 + 12 x 48 x 2.125 = 9,624 B per neuron -> floor(638,976 / 9,624) = 66 per tile
    assert neuron_bytes(layer, chip, "recompute") == 9624
    fits = [
        k for k in range(1, 100) if placement_step_cycles([layer], chip, [k], ["recompute"]) < 1e30
    ]
    assert max(fits) == 66 == 638976 // 9624
    # 10 membrane checkpoints (FP16) per neuron and sample go out and back, and the forward
    # is recomputed once: T k u_f with u_f = 3 cc
    ck = TileLayer(
        "h", 700, 256, 100, 48, cycles_per_neuron_step=10, forward_cycles_per_neuron_step=3,
        checkpoint_bytes=2,
    )  # fmt: skip
    assert history_stream_bytes(ck, chip, "recompute") == 10 * 48 * 256 * 2
    assert history_cycles(ck, chip, "recompute", 5) == 100 * 5 * 3 + math.ceil(
        2 * 10 * 48 * 256 * 2 / 15
    )


def test_superstep_by_hand():
    layer = TileLayer(
        "h", 10, 8, 5, 2, cycles_per_neuron_step=7, exchange_bytes_per_step=30,
        exchange_bytes_per_neuron_step=4,
    )  # fmt: skip
    chip = TileChip(tiles=8, tile_bytes=1e6, sync_cycles=11, exchange_bytes_per_cycle=4)
    # k = 3: 3 x 7 compute + ceil((30 + 3 x 4) / 4) = 11 exchange + 2 x 11 sync
    assert superstep_cycles(layer, chip, 3) == 21 + 11 + 22
    # sequential: T = 5 steps of it, 3 tiles
    assert placement_step_cycles([layer], chip, [3], [False]) == 5 * 54


def test_snn_layer_quantities():
    ly = snn_tile_layer(
        "l", 100, 10, steps=4, batch=2, activity_in=0.1, ops_per_cycle=2, spike_id_bytes=2
    )
    # per neuron-step: B (aF + F + aF) = 2 (10 + 100 + 10) = 240 accumulates at 2/cc
    assert ly.cycles_per_neuron_step == 120
    assert ly.exchange_bytes_per_step == 2 * 10 * 2  # B a F spike ids of 2 B
    assert ly.exchange_bytes_per_neuron_step == 2 * 2  # B output gradients of 2 B
    sparse_dx = snn_tile_layer(
        "l", 100, 10, steps=4, batch=2, activity_in=0.1, ops_per_cycle=2, dx_activity=0.1
    )
    assert sparse_dx.cycles_per_neuron_step == 30


def test_candidates_are_the_smallest_k_per_tile_count():
    for n in range(1, 200):
        assert candidate_neurons_per_tile(n) == tuple(
            sorted({math.ceil(n / t) for t in range(1, n + 1)})
        )


def _random_instance(seed: int, stream_heavy: bool = False) -> tuple[list[TileLayer], TileChip]:
    """A small random instance; ``stream_heavy``: long histories on small tiles and a fast
    streaming memory, where streaming some histories tends to pay."""
    if stream_heavy:
        rng = random.Random(10_000 + seed)
        layers = [
            TileLayer(
                f"l{i}",
                fan_in=rng.randint(1, 6),
                neurons=rng.randint(2, 8),
                steps=rng.randint(8, 20),
                batch=rng.randint(1, 2),
                state_bytes=rng.choice([4, 8]),
                cycles_per_neuron_step=(u := rng.randint(1, 100)),
                exchange_bytes_per_step=rng.randint(0, 10),
                forward_cycles_per_neuron_step=rng.randint(0, u // 3),
                checkpoint_bytes=rng.choice([None, 2]),
            )
            for i in range(rng.randint(1, 3))
        ]
        chip = TileChip(
            tiles=rng.randint(len(layers), 14),
            tile_bytes=rng.randint(150, 600),
            sync_cycles=rng.randint(0, 5),
            streaming_bytes_per_cycle=rng.choice([64.0, 256.0]),
            buffer_steps=1,
            streaming_capacity_bytes=rng.choice([math.inf, 1500.0]),
            segment_steps=rng.choice([None, 3]),
        )
        return layers, chip
    rng = random.Random(seed)
    layers = []
    for i in range(rng.randint(1, 3)):
        layers.append(
            TileLayer(
                f"l{i}",
                fan_in=rng.randint(1, 20),
                neurons=rng.randint(1, 9),
                steps=rng.randint(1, 12),
                batch=rng.randint(1, 3),
                weight_bytes=2,
                grad_bytes=2,
                opt_bytes=rng.choice([0, 4, 8]),
                state_bytes=rng.choice([1, 2, 4, 8]),
                cycles_per_neuron_step=(u := rng.randint(1, 50)),
                exchange_bytes_per_step=rng.randint(0, 40),
                exchange_bytes_per_neuron_step=rng.randint(0, 8),
                forward_cycles_per_neuron_step=rng.randint(0, u),
                checkpoint_bytes=rng.choice([None, 1]),
            )
        )
    chip = TileChip(
        tiles=rng.randint(len(layers), 12),
        tile_bytes=rng.randint(150, 900),
        sync_cycles=rng.randint(0, 20),
        exchange_bytes_per_cycle=rng.choice([1.0, 4.0, math.inf]),
        streaming_bytes_per_cycle=rng.choice([0.0, 4.0, 64.0]),
        buffer_steps=rng.choice([1, 2]),
        streaming_capacity_bytes=rng.choice([math.inf, 500.0, 3000.0]),
        segment_steps=rng.choice([None, 2, 5]),
    )
    return layers, chip


def _brute_force(layers, chip, schedule):
    """Every k in 1..N and every history mode per layer."""
    best = math.inf
    ks = [range(1, ly.neurons + 1) for ly in layers]
    for k in itertools.product(*ks):
        for c in itertools.product(HISTORY_MODES, repeat=len(layers)):
            best = min(best, placement_step_cycles(layers, chip, k, c, schedule))
    return best


@pytest.mark.parametrize("schedule", ["sequential", "pipelined"])
def test_milp_equals_brute_force(schedule):
    solved = infeasible = streamed = recomputed = 0
    cases = [(seed, False) for seed in range(60)] + [(seed, True) for seed in range(30)]
    for seed, heavy in cases:
        layers, chip = _random_instance(seed, heavy)
        ref = _brute_force(layers, chip, schedule)
        res = solve_tile_placement(layers, chip, OPTS, schedule=schedule)
        if math.isinf(ref):
            assert res.status == "infeasible", (seed, res)
            infeasible += 1
            continue
        assert res.status == "optimal", (seed, res)
        assert res.simulated == pytest.approx(ref, rel=1e-9), (seed, res, ref)
        assert res.objective == pytest.approx(ref, rel=1e-6)
        assert res.bound <= ref + 1e-6
        assert sum(res.tiles) <= chip.tiles
        assert all(b <= chip.usable_bytes for b in res.tile_bytes)
        solved += 1
        streamed += "stream" in res.history
        recomputed += "recompute" in res.history
    counts = (solved, infeasible, streamed, recomputed)
    assert solved >= 10 and infeasible >= 1 and streamed >= 3 and recomputed >= 3, counts


def test_streaming_extends_the_sequence_length():
    # One NMNIST-sized hidden layer on the IPU-like chip: without streaming, T*B is capped
    # by the tile memory; with streaming memory, longer sequences still fit.
    chip = tile_chip_from_accelerator(load_accelerator(EXAMPLES / "hardware" / "ipu_like.yaml"))
    assert chip.tiles == 1472 and chip.tile_bytes == 638976

    def layer(steps):
        return snn_tile_layer(
            "h", 2312, 1472 * 4, steps=steps, batch=48, activity_in=0.05, ops_per_cycle=4
        )

    res = solve_tile_placement([layer(100)], chip, OPTS)
    assert res.status == "optimal" and not res.streamed[0]
    # at T = 2000 a neuron's history (2000 x 48 x 2.125 B = 204 KB) plus its 27.7 KB of
    # weights, gradients and Adam moments: 4 neurons
    # per tile no longer fit without streaming
    res = solve_tile_placement([layer(2000)], chip, OPTS)
    assert res.status == "optimal" and res.streamed[0]
    no_stream = TileChip(
        chip.tiles, chip.tile_bytes, chip.sync_cycles, chip.exchange_bytes_per_cycle
    )
    assert solve_tile_placement([layer(2000)], no_stream, OPTS).status == "infeasible"


def test_layers_from_the_snn_workload():
    spec = snn_spec("nmnist", hidden_layers=2, hidden_width=256, activity=0.05)
    layers = tile_layers_from_snn(spec, ops_per_cycle=4)
    assert [(ly.fan_in, ly.neurons) for ly in layers] == [(2312, 256), (256, 256), (256, 10)]
    assert all(ly.steps == 100 and ly.batch == 48 for ly in layers)
    # AdamW: FP16 weight and gradient, FP32 m, v and master: 2 + 2 + 12 B per weight
    assert layers[0].static_bytes == 2312 * 16
    # membrane FP16 + a spike id of ceil(log2 256) = 8 bits at 5 % activity
    assert layers[1].state_bytes == pytest.approx((16 + 0.05 * 8) / 8)
    chip = tile_chip_from_accelerator(load_accelerator(EXAMPLES / "hardware" / "ipu_like.yaml"))
    res = solve_tile_placement(layers, chip, OPTS)
    assert res.status == "optimal" and sum(res.tiles) <= 1472
