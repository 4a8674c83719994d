"""A tiny design space for the DSE tests: a small MLP on the MONET edge template."""

from __future__ import annotations

import copy
from typing import Any

import pytest

TINY_SPACE: dict[str, Any] = {
    "format": "monet-opt/dse-space@1",
    "name": "tiny",
    "template": "monet_edge",
    "fixed": {"link_bw": 32, "dram_bw": 128},
    "parameters": {
        "x_pe": [1, 2],
        "n_simds": [16, 32],
        "sram_mib": [0.5, 1],
        "weight_rf_kib": [8, 16, 32],
        # 1e-4 Gbit of DRAM cannot hold the MLP's weights and Adam moments: those
        # designs fail (recorded, not fatal)
        "dram_gbit": [10, 0.0001],
    },
    "workloads": [
        {
            "name": "mlp",
            "weight": 1.0,
            "workload": {"model": "mlp", "options": {"batch": 2, "sizes": [64, 32, 10]}},
            "schedule": {"order": "layerwise"},
            "fusion": {"mode": "greedy"},
        }
    ],
    "objectives": ["latency", "energy", "area"],
    "constraints": ["area_mm2 <= 1000", {"memory_fits": True}],
    "inner": {"mode": "fast"},
    "nsga2": {"population": 8},
}


@pytest.fixture
def tiny_space() -> dict[str, Any]:
    """A fresh copy of the tiny space mapping (48 points)."""
    return copy.deepcopy(TINY_SPACE)


def plain(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records without the wall time (the only field that may differ between runs)."""
    out = []
    for r in records:
        r = copy.deepcopy(r)
        r["metrics"].pop("seconds", None)
        out.append(r)
    return out
