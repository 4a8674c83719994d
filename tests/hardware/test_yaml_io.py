"""Our accelerator schema: shipped examples, round trip, validation messages."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from monet_opt.hardware import (
    FORMAT_ID,
    OP_KINDS,
    Accelerator,
    HardwareFormatError,
    accelerator_to_dict,
    core_supports,
    dump_accelerator,
    load_accelerator,
    load_monet_accelerator,
    op_kinds_for_onnx_types,
)
from monet_opt.hardware.yaml_io import LOOP_DIMS

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples" / "hardware"

EXAMPLES = sorted(p.name for p in EXAMPLES_DIR.glob("*.yaml"))


def test_examples_present() -> None:
    assert {"tpu_like_quad_core.yaml", "tpu_like_hetero.yaml", "fusemax_like.yaml"} <= set(EXAMPLES)


@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_load_and_validate(examples_dir: Path, name: str) -> None:
    acc = load_accelerator(examples_dir / name)
    assert acc._extra["format"] == "monet-opt"
    assert load_monet_accelerator(examples_dir / name).cores == acc.cores
    assert acc.offchip_core is not None and acc.dram is not None
    for c in acc.compute_cores:
        assert c.array.n_pes > 0
        assert c.top_memory("I1") and c.top_memory("I2") and c.top_memory("O")
    assert all(lk.bandwidth > 0 for lk in acc.links)


def test_tpu_like_quad_core_facts(examples_dir: Path) -> None:
    """Stream 0.0.8's TPU-like quad core (stream-dse 0.0.8, ``TPU_like_quad_core.py``;
    ``docs/hardware_sources.md``)."""
    acc = load_accelerator(examples_dir / "tpu_like_quad_core.yaml")
    mac = [c for c in acc.compute_cores if c.operator_types is None]
    assert [c.id for c in mac] == [0, 1, 2, 3]
    for c in mac:
        assert c.array.sizes == (32, 32) and c.array.n_pes == 1024
        assert c.array.unit_energy == 0.04
        assert c.dataflows == {"D1": (("K", 32),), "D2": (("C", 32),)}
        mem = {m.name: m for m in c.memories}
        assert [m.name for m in c.memories] == [
            "w_reg", "o_reg", "sram_64KB_A", "sram_1MB_A", "sram_1MB_W",
        ]  # fmt: skip
        assert mem["w_reg"].size_bits == 64 * 8 and mem["w_reg"].r_bw == 8
        assert mem["w_reg"].served_dimensions == () and mem["w_reg"].r_cost == 0.053
        assert (mem["o_reg"].size_bits, mem["o_reg"].r_cost, mem["o_reg"].w_cost) == (
            16,
            0.54,
            0.60,
        )
        a64 = mem["sram_64KB_A"]
        assert a64.operands == {"I1", "O"} and a64.r_bw == 2048
        assert (a64.r_cost, a64.w_cost) == (36.96, 94.88)
        assert all(p.bandwidth_min == 64 for p in a64.ports)
        assert mem["sram_1MB_A"].size_bits == 2**23 and mem["sram_1MB_A"].r_bw == 1024
        assert (mem["sram_1MB_W"].r_cost, mem["sram_1MB_W"].w_cost) == (208.08, 189.2)
        assert c.top_memory("I2").name == "sram_1MB_W" and c.top_memory("I1").name == "sram_1MB_A"
    pool, simd = acc.core(4), acc.core(5)
    assert pool.array.n_pes == 9 and pool.operator_types == {"pool"}
    assert pool.memories[0].size_bits == 128 * 1024 * 8 and pool.memories[0].r_bw == 128
    assert simd.array.n_pes == 64 and simd.memories[0].size_bits == 600 * 1024 * 8
    assert simd.operator_types == {"elementwise", "norm", "loss", "optimizer"}
    # DRAM: 10 Gbit, one read_write port of 64 b/cc, 1000 pJ per 64-bit access
    assert acc.offchip_core_id == 6
    assert acc.dram.size_bits == 10e9 and acc.dram.r_bw == acc.dram.w_bw == 64
    assert acc.dram.r_cost == acc.dram.w_cost == 1000
    assert [p.kind for p in acc.dram.ports] == ["read_write"]
    assert acc.dram_bandwidth == 64
    assert acc.dram_energy_per_bit == (1000 / 64, 1000 / 64)
    # interconnect: 2x2 mesh at 64, pooling links at 64, SIMD links unlimited, one DRAM bus
    topo = acc.topology()
    for a, b in [(0, 1), (1, 2), (2, 3), (3, 0), (0, 4), (1, 4), (2, 4), (3, 4)]:
        assert acc.direct_link(a, b).bandwidth == 64
    assert all(math.isinf(acc.direct_link(5, x).bandwidth) for x in range(5))
    assert topo.number_of_edges() == 13
    bus = acc.shared_bus(0, 6)
    assert bus.cores == tuple(range(7)) and bus.bandwidth == 64
    assert all(lk.energy_per_bit == 0 for lk in acc.links)


def test_hetero_and_fusemax(examples_dir: Path) -> None:
    het = load_accelerator(examples_dir / "tpu_like_hetero.yaml")
    assert [c.array.n_pes for c in het.compute_cores[:4]] == [1024] * 4
    assert het.core(2).dataflows["D1"] == (("OX", 16),)
    assert het.core(2).top_memory("I1").size_bits == 16 * 2**20
    fm = load_accelerator(examples_dir / "fusemax_like.yaml")
    assert fm.core(0).array.sizes == (256, 256) and fm.core(1).array.n_pes == 256
    assert fm.core(0).top_memory("O").size_bits == 16 * 2**23
    assert fm.core(0).top_memory("I1").r_bw == 8192
    assert fm.shares_memory(0, 1) and fm.dram_bandwidth == 2048
    assert fm.dram_energy_per_bit == (10.0, 10.0)


# ---------------------------------------------------------------------- round trip


def _same(a: Accelerator, b: Accelerator) -> None:
    assert a.name == b.name
    assert a.cores == b.cores
    assert a.links == b.links
    assert a.offchip_core_id == b.offchip_core_id
    assert a.memory_sharing == b.memory_sharing


@pytest.mark.parametrize("name", EXAMPLES)
def test_round_trip_examples(tmp_path: Path, examples_dir: Path, name: str) -> None:
    acc = load_accelerator(examples_dir / name)
    out = dump_accelerator(acc, tmp_path / name)
    back = load_accelerator(out)
    _same(acc, back)
    assert back._extra.get("description") == acc._extra.get("description")
    # dumping the reloaded file gives the same text (stable)
    assert accelerator_to_dict(back) == accelerator_to_dict(acc)
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temp file left behind


@pytest.mark.parametrize(
    "rel",
    [
        "v1.13.14_28fb9011/stream/inputs/examples/hardware/tpu_like_quad_core.yaml",
        "v1.13.14_28fb9011/stream/inputs/examples/hardware/tpu_v7_ironwood.yaml",
        "v1.13.14_28fb9011/stream/inputs/testing/hardware/tpu_like_quad_core.yaml",
        "last_ga_6be8e0c6/stream/inputs/examples/hardware/fusemax.yaml",
    ],
)
def test_round_trip_stream_files(tmp_path: Path, shared_dir: Path, rel: str) -> None:
    acc = load_accelerator(shared_dir / "peer-data/stream" / rel)
    back = load_accelerator(dump_accelerator(acc, tmp_path / "converted.yaml"))
    _same(acc, back)
    assert back._extra["unit_energy_cost"] == acc._extra["unit_energy_cost"]


def test_round_trip_memory_without_ports(tmp_path: Path, examples_dir: Path) -> None:
    import dataclasses

    acc = load_accelerator(examples_dir / "tpu_like_quad_core.yaml")
    c0 = acc.core(0)
    bare = dataclasses.replace(
        c0, memories=tuple(dataclasses.replace(m, ports=()) for m in c0.memories)
    )
    acc2 = dataclasses.replace(acc, cores=(bare, *acc.cores[1:]))
    back = load_accelerator(dump_accelerator(acc2, tmp_path / "bare.yaml"))
    assert back.core(0).memories == bare.memories


# -------------------------------------------------------------------------- errors


def _doc(examples_dir: Path) -> dict:
    return yaml.safe_load((examples_dir / "tpu_like_quad_core.yaml").read_text())


def _error(tmp_path: Path, doc: dict) -> tuple[Path, str]:
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(HardwareFormatError) as exc:
        load_accelerator(p)
    return p, str(exc.value)


def test_error_unknown_key(tmp_path: Path, examples_dir: Path) -> None:
    doc = _doc(examples_dir)
    doc["cores"][4]["memories"][0]["size_bytes"] = 64
    p, msg = _error(tmp_path, doc)
    assert msg.startswith(f"{p}: cores[4].memories[0].size_bytes: unknown key 'size_bytes'")
    assert "allowed keys: name, size_bits," in msg


def test_error_bad_operand(tmp_path: Path, examples_dir: Path) -> None:
    doc = _doc(examples_dir)
    doc["cores"][4]["memories"][0]["operands"] = ["I3"]
    p, msg = _error(tmp_path, doc)
    field = "cores[4].memories[0].operands[0]"
    assert f"{p}: {field}: invalid value 'I3'; allowed values: I1, I2, O" in msg


def test_error_negative_bandwidth(tmp_path: Path, examples_dir: Path) -> None:
    doc = _doc(examples_dir)
    doc["links"][0]["bandwidth_bits_per_cycle"] = -64
    p, msg = _error(tmp_path, doc)
    field = "links[0].bandwidth_bits_per_cycle"
    assert f"{p}: {field}: invalid value -64; allowed: a number in [1e-3, 1e9] bits/cycle" in msg
    assert msg.endswith("bits/cycle or .inf")


def test_error_bad_kind_and_operator_type(tmp_path: Path, examples_dir: Path) -> None:
    doc = _doc(examples_dir)
    doc["cores"][4]["operator_types"] = ["MaxPool"]
    doc["links"][1]["kind"] = "mesh"
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(HardwareFormatError) as exc:
        load_accelerator(p)
    msg = str(exc.value)
    assert "cores[4].operator_types[0]: invalid value 'MaxPool'; allowed values: conv, gemm" in msg
    assert msg.endswith("(and 1 more error)")
    assert exc.value.file == str(p) and exc.value.field == "cores[4].operator_types[0]"
    assert ("links[1].kind", "invalid value 'mesh'; allowed values: link, bus") in exc.value.details


def test_error_semantics(tmp_path: Path, examples_dir: Path) -> None:
    doc = _doc(examples_dir)
    doc["links"][0]["cores"] = [0, 42]
    _, msg = _error(tmp_path, doc)
    assert "links[0].cores: core 42 not allowed; allowed: 0, 1, 2, 3, 4, 5, 6" in msg
    doc = _doc(examples_dir)
    doc["cores"][0]["memories"][0]["served_dimensions"] = ["D3"]
    _, msg = _error(tmp_path, doc)
    assert "cores[0].memories[0].served_dimensions: 'D3' not allowed; allowed: D1, D2" in msg
    doc = _doc(examples_dir)
    doc["cores"][0]["dataflow"] = {"D1": [["K", 64]]}
    _, msg = _error(tmp_path, doc)
    assert "cores[0].dataflow.D1" in msg and "<= the array size along D1 (32)" in msg
    doc = _doc(examples_dir)
    doc["cores"][6]["memories"][0]["write_bw_bits_per_cycle"] = 32
    _, msg = _error(tmp_path, doc)
    assert "cores[6].memories[0].write_bw_bits_per_cycle: 32.0 not allowed with shared_port" in msg
    doc = _doc(examples_dir)
    doc["cores"][0]["memories"][1]["read_bw_bits_per_cycle"] = 32
    _, msg = _error(tmp_path, doc)
    assert "cores[0].memories[1].read_bw_bits_per_cycle: 32.0 not allowed" in msg
    doc = _doc(examples_dir)
    del doc["offchip_core_id"]
    _, msg = _error(tmp_path, doc)
    assert "offchip_core_id: required key missing" in msg


def test_error_format_and_missing(tmp_path: Path, examples_dir: Path) -> None:
    doc = _doc(examples_dir)
    doc["format"] = "monet-opt/accelerator@9"
    _, msg = _error(tmp_path, doc)
    assert f"format: invalid value 'monet-opt/accelerator@9'; allowed values: {FORMAT_ID}" in msg
    doc = _doc(examples_dir)
    del doc["cores"][0]["memories"][0]["size_bits"]
    _, msg = _error(tmp_path, doc)
    assert "cores[0].memories[0].size_bits: required field is missing" in msg
    with pytest.raises(HardwareFormatError, match="file not found"):
        load_accelerator(tmp_path / "nope.yaml")


# ------------------------------------------------------------------- conventions


def test_conventions_match_the_ir() -> None:
    from monet_opt.models import ir

    assert set(OP_KINDS) == {k.value for k in ir.OpKind}
    assert set(LOOP_DIMS) == set(ir.LOOP_DIMS)


def test_onnx_mapping_and_core_supports(examples_dir: Path) -> None:
    assert op_kinds_for_onnx_types(["MaxPool"]) == {"pool"}
    assert op_kinds_for_onnx_types(["Add", "gemm"]) == {
        "elementwise",
        "norm",
        "loss",
        "optimizer",
        "gemm",
    }
    with pytest.raises(HardwareFormatError, match="'Frobnicate' not allowed"):
        op_kinds_for_onnx_types(["Frobnicate"], source="f.yaml")
    acc = load_accelerator(examples_dir / "tpu_like_quad_core.yaml")
    assert core_supports(acc.core(0), "conv") and core_supports(acc.core(0), "elementwise")
    assert core_supports(acc.core(4), "pool") and not core_supports(acc.core(4), "conv")
    assert core_supports(acc.core(5), "optimizer") and not core_supports(acc.core(5), "gemm")
    assert core_supports(acc.core(5), "shape")
    assert not core_supports(acc.core(6), "elementwise")


# ------------------------------------------------- hostile and extreme inputs (issue 9)


def _error_text(tmp_path: Path, text: str) -> HardwareFormatError:
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(HardwareFormatError) as exc:
        load_accelerator(p)
    assert exc.value.file == str(p)
    return exc.value


def test_hardware_format_error_is_an_input_error(tmp_path: Path, examples_dir: Path) -> None:
    from monet_opt.errors import InputError

    doc = _doc(examples_dir)
    doc["cores"][4]["memories"][0]["operands"] = ["I3"]
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(InputError) as exc:
        load_accelerator(p)
    assert isinstance(exc.value, HardwareFormatError)
    assert exc.value.file == str(p) and exc.value.field == "cores[4].memories[0].operands[0]"


def test_bool_is_not_a_number_in_the_hardware_schema(tmp_path: Path, examples_dir: Path) -> None:
    # Before: pydantic's lax mode read `size_bits: true` as 1 bit.
    doc = _doc(examples_dir)
    doc["cores"][4]["memories"][0]["size_bits"] = True
    p, msg = _error(tmp_path, doc)
    assert f"{p}: cores[4].memories[0].size_bits: invalid value True; allowed: a number in " in msg
    doc = _doc(examples_dir)
    doc["links"][0]["cores"] = [True, 1]
    _, msg = _error(tmp_path, doc)
    assert "links[0].cores[0]: invalid value True; allowed: an integer in [0, 2147483647]" in msg


def test_ints_are_accepted_for_float_fields(tmp_path: Path, examples_dir: Path) -> None:
    doc = _doc(examples_dir)
    doc["cores"][4]["array"]["unit_energy_pj"] = 1
    p = tmp_path / "ok.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert load_accelerator(p).core(4).array.unit_energy == 1.0


def test_yaml11_yes_is_not_a_boolean_in_hardware_files(tmp_path: Path, examples_dir: Path) -> None:
    # Before: PyYAML read `shared_port: yes` as True and `size_bits: on` as... True = 1 bit.
    text = (examples_dir / "tpu_like_quad_core.yaml").read_text()
    assert "shared_port: true" in text
    err = _error_text(tmp_path, text.replace("shared_port: true", "shared_port: yes"))
    assert err.field == "cores[6].memories[0].shared_port" and "'yes'" in err.message
    err = _error_text(tmp_path, text.replace("size_bits: 512 ", "size_bits: on "))
    assert err.field == "cores[0].memories[0].size_bits"
    assert "invalid value 'on'; allowed: a number in [1, 2**60] bits" in str(err)


def test_duplicate_key_in_a_hardware_file(tmp_path: Path, examples_dir: Path) -> None:
    # Before: the second `name:` silently replaced the first.
    text = (examples_dir / "tpu_like_quad_core.yaml").read_text()
    text = text.replace("name: tpu_like_quad_core\n", "name: tpu_like_quad_core\nname: other\n")
    err = _error_text(tmp_path, text)
    assert err.field == "name" and "duplicate key 'name'" in err.message


@pytest.mark.parametrize(
    ("path", "value", "field", "allowed"),
    [
        (("links", 0, "bandwidth_bits_per_cycle"), 1e-9, "links[0].bandwidth_bits_per_cycle",
         "a number in [1e-3, 1e9] bits/cycle or .inf"),
        (("cores", 0, "memories", 3, "read_bw_bits_per_cycle"), 1e-9,
         "cores[0].memories[3].read_bw_bits_per_cycle", "a number in [1e-3, 1e9] bits/cycle"),
        (("cores", 6, "memories", 0, "read_pj_per_word"), 1e30,
         "cores[6].memories[0].read_pj_per_word", "a number in [0, 1e6] pJ per word"),
        (("cores", 4, "array", "unit_energy_pj"), 1e30, "cores[4].array.unit_energy_pj",
         "a number in [0, 1e6] pJ per MAC"),
        (("links", 0, "energy_pj_per_bit"), 1e30, "links[0].energy_pj_per_bit",
         "a number in [0, 1e6] pJ/bit"),
        (("cores", 6, "memories", 0, "size_bits"), 2.0**70, "cores[6].memories[0].size_bits",
         "a number in [1, 2**60] bits"),
        (("cores", 4, "array", "sizes", 0), 2**21, "cores[4].array.sizes[0]",
         "an integer in [0, 2**20] PEs"),
    ],
    ids=["link-bw", "mem-bw", "word-energy", "mac-energy", "link-energy", "size", "array"],
)  # fmt: skip
def test_extreme_values_are_rejected_with_their_range(
    tmp_path: Path,
    examples_dir: Path,
    path: tuple[str | int, ...],
    value: float,
    field: str,
    allowed: str,
) -> None:
    # Before: accepted, then the MILP broke numerically ("re-simulated latency ... exceeds
    # the MILP objective").
    doc = _doc(examples_dir)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    p, msg = _error(tmp_path, doc)
    assert msg.startswith(f"{p}: {field}: invalid value {value!r}; allowed: {allowed}")


def test_every_shipped_example_lies_inside_the_ranges(examples_dir: Path) -> None:
    for path in sorted(examples_dir.glob("*.yaml")):
        acc = load_accelerator(path)
        for c in acc.cores:
            assert all(m.r_bw >= 1e-3 and m.size_bits <= 2**60 for m in c.memories)
