"""Sparse 3072 -> 768 layer on the shipped IPU-like and GPU-like chips (issue 14 §4).

The GPU-like baseline has no sparse support, so a condensed weight runs densely: its
compute does not shrink. The IPU-like tile group gathers from each tile's SRAM, so the
same layer runs in ``gather`` mode and its superstep shrinks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monet_opt.api.inputs import as_config, build_problem_for, build_training_graph
from monet_opt.hardware import load_accelerator

HW = Path(__file__).resolve().parents[2] / "examples" / "hardware"


def _node(chip: str, batch: int, density: float | None) -> Any:
    """Cost of the layer's forward node on ``chip`` (dense if ``density`` is None)."""
    wl: dict[str, Any] = {
        "model": "mlp",
        "mode": "inference",
        "options": {"batch": batch, "sizes": [3072, 768], "precision": 32},
        "precision": {"activation": 32, "weight": 32},
    }
    if density is not None:
        wl["sparsity"] = {"default": {"kind": "constant_fan_in", "density": density}}
    path = HW / f"{chip}.yaml"
    cfg = as_config({"workload": wl, "accelerator": str(path)})
    pb = build_problem_for(cfg, build_training_graph(cfg), load_accelerator(path))
    return pb.costs.details[0][0]


def test_gpu_like_gains_no_compute_at_batch_256() -> None:
    dense, sparse = _node("gpu_like", 256, None), _node("gpu_like", 256, 0.1)
    assert sparse.mapping.endswith("| sparse dense | bsp")
    assert sparse.compute_cycles == dense.compute_cycles
    # what it gains is moved bytes: the L2 term shrinks, the MACs do not
    assert sparse.cycles <= dense.cycles
    assert dict(sparse.memory_cycles)["l2"] < dict(dense.memory_cycles)["l2"]


@pytest.mark.parametrize("density", [0.1, 0.01])
def test_ipu_like_tiles_gain_in_gather_mode(density: float) -> None:
    dense, sparse = _node("ipu_like", 256, None), _node("ipu_like", 256, density)
    assert "sparse gather" in sparse.mapping
    assert "gather" in dict(sparse.memory_cycles)
    assert sparse.compute_cycles < dense.compute_cycles
    assert dense.cycles / sparse.cycles > 2.0
