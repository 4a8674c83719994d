"""The space file: schema errors name the file, the field and the allowed values."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from monet_opt.dse.space import load_space, space_from_dict
from monet_opt.dse.templates import TEMPLATES, build_accelerator_doc
from monet_opt.errors import InputError
from monet_opt.hardware.yaml_io import accelerator_from_dict

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "dse"


@pytest.mark.parametrize("name", ["edge_space.yaml", "datacenter_space.yaml"])
def test_examples_load(name: str) -> None:
    sp = load_space(EXAMPLES / name)
    assert sp.objectives == ("latency_cycles", "energy_pj", "area_mm2")
    assert sp.size > 1000
    if name == "edge_space.yaml":  # MONET's edge lists: 5 x 5 x 4 x 4 x 5 x 5
        assert sp.size == 10_000
        assert sp.summary_space()["n_lanes"] == [1, 2, 4, 8]


@pytest.mark.parametrize("template", list(TEMPLATES))
def test_templates_build_valid_accelerators(template: str) -> None:
    t = TEMPLATES[template]
    acc = accelerator_from_dict(build_accelerator_doc(template, {}))
    assert acc.compute_cores and acc.dram is not None
    assert len(t.names) == len(set(t.names))


def test_edge_mesh_shape() -> None:
    doc = build_accelerator_doc("monet_edge", {"x_pe": 4, "y_pe": 2, "n_simds": 64})
    acc = accelerator_from_dict(doc)
    assert len(acc.compute_cores) == 8 + 2  # mesh + pooling + SIMD
    mesh = [lk for lk in acc.links if lk.kind == "link" and max(lk.cores) < 8]
    assert len(mesh) == 3 * 2 + 4 * 1  # horizontal + vertical neighbours
    assert acc.dram_bandwidth == 128
    assert doc["extra"]["dse"]["params"]["x_pe"] == 4


@pytest.mark.parametrize(
    ("patch", "field", "words"),
    [
        ({"template": "nope"}, "template", "allowed values: monet_edge, fusemax"),
        ({"parameters": {"bogus": [1]}}, "parameters.bogus", "allowed: x_pe"),
        ({"parameters": {"x_pe": [1, 0.5]}}, "parameters.x_pe[1]", "an integer from 1"),
        ({"parameters": {"x_pe": []}}, "parameters.x_pe", "empty list"),
        ({"objectives": ["speed"]}, "objectives[0]", "latency, energy, edp, area, peak_dram"),
        ({"constraints": ["area <= 3"]}, "constraints[0]", "area_mm2"),
        ({"constraints": [{"memory_fits": "yes"}]}, "constraints[0].memory_fits", "true"),
        ({"inner": {"mode": "slow"}}, "inner.mode", "fast, exact, fast+exact"),
        ({"workloads": [{"workload": {"model": "mlp"}, "wat": 1}]}, "workloads[0]", "wat"),
        ({"workloads": [{"workload": {"optimizer": "adam"}}]}, "workloads[0].workload", ""),
        ({"fixed": {"x_pe": 2}}, "parameters.x_pe", "also in 'fixed'"),
        ({"extra_key": 1}, "extra_key", "unknown key 'extra_key'"),
    ],
)
def test_errors_name_field_and_allowed(tiny_space, patch, field, words) -> None:
    tiny_space.update(patch)
    with pytest.raises(InputError) as err:
        space_from_dict(tiny_space, source="space.yaml")
    assert err.value.file == "space.yaml"
    assert err.value.field is not None and err.value.field.startswith(field)
    assert words in err.value.message


def test_ranges(tiny_space) -> None:
    tiny_space["parameters"] = {"sram_mib": {"low": 0.5, "high": 2}, "x_pe": {"low": 1, "high": 3}}
    sp = space_from_dict(tiny_space)
    assert math.isinf(sp.size)
    assert sp.dimensions[1].choices == (1, 2, 3)  # an integer range is finite
    tiny_space["parameters"]["sram_mib"]["step"] = 0.5
    assert space_from_dict(tiny_space).size == 4 * 3


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_space(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"template": "monet_edge"}))
    with pytest.raises(InputError) as err:
        load_space(bad)
    assert str(bad) in str(err.value)


def test_out_folder_with_a_foreign_database_is_an_input_error(tmp_path):
    from monet_opt.dse.store import open_store
    from monet_opt.errors import InputError

    (tmp_path / "dse.sqlite").write_text("not a database")
    with pytest.raises(InputError, match="not a monet-opt sweep database"):
        with open_store(tmp_path, resume=True):
            pass
