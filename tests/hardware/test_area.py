"""The area model (monet_opt.hardware.area) against hand calculations."""

from __future__ import annotations

import math

import pytest

from monet_opt.hardware.area import (
    ADDER_32_UM2,
    MULT_32X32_UM2,
    REGISTER_BIT_UM2,
    SRAM_BIT_UM2,
    accelerator_area,
    mac_area_um2,
    sram_area_um2,
)
from monet_opt.hardware.yaml_io import accelerator_from_dict


def test_coefficients_are_the_cited_ones() -> None:
    # Aladdin (40 nm) via Accelergy's hwcomponents-library; CACTI 600 lambda^2 per bit
    assert MULT_32X32_UM2 == 6350.0
    assert ADDER_32_UM2 == 278.0
    assert REGISTER_BIT_UM2 == 5.98
    assert SRAM_BIT_UM2 == pytest.approx(0.96)


def test_mac_by_precision() -> None:
    # 8 bit: 6350 * (8/32)^2 + 278 * 16/32 = 396.875 + 139 = 535.875 um2
    assert mac_area_um2(8) == pytest.approx(535.875)
    # 16 bit: 6350 / 4 + 278 = 1865.5 um2
    assert mac_area_um2(16) == pytest.approx(1865.5)
    with pytest.raises(ValueError):
        mac_area_um2(0)


def test_sram_by_capacity_and_ports() -> None:
    # 1 MiB single port: 8388608 bits * 0.96 um2 = 8.053 mm2; two ports +25 %
    assert sram_area_um2(8 * 2**20, 1) == pytest.approx(8388608 * 0.96)
    assert sram_area_um2(8 * 2**20, 2) == pytest.approx(8388608 * 0.96 * 1.25)


def _mem(name, bits, operands, served, **kw):
    return {
        "name": name,
        "size_bits": bits,
        "read_bw_bits_per_cycle": 64,
        "write_bw_bits_per_cycle": 64,
        "read_pj_per_word": 1,
        "write_pj_per_word": 1,
        "operands": operands,
        "served_dimensions": served,
        **kw,
    }


def _chip(mac_bits: int = 8) -> dict:
    return {
        "format": "monet-opt/accelerator@1",
        "name": "hand",
        "offchip_core_id": 2,
        "cores": [
            {
                "id": 0,
                "name": "c0",
                "kind": "compute",
                "array": {"dimensions": ["D1", "D2"], "sizes": [4, 2], "unit_energy_pj": 1},
                "memories": [
                    _mem("reg", 64, ["I2"], []),  # one per PE: 8 x 64 bits of flip-flops
                    _mem("acc", 32, ["O"], ["D2"]),  # one per D1 index: 4 x 32 bits
                    _mem("sram", 65536, ["I1", "I2", "O"], ["D1", "D2"]),  # 2 ports
                ],
            },
            {
                "id": 1,
                "name": "v",
                "kind": "compute",
                "array": {"dimensions": ["D1"], "sizes": [16], "unit_energy_pj": 1},
                "memories": [
                    _mem("vbuf", 8192, ["I1", "I2", "O"], ["D1"], shared_port=True),
                ],
            },
            {
                "id": 2,
                "name": "dram",
                "kind": "offchip",
                "array": {"dimensions": ["D1"], "sizes": [0], "unit_energy_pj": 0},
                "memories": [_mem("dram", 2**30, ["I1", "I2", "O"], ["D1"])],
            },
        ],
        "links": [
            {"kind": "link", "cores": [0, 1], "bandwidth_bits_per_cycle": 32},
            {"kind": "link", "cores": [1, 0], "bandwidth_bits_per_cycle": math.inf},
            {"kind": "bus", "cores": [0, 1, 2], "bandwidth_bits_per_cycle": 128},
        ],
        "extra": {"area": {"mac_bits": mac_bits}},
    }


def test_accelerator_matches_hand_calculation() -> None:
    doc = _chip()
    acc = accelerator_from_dict(doc)
    a = accelerator_area(acc)
    macs = (8 + 16) * 535.875  # 8 PEs + 16 vector lanes, 8-bit MACs
    regs = (8 * 64 + 4 * 32) * 5.98  # per-PE register + per-row accumulator
    srams = 65536 * 0.96 * 1.25 + 8192 * 0.96  # 2-port SRAM + 1-port (shared) buffer
    links = 2 * 32 * 5.98 + 3 * 128 * 5.98  # link: 2 ends; bus: 3 ends; .inf link: 0
    assert a.macs_mm2 == pytest.approx(macs / 1e6)
    assert a.registers_mm2 == pytest.approx(regs / 1e6)
    assert a.srams_mm2 == pytest.approx(srams / 1e6)
    assert a.links_mm2 == pytest.approx(links / 1e6)
    assert a.total_mm2 == pytest.approx((macs + regs + srams + links) / 1e6)
    assert set(a.per_core_mm2) == {"c0", "v"}  # DRAM has no on-chip area
    # the precision override: 16-bit MACs
    assert accelerator_area(acc, mac_bits=16).macs_mm2 == pytest.approx(24 * 1865.5 / 1e6)
    assert accelerator_area(accelerator_from_dict(_chip(16))).macs_mm2 == pytest.approx(
        24 * 1865.5 / 1e6
    )


def test_shared_top_memory_counted_once() -> None:
    doc = _chip()
    doc["links"] = doc["links"][:1]
    doc["cores"][1]["memories"] = [_mem("sram", 65536, ["I1", "I2", "O"], ["D1"])]
    doc["memory_sharing"] = [[0, 1]]
    shared = accelerator_area(accelerator_from_dict(doc))
    doc.pop("memory_sharing")
    separate = accelerator_area(accelerator_from_dict(doc))
    one = 65536 * 0.96 * 1.25 / 1e6
    assert separate.srams_mm2 - shared.srams_mm2 == pytest.approx(one)
