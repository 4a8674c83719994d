"""Stream/ZigZag hardware reader: every peer file, both memory syntaxes, errors."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from monet_opt.hardware import (
    Accelerator,
    HardwareFormatError,
    load_accelerator,
    load_stream_accelerator,
    load_stream_core,
)

SHARED_DIR = Path(__file__).resolve().parents[2].parent / "shared"  # as conftest.shared_dir

STREAM = "peer-data/stream"
_HW_GLOBS = (
    "*/stream/inputs/examples/hardware/*.yaml",
    "*/stream/inputs/testing/hardware/*.yaml",
    "*/stream/inputs/aie/hardware/*.yaml",
    "v1.13.14_28fb9011/tests/fixtures/hardware/*.yaml",
)


def _collect(pattern_suffix: str) -> list[str]:
    root = SHARED_DIR / STREAM
    if not root.is_dir():
        return ["<shared folder absent>"]
    out: set[str] = set()
    for g in _HW_GLOBS:
        g = g.replace("/*.yaml", pattern_suffix)
        out.update(str(p.relative_to(root)) for p in root.glob(g))
    return sorted(out)


ACCELERATOR_FILES = _collect("/*.yaml")
CORE_FILES = _collect("/cores/*.yaml")

#: Files rejected on purpose: AMD AIE2 tiles carry no operational array or energies.
REJECTED = {
    "v1.13.14_28fb9011/stream/inputs/aie/hardware/single_col.yaml",
    "v1.13.14_28fb9011/stream/inputs/aie/hardware/single_core.yaml",
    "v1.13.14_28fb9011/stream/inputs/aie/hardware/whole_array.yaml",
    "v1.13.14_28fb9011/stream/inputs/aie/hardware/whole_array_strix.yaml",
}
#: Core file (used by no accelerator file) whose fixed dataflow does not fit its array.
BAD_DATAFLOW_CORE = "last_ga_6be8e0c6/stream/inputs/examples/hardware/cores/eyeriss_like.yaml"


def _check_plausible(acc: Accelerator) -> None:
    assert acc.cores and acc.name
    assert acc.compute_cores, "no compute core"
    for c in acc.compute_cores:
        assert c.kind == "compute"
        assert c.array.n_pes > 0, f"compute core {c.id} has no PEs"
        assert c.array.unit_energy >= 0
    for c in acc.cores:
        assert c.memories, f"core {c.id} has no memory"
        for m in c.memories:
            assert m.size_bits > 0 and m.r_bw > 0 and m.w_bw > 0
            assert m.r_cost >= 0 and m.w_cost >= 0
            assert m.operands and m.operands <= {"I1", "I2", "O"}
            assert all(p.bandwidth_max >= p.bandwidth_min > 0 for p in m.ports)
            if c.kind == "compute":
                assert set(m.served_dimensions) <= set(c.array.dimensions)
    for lk in acc.links:
        assert lk.bandwidth > 0 and lk.energy_per_bit >= 0
        assert set(lk.cores) <= {c.id for c in acc.cores}
    if acc.offchip_core_id is not None:
        assert acc.offchip_core is not None and acc.offchip_core.kind == "offchip"
        assert acc.dram is not None and acc.dram_bandwidth > 0
        assert acc.offchip_core not in acc.compute_cores


def test_peer_files_were_found(shared_dir: Path) -> None:
    assert len(ACCELERATOR_FILES) >= 20
    assert len(CORE_FILES) >= 30


@pytest.mark.parametrize("rel", ACCELERATOR_FILES)
def test_every_stream_accelerator_loads_or_is_rejected(shared_dir: Path, rel: str) -> None:
    path = shared_dir / STREAM / rel
    if rel in REJECTED:
        with pytest.raises(HardwareFormatError) as exc:
            load_accelerator(path)
        msg = str(exc.value)
        assert "type" in msg and "allowed" in msg and "aie2" in msg and "yaml" in msg
        return
    acc = load_accelerator(path)
    assert acc._extra["format"] == "stream"
    assert acc.source == str(path)
    _check_plausible(acc)


@pytest.mark.parametrize("rel", CORE_FILES)
def test_every_stream_core_file_loads_or_is_rejected(shared_dir: Path, rel: str) -> None:
    path = shared_dir / STREAM / rel
    if "/aie/" in rel:
        with pytest.raises(HardwareFormatError, match=r"type: 'aie2\.\w+' not allowed"):
            load_stream_core(path)
        return
    if rel == BAD_DATAFLOW_CORE:  # K 16 | C 16 fixed on a 14 x 12 array (Stream later dropped it)
        with pytest.raises(HardwareFormatError) as exc:
            load_stream_core(path)
        assert "dataflows.D1: unrolling [('K', 16)] exceeds the array size 14" in str(exc.value)
        assert "allowed: a product <= 14" in str(exc.value)
        return
    core = load_stream_core(path)
    assert core.memories
    assert core.kind in ("compute", "memory", "offchip")
    if core.kind == "compute":
        assert core.array.n_pes > 0


def _v1(shared_dir: Path, rel: str) -> Path:
    return shared_dir / STREAM / "v1.13.14_28fb9011" / rel


def _ga(shared_dir: Path, rel: str) -> Path:
    return shared_dir / STREAM / "last_ga_6be8e0c6" / rel


def test_tpu_like_quad_core_values(shared_dir: Path) -> None:
    acc = load_accelerator(
        _v1(shared_dir, "stream/inputs/examples/hardware/tpu_like_quad_core.yaml")
    )
    assert [c.id for c in acc.compute_cores] == [0, 1, 2, 3, 4, 5]
    assert [c.array.n_pes for c in acc.compute_cores[:4]] == [1024] * 4
    assert acc.offchip_core_id == 6
    assert acc.dram.r_bw == 64 and acc.dram.r_cost == 1000
    assert acc.dram.ports[0].kind == "read_write"
    assert acc.dram_energy_per_bit == (1000 / 64, 1000 / 64)
    assert acc.core(4).operator_types == {"pool"}
    assert acc.core(5).operator_types == {"elementwise", "norm", "loss", "optimizer"}
    assert acc._extra["stream_operator_types"][4][0] == "MaxPool"
    assert acc.core(0).operator_types is None
    rf = acc.core(0).memories[1]
    assert rf.name == "rf_2B" and rf.served_dimensions == ("D2",) and len(rf.ports) == 4
    sram = acc.core(0).memories[2]
    assert sram.size_bits == 16777216 and sram.r_bw == 2048 and sram.r_cost == 416.16
    assert sram.ports[0].bandwidth_min == 64
    assert acc._extra["core_coordinates"][6] == (1, 2)
    bus = [lk for lk in acc.links if lk.kind == "bus"]
    assert len(bus) == 1 and bus[0].cores == tuple(range(7)) and bus[0].bandwidth == 128


def test_testing_dataflows_and_bare_name_resolution(shared_dir: Path) -> None:
    acc = load_accelerator(
        _v1(shared_dir, "stream/inputs/testing/hardware/tpu_like_quad_core.yaml")
    )
    assert acc.core(0).dataflows == {"D1": (("K", 32),), "D2": (("C", 32),)}
    # per-connection unit_energy_cost 0 and no top-level default
    assert all(lk.energy_per_bit == 0 for lk in acc.links)
    # `meta_prototype.yaml` lives in examples/hardware/cores (Stream searches inputs/**/hardware)
    acc = load_accelerator(_v1(shared_dir, "stream/inputs/testing/hardware/simple_example_hw.yaml"))
    assert acc._extra["core_files"][0].endswith("examples/hardware/cores/meta_prototype.yaml")
    assert acc.core(0).array.sizes == (32, 2, 4, 4)
    # repo-root-relative paths (stream/inputs/testing/hardware/cores/...)
    acc = load_accelerator(
        _v1(shared_dir, "stream/inputs/testing/hardware/dual_testing_core_offchip.yaml")
    )
    assert acc.core(1).name == "testing_core2"


def test_last_ga_fusemax_repo_relative_paths_old_syntax_and_link_energy(shared_dir: Path) -> None:
    acc = load_accelerator(_ga(shared_dir, "stream/inputs/examples/hardware/fusemax.yaml"))
    assert acc.offchip_core_id == 2 and acc.offchip_core.kind == "offchip"  # typed `compute`
    assert acc.memory_sharing == ((0, 1),)
    assert acc.core(0).dataflows == {"D1": (("D", 256),), "D2": (("K", 256),)}
    # unit_energy_cost 512 pJ per active cycle on a 512 b/cc bus -> 1 pJ/bit
    (bus,) = acc.links
    assert bus.kind == "bus" and bus.energy_per_bit == pytest.approx(512 / 512)
    assert acc._extra["unit_energy_cost"] == 512
    vec = acc.core(1)
    rf_o = next(m for m in vec.memories if m.name == "rf_O")  # old r_bw/r_port syntax
    assert [p.name for p in rf_o.ports] == ["r_port_1", "r_port_2", "w_port_1", "w_port_2"]
    assert rf_o.ports[1].allocation == (("O", "th"),)
    sram = next(m for m in vec.memories if m.name == "sram")
    assert sram.r_bw == sram.w_bw == 8192 and sram.ports[0].bandwidth_min == 256
    assert sram.ports[0].allocation == (("I1", "tl"), ("I2", "tl"), ("O", "tl"), ("O", "th"))


def test_memory_cores_of_tpu_v7(shared_dir: Path) -> None:
    acc = load_accelerator(_v1(shared_dir, "tests/fixtures/hardware/tpu_v7_aliased.yaml"))
    assert [c.id for c in acc.cores if c.kind == "memory"] == [8, 9, 10, 11]
    assert {c.id for c in acc.compute_cores} == set(range(8))
    assert acc.core(0).operator_types == {"gemm", "conv"}
    assert acc._extra["memory_aliases"][0][0] == "8.vmem"
    assert acc._extra["technology_node"] == "n3"


def test_multipliers_spelling(shared_dir: Path) -> None:
    core = load_stream_core(
        _ga(shared_dir, "stream/inputs/examples/hardware/cores/meta_prototype.yaml")
    )
    assert core.array.sizes == (32, 2, 4, 4) and core.array.unit_energy == 0.04


# ------------------------------------------------------------------ synthetic files

NEW_MEM = """
name: c
type: zigzag.compute
memories:
  rf:
    size: 16
    r_cost: 0.4
    w_cost: 0.5
    operands: [O]
    ports:
      - {name: r_port_1, type: read, bandwidth_min: 16, bandwidth_max: 16, allocation: ["O, tl"]}
      - {name: r_port_2, type: read, bandwidth_min: 16, bandwidth_max: 16, allocation: ["O, th"]}
      - {name: w_port_1, type: write, bandwidth_min: 16, bandwidth_max: 16, allocation: ["O, fh"]}
      - {name: w_port_2, type: write, bandwidth_min: 16, bandwidth_max: 16, allocation: ["O, fl"]}
    served_dimensions: [D2]
  sram:
    size: 1048576
    r_cost: 100
    w_cost: 120
    operands: [I1, I2, O]
    ports:
      - name: rw_port_1
        type: read_write
        bandwidth_min: 64
        bandwidth_max: 256
        allocation: ["I1, fh", "I1, tl", "I2, fh", "I2, tl", "O, fh", "O, tl", "O, fl", "O, th"]
    served_dimensions: [D1, D2]
operational_array: {unit_energy: 0.04, unit_area: 1, dimensions: [D1, D2], sizes: [8, 8]}
"""

OLD_MEM = """
name: c
type: compute
memories:
  rf:
    size: 16
    r_bw: 16
    w_bw: 16
    r_cost: 0.4
    w_cost: 0.5
    area: 0
    r_port: 2
    w_port: 2
    rw_port: 0
    latency: 1
    operands: [O]
    ports:
      - {fh: w_port_1, tl: r_port_1, fl: w_port_2, th: r_port_2}
    served_dimensions: [D2]
  sram:
    size: 1048576
    r_bw: 256
    w_bw: 256
    r_cost: 100
    w_cost: 120
    r_port: 0
    w_port: 0
    rw_port: 1
    min_r_granularity: 64
    min_w_granularity: 64
    operands: [I1, I2, O]
    ports:
      - {fh: rw_port_1, tl: rw_port_1}
      - {fh: rw_port_1, tl: rw_port_1}
      - {fh: rw_port_1, tl: rw_port_1, fl: rw_port_1, th: rw_port_1}
    served_dimensions: [D1, D2]
multipliers: {input_precision: [8, 8], multiplier_energy: 0.04, dimensions: [D1, D2], sizes: [8, 8]}
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def test_old_and_new_memory_syntax_agree(tmp_path: Path) -> None:
    new = load_stream_core(_write(tmp_path, "new.yaml", NEW_MEM))
    old = load_stream_core(_write(tmp_path, "old.yaml", OLD_MEM))
    assert new.memories == old.memories
    assert new.array == old.array
    sram = new.memories[1]
    assert sram.r_bw == sram.w_bw == 256 and sram.ports[0].bandwidth_min == 64


def _acc_text(extra: str = "", link: str = "{type: link, cores: [0, 1], bandwidth: 64}") -> str:
    return f"""
name: synthetic
cores:
  0: core.yaml
  1: ./cores/core.yaml
  2: offchip.yaml
offchip_core_id: 2
unit_energy_cost: 8
core_connectivity:
  - {link}
  - {{type: bus, cores: [0, 1, 2], bandwidth: 128, unit_energy_cost: 2}}
core_memory_sharing:
  - 0, 1
{extra}"""


OFFCHIP = """
name: offchip
type: zigzag.offchip
memories:
  dram:
    size: 1000000000
    r_cost: 1000
    w_cost: 1000
    operands: [I1, I2, O]
    ports:
      - {name: rw_port_1, type: read_write, bandwidth_min: 64, bandwidth_max: 64,
         allocation: ["I1, fh", "I1, tl", "I2, fh", "I2, tl", "O, fh", "O, tl", "O, fl", "O, th"]}
    served_dimensions: [D1, D2]
operational_array: {unit_energy: 0, unit_area: 0, dimensions: [D1, D2], sizes: [0, 0]}
"""


@pytest.fixture
def synthetic(tmp_path: Path) -> Path:
    _write(tmp_path, "cores/core.yaml", NEW_MEM)
    _write(tmp_path, "cores/offchip.yaml", OFFCHIP)
    return _write(tmp_path, "acc.yaml", _acc_text())


def test_synthetic_accelerator(synthetic: Path) -> None:
    acc = load_stream_accelerator(synthetic)
    link, bus = acc.links
    assert link.energy_per_bit == pytest.approx(8 / 64)  # default unit_energy_cost / bandwidth
    assert bus.energy_per_bit == pytest.approx(2 / 128)  # per-connection override
    assert acc.memory_sharing == ((0, 1),) and acc.shares_memory(1, 0)
    assert acc.dram_bandwidth == 64


def test_old_string_connectivity(tmp_path: Path, synthetic: Path) -> None:
    text = _acc_text(extra="bandwidth: 32\n", link='"0, 1"')
    acc = load_stream_accelerator(_write(tmp_path, "acc2.yaml", text))
    assert acc.links[0].cores == (0, 1) and acc.links[0].bandwidth == 32
    assert acc.links[0].energy_per_bit == pytest.approx(8 / 32)


def test_infinite_link_bandwidth_costs_nothing(tmp_path: Path, synthetic: Path) -> None:
    text = _acc_text(link="{type: link, cores: [0, 1], bandwidth: .inf}")
    acc = load_stream_accelerator(_write(tmp_path, "acc3.yaml", text))
    assert math.isinf(acc.links[0].bandwidth) and acc.links[0].energy_per_bit == 0


# ------------------------------------------------------------------------- errors


def _error(path: Path) -> str:
    with pytest.raises(HardwareFormatError) as exc:
        load_accelerator(path)
    assert isinstance(exc.value, ValueError)
    return str(exc.value)


def test_error_unknown_key(tmp_path: Path, synthetic: Path) -> None:
    p = _write(tmp_path, "bad.yaml", _acc_text(extra="core_conectivity: []\n"))
    msg = _error(p)
    assert str(p) in msg and "core_conectivity" in msg and "allowed" in msg
    assert "core_connectivity" in msg.split("allowed")[1]


def test_error_bad_operand(tmp_path: Path, synthetic: Path) -> None:
    (tmp_path / "cores/core.yaml").write_text(NEW_MEM.replace("operands: [O]", "operands: [I3]"))
    msg = _error(synthetic)
    assert "core.yaml" in msg and "memories.rf.operands[0]" in msg
    assert "'I3' not allowed; allowed: I1, I2, O" in msg


def test_error_bad_allocation(tmp_path: Path, synthetic: Path) -> None:
    (tmp_path / "cores/core.yaml").write_text(NEW_MEM.replace('"O, th"', '"O, xx"'))
    msg = _error(synthetic)
    assert "memories.rf.ports[1].allocation[0]" in msg and "fh, tl, fl, th" in msg


def test_error_missing_core_file(tmp_path: Path, synthetic: Path) -> None:
    p = _write(tmp_path, "bad.yaml", _acc_text().replace("2: offchip.yaml", "2: nowhere.yaml"))
    msg = _error(p)
    assert str(p) in msg and "cores.2" in msg and "'nowhere.yaml' not found" in msg
    assert "tried" in msg


def test_error_negative_bandwidth(tmp_path: Path, synthetic: Path) -> None:
    p = _write(tmp_path, "bad.yaml", _acc_text(link="{type: link, cores: [0, 1], bandwidth: -64}"))
    msg = _error(p)
    assert str(p) in msg and "core_connectivity[0].bandwidth" in msg
    assert "-64 not allowed; allowed: a number in [1e-3, 1e9] bits/cycle or .inf" in msg


def test_error_unknown_core_id_and_link_type(tmp_path: Path, synthetic: Path) -> None:
    p = _write(tmp_path, "bad.yaml", _acc_text(link="{type: link, cores: [0, 9], bandwidth: 64}"))
    msg = _error(p)
    assert "core_connectivity[0].cores[1]" in msg and "allowed: 0, 1, 2" in msg
    p = _write(tmp_path, "bad2.yaml", _acc_text(link="{type: mesh, cores: [0, 1], bandwidth: 64}"))
    assert "allowed: link, bus" in _error(p)


def test_error_negative_memory_bandwidth_and_missing_size(tmp_path: Path, synthetic: Path) -> None:
    (tmp_path / "cores/core.yaml").write_text(
        NEW_MEM.replace("bandwidth_max: 256", "bandwidth_max: -1")
    )
    msg = _error(synthetic)
    assert "memories.sram.ports[0].bandwidth_max: -1 not allowed" in msg
    assert "allowed: a number in [1e-3, 1e9] bits/cycle" in msg
    (tmp_path / "cores/core.yaml").write_text(NEW_MEM.replace("    size: 16\n", ""))
    msg = _error(synthetic)
    assert "memories.rf.size: required key missing" in msg


def test_error_not_yaml_and_core_file_given(tmp_path: Path, synthetic: Path) -> None:
    p = _write(tmp_path, "broken.yaml", "name: [unclosed\n")
    assert "YAML syntax error" in _error(p)
    assert "looks like a core file" in _error(tmp_path / "cores/core.yaml")
    assert "file not found" in _error(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    ("old", "new", "field", "allowed"),
    [
        ("bandwidth: 64}", "bandwidth: 1.0e-9}", "core_connectivity[0].bandwidth",
         "a number in [1e-3, 1e9] bits/cycle or .inf"),
        ("unit_energy_cost: 8", "unit_energy_cost: 1.0e30", "unit_energy_cost",
         "a number in [0, 1e6] pJ per link cycle"),
        ("unit_energy_cost: 8", "unit_energy_cost: true", "unit_energy_cost",
         "a number in [0, 1e6] pJ per link cycle"),
    ],
    ids=["tiny-link-bw", "huge-link-energy", "bool-energy"],
)  # fmt: skip
def test_stream_extreme_accelerator_values_are_rejected(
    tmp_path: Path, synthetic: Path, old: str, new: str, field: str, allowed: str
) -> None:
    p = _write(tmp_path, "bad.yaml", _acc_text().replace(old, new, 1))
    with pytest.raises(HardwareFormatError) as exc:
        load_accelerator(p)
    assert exc.value.file == str(p) and exc.value.field == field
    assert f"not allowed; allowed: {allowed}" in str(exc.value)


def test_stream_link_energy_per_bit_is_bounded(tmp_path: Path, synthetic: Path) -> None:
    # 1e6 pJ per cycle over 0.01 bit/cycle would be 1e8 pJ/bit.
    text = _acc_text(link="{type: link, cores: [0, 1], bandwidth: 0.01, unit_energy_cost: 1.0e6}")
    with pytest.raises(HardwareFormatError) as exc:
        load_accelerator(_write(tmp_path, "bad.yaml", text))
    assert exc.value.field == "core_connectivity[0].unit_energy_cost"
    assert "1e+08 pJ/bit, not allowed; allowed: a link energy a number in [0, 1e6] pJ/bit" in str(
        exc.value
    )


@pytest.mark.parametrize(
    ("old", "new", "field", "allowed"),
    [
        ("bandwidth_max: 256", "bandwidth_max: 1.0e-9", "memories.sram.ports[0].bandwidth_max",
         "a number in [1e-3, 1e9] bits/cycle"),
        ("r_cost: 100", "r_cost: 1.0e30", "memories.sram.r_cost",
         "a number in [0, 1e6] pJ per word"),
        ("size: 1048576", "size: yes", "memories.sram.size", "a number in [1, 2**60] bits"),
        ("unit_energy: 0.04", "unit_energy: 1.0e30", "operational_array.unit_energy",
         "a number in [0, 1e6] pJ per MAC"),
        ("sizes: [8, 8]", "sizes: [8, 4194304]", "operational_array.sizes[1]",
         "an integer in [0, 2**20] PEs"),
    ],
    ids=["tiny-port-bw", "huge-word-energy", "yes-size", "huge-mac-energy", "huge-array"],
)  # fmt: skip
def test_stream_extreme_core_values_are_rejected(
    tmp_path: Path, synthetic: Path, old: str, new: str, field: str, allowed: str
) -> None:
    assert old in NEW_MEM
    (tmp_path / "cores/core.yaml").write_text(NEW_MEM.replace(old, new))
    with pytest.raises(HardwareFormatError) as exc:
        load_accelerator(synthetic)
    assert exc.value.field == field
    assert str(exc.value.file).endswith("core.yaml")
    assert f"not allowed; allowed: {allowed}" in str(exc.value)


def test_stream_old_syntax_port_counts_are_bounded(tmp_path: Path) -> None:
    # Before: `r_port: 1000000000000` tried to create 10**12 ports.
    p = _write(tmp_path, "old.yaml", OLD_MEM.replace("r_port: 2", "r_port: 1000000000000"))
    with pytest.raises(HardwareFormatError) as exc:
        load_stream_core(p)
    assert exc.value.field == "memories.rf.r_port"
    assert "allowed: an integer in [0, 64] ports" in str(exc.value)


def test_stream_duplicate_key_is_rejected(tmp_path: Path, synthetic: Path) -> None:
    text = _acc_text().replace("offchip_core_id: 2\n", "offchip_core_id: 2\noffchip_core_id: 0\n")
    with pytest.raises(HardwareFormatError) as exc:
        load_accelerator(_write(tmp_path, "dup.yaml", text))
    assert exc.value.field == "offchip_core_id" and "duplicate key" in str(exc.value)
