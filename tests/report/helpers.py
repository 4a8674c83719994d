"""Shared helpers of the report tests: a tiny accelerator, strict JSON, hand-made results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from monet_opt.schedule.types import EnergyBreakdown, MemoryTrace, Schedule, Transfer
from tests.factories import accelerator_dict

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MIB = 8 * 2**20

ACC = accelerator_dict(
    "tiny_report", macs=((8, 0.2), (16, 0.2)), mac_sram_bits=64 * 1024 * 8,
    link_bw=32, link_pj_per_bit=0.1,
)  # fmt: skip


def strict_load(path: Path) -> Any:
    """Load JSON, rejecting the non-standard constants ``NaN`` and ``Infinity``."""

    def bad(c):
        raise ValueError(f"non-standard JSON constant {c}")

    return json.loads(path.read_text(), parse_constant=bad)


def fake_schedule() -> Schedule:
    """Hand-made schedule: 3 nodes on 2 cores, DRAM and link transfers, 2 memories."""
    trace = MemoryTrace("core 0 (a)", 0, 8 * 1024 * 8, np.array([0.0, 10.0, 60.0]),
                        np.array([0.0, 4096.0 * 8, 1024.0 * 8]))  # fmt: skip
    unused = MemoryTrace("core 1 (b)", 1, 1e6, np.array([0.0]), np.array([0.0]))
    return Schedule(
        node_names=("fwd", "bwd", "opt"),
        core=np.array([0, 1, 1]),
        start=np.array([0.0, 40.0, 70.0]),
        end=np.array([30.0, 65.0, 90.0]),
        fetch_end=np.array([5.0, 50.0, 70.0]),
        transfers=(
            Transfer("w", 9, 0, "dram", 0.0, 5.0, 320.0),
            Transfer("y", 0, 9, "dram", 30.0, 38.0, 512.0),
            Transfer("x", 0, 1, "link 0-1", 40.0, 50.0, 640.0),
        ),
        latency=95.0,
        energy=EnergyBreakdown(compute=1.0, onchip_memory=2.0, dram=3.0, links=4.0),
        memory={"core 0 (a)": trace, "core 1 (b)": unused},
    )


def fake_joint(final: Any) -> Any:
    """A joint-solver result whose only part is ``final`` (a checkpointing result)."""
    from dataclasses import replace

    extra = {
        **final.extra,
        "mode": "iterated",
        "iterations": 1,
        "parts": {"checkpointing": final},
        "history": [],
        "baselines": {},
    }
    return replace(final, formulation="joint", extra=extra)
