"""monet_opt.safe_yaml: hostile YAML ends in one short InputError, nothing else."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

from monet_opt.errors import InputError
from monet_opt.safe_yaml import MAX_ALIAS_NODES, MAX_BYTES, MAX_DEPTH, load_yaml


def _error(doc: str | bytes | Path, source: str = "x.yaml") -> InputError:
    with pytest.raises(InputError) as exc:
        load_yaml(doc, source=source)
    err = exc.value
    text = str(err)
    assert "\n" not in text and len(text) < 400, text
    return err


def _billion_laughs(levels: int = 9) -> str:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [{', '.join([f'*{prev}'] * 9)}]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_a_short_error_in_bounded_time_and_memory() -> None:
    tracemalloc.start()
    t0 = time.perf_counter()
    err = _error(_billion_laughs())
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 20 * 2**20
    assert err.file == "x.yaml"
    assert f"aliases expand to more than {MAX_ALIAS_NODES:,} nodes" in str(err)


def test_recursive_alias_is_rejected() -> None:
    assert "refers to a node that contains it" in str(_error("a: &a [1, *a]\n"))


@pytest.mark.parametrize(
    "doc",
    [
        "[" * 1000 + "]" * 1000,
        "{a: " * 1000 + "1" + "}" * 1000,
        "".join("  " * i + "k:\n" for i in range(1000)),
        "".join("  " * i + "-\n" for i in range(1000)),
    ],
    ids=["flow-seq", "flow-map", "block-map", "block-seq"],
)
def test_thousand_deep_nesting_is_a_short_error(doc: str) -> None:
    t0 = time.perf_counter()
    err = _error(doc)
    assert time.perf_counter() - t0 < 1.0
    assert f"nesting deeper than {MAX_DEPTH} levels" in str(err)


def test_duplicate_key_names_key_field_and_lines() -> None:
    err = _error("cores:\n  - id: 0\n    name: a\n    id: 1\n", source="hw.yaml")
    assert err.file == "hw.yaml" and err.field == "cores[0].id"
    assert str(err) == (
        "hw.yaml: cores[0].id: line 4, column 5: duplicate key 'id' (first at line 2); "
        "each key may appear once in a mapping"
    )


def test_duplicate_top_level_key_and_equal_spellings() -> None:
    assert _error("a: 1\nb: 2\na: 3\n").field == "a"
    assert "duplicate key 16" in str(_error("{0x10: a, 16: b}"))


def test_merge_keys_may_be_overridden() -> None:
    # Own keys beat merged ones; the first of several merged mappings wins; a merged
    # mapping keeps its own overrides (PyYAML 6.0 alone gives c.x == 1 here).
    doc = (
        "base: &b {x: 1, y: 2}\nz:\n  m: &m {<<: *b, x: 2}\nc: {<<: *m, y: 3}\n"
        "d: {<<: [*m, {x: 9, w: 0}]}\n"
    )
    data = load_yaml(doc, source="m.yaml")
    assert data["z"]["m"] == {"x": 2, "y": 2}
    assert data["c"] == {"x": 2, "y": 3}
    assert data["d"] == {"x": 2, "y": 2, "w": 0}


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "y", "n", "Yes", "NO", "On", "OFF"])
def test_yaml11_booleans_stay_strings(word: str) -> None:
    # PyYAML's safe_load turns yes/no/on/off into booleans (YAML 1.1).
    assert load_yaml(f"flag: {word}\n{word}: 1\n", source="b.yaml") == {"flag": word, word: 1}


def test_yaml12_core_scalars() -> None:
    data = load_yaml(
        "t: true\nf: FALSE\ni: 12\no: 0o17\nh: 0x1f\nu: 16_777_216\ne: 1e9\nx: 1.5e-3\n"
        "inf: .inf\nz: ~\nempty:\nsexa: 1:20\ndate: 2024-01-01\neq: =\nlead: 0755\n",
        source="s.yaml",
    )
    assert data == {
        "t": True,
        "f": False,
        "i": 12,
        "o": 15,
        "h": 31,
        "u": 16_777_216,
        "e": 1e9,
        "x": 1.5e-3,
        "inf": float("inf"),
        "z": None,
        "empty": None,
        "sexa": "1:20",
        "date": "2024-01-01",
        "eq": "=",
        "lead": 755,
    }
    assert isinstance(data["e"], float) and isinstance(data["u"], int)


def test_file_size_cap(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# " + b"x" * MAX_BYTES + b"\n")
    err = _error(big, source=str(big))
    assert err.file == str(big) and "larger than the 16.00 MiB limit" in str(err)
    assert "larger than" in str(_error("#" * (MAX_BYTES + 1)))


def test_files_paths_and_text(tmp_path: Path) -> None:
    p = tmp_path / "ok.yaml"
    p.write_text("a: [1, 2]\n")
    assert load_yaml(p) == {"a": [1, 2]}
    assert load_yaml("a: 1") == {"a": 1}
    assert load_yaml(b"a: 1") == {"a": 1}
    assert load_yaml("") is None
    assert _error(tmp_path / "nope.yaml", source="nope.yaml").message == "file not found"
    assert "is a directory" in str(_error(tmp_path, source="dir"))


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ("a: [1, 2\nb: 3\n", "line 2, column 2: YAML syntax error"),
        ("a: *nowhere\n", "found undefined alias 'nowhere'"),
        ("a: 1\n---\nb: 2\n", "expected a single document in the stream"),
        ('a: !!python/object/apply:os.system ["true"]\n', "could not determine a constructor"),
        ("a: " + "9" * 5000 + "\n", "invalid YAML value"),
        ("a: \x00\n", "unacceptable character"),
        (b"a: \xff\xfe\n", "not a YAML text"),
        ("a: !!binary not-base64!\n", "line 1"),
        ("? [1, 2]\n: x\n", "unhashable"),
        ("a: &" + "x" * 10_000 + " 1\nb: *" + "y" * 10_000 + "\n", "undefined alias"),
        ("a: {<<: [1, 2]}\n", "expected a mapping or list of mappings for merging"),
    ],
    ids=[
        "syntax",
        "undefined-alias",
        "two-documents",
        "python-tag",
        "huge-int",
        "nul",
        "bad-utf8",
        "bad-binary",
        "unhashable-key",
        "long-anchor",
        "bad-merge",
    ],
)
def test_only_short_input_errors_escape(doc: str | bytes, expected: str) -> None:
    assert expected in str(_error(doc))
