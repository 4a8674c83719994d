"""A core's sparse support in our accelerator YAML and in a Stream/ZigZag core file."""

from __future__ import annotations

from pathlib import Path

import pytest

from monet_opt.hardware import (
    HardwareFormatError,
    SparseSupport,
    accelerator_from_dict,
    accelerator_to_dict,
    load_accelerator,
    load_stream_core,
)
from tests.factories import accelerator_dict

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hardware"
STREAM_CORE = (
    "peer-data/stream/v1.13.14_28fb9011/stream/inputs/examples/hardware/cores/tpu_like.yaml"
)


def test_our_schema_round_trip_and_default_none():
    doc = accelerator_dict("sp")
    doc["cores"][0]["sparse"] = {"gather_bits_per_cycle": 512, "n_m": [[2, 4], [1, 4]]}
    acc = accelerator_from_dict(doc)
    sp = acc.cores[0].sparse
    assert sp == SparseSupport(512.0, None, frozenset({(2, 4), (1, 4)}))
    assert sp.gathers and sp.index_rate == 512.0
    assert acc.cores[1].sparse is None  # default: no sparse support
    again = accelerator_from_dict(accelerator_to_dict(acc))
    assert again.cores[0].sparse == sp and again.cores[1].sparse is None


@pytest.mark.parametrize(
    ("sparse", "field", "text"),
    [
        ({"n_m": [[4, 4]]}, "sparse.n_m", "1 <= n < m"),
        ({"gather_bits_per_cycle": -1}, "sparse.gather_bits_per_cycle", "allowed"),
        ({"gather": 1}, "sparse.gather", "unknown key"),
    ],
)
def test_our_schema_errors(sparse, field, text):
    doc = accelerator_dict("sp")
    doc["cores"][0]["sparse"] = sparse
    with pytest.raises(HardwareFormatError) as exc:
        accelerator_from_dict(doc, source="chip.yaml")
    msg = str(exc.value)
    assert "chip.yaml" in msg and field in msg and text in msg


def test_shipped_gather_chip():
    acc = load_accelerator(EXAMPLE / "tpu_like_quad_core_gather.yaml")
    assert [c.sparse is not None for c in acc.compute_cores] == [True] * 4 + [False] * 2
    assert acc.compute_cores[0].sparse.gather_bits_per_cycle == 2048
    plain = load_accelerator(EXAMPLE / "tpu_like_quad_core.yaml")
    assert all(c.sparse is None for c in plain.cores)


def test_stream_core_file_declares_sparse(shared_dir: Path, tmp_path: Path):
    src = shared_dir / STREAM_CORE
    if not src.is_file():
        pytest.skip("shared Stream data absent")
    text = src.read_text()
    p = tmp_path / "tpu_like_sparse.yaml"
    p.write_text(text + "\nsparse: {gather_bits_per_cycle: 2048, n_m: [[2, 4]]}\n")
    core = load_stream_core(p)
    assert core.sparse == SparseSupport(2048.0, None, frozenset({(2, 4)}))
    assert load_stream_core(src).sparse is None
    p.write_text(text + "\nsparse: {n_m: [[2, 2]]}\n")
    with pytest.raises(HardwareFormatError, match=r"sparse\.n_m.*1 <= n < m"):
        load_stream_core(p)
