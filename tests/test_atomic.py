"""monet_opt.atomic: files and output folders are written whole or not at all."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from monet_opt.atomic import OutputFolder, OutputFolderError, staging_folders, write_text_atomic


def _files(d: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(d.iterdir())}


def test_commit_swaps_and_keeps_previous(tmp_path):
    dest = tmp_path / "out"
    with OutputFolder(dest) as f:
        (f.path / "a.txt").write_text("1")
    with OutputFolder(dest) as f:
        assert f.path != dest and not (f.path / "a.txt").exists()  # a fresh staging folder
        (f.path / "b.txt").write_text("2")
    assert _files(dest) == {"b.txt": "2"}
    assert _files(tmp_path / "out.previous") == {"a.txt": "1"}
    assert staging_folders(dest) == []


def test_exception_leaves_old_set(tmp_path):
    dest = tmp_path / "out"
    with OutputFolder(dest) as f:
        (f.path / "a.txt").write_text("1")
    with pytest.raises(RuntimeError), OutputFolder(dest) as f:
        (f.path / "half.txt").write_text("x")
        raise RuntimeError("killed mid-run")
    assert _files(dest) == {"a.txt": "1"} and staging_folders(dest) == []


def test_lock_and_unusable_destinations(tmp_path):
    dest = tmp_path / "out"
    with OutputFolder(dest), pytest.raises(OutputFolderError, match="another monet-opt run"):
        OutputFolder(dest).open()
    with OutputFolder(dest):  # released
        pass
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(OutputFolderError, match="not a folder"):
        OutputFolder(f).open()
    with pytest.raises(OutputFolderError, match="parent path is a file"):
        OutputFolder(f / "sub").open()


_WRITER = """
import sys, time
from pathlib import Path
from monet_opt.atomic import OutputFolder
dest, tag, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
with OutputFolder(dest) as f:
    for k in range(n):
        (f.path / f"{k}.txt").write_text(tag)
        time.sleep(0.002)
"""


def test_kill_9_leaves_a_complete_old_or_new_set(tmp_path):
    """A writer killed with SIGKILL at random moments: the destination always holds one
    complete set (old or new); leftover staging folders are removed by the next run."""
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent(_WRITER))
    dest = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    n = 12
    subprocess.run([sys.executable, str(script), str(dest), "v0", str(n)], check=True, env=env)
    rng = random.Random(0)
    for trial in range(1, 7):
        proc = subprocess.Popen([sys.executable, str(script), str(dest), f"v{trial}", str(n)],
                                env=env)  # fmt: skip
        time.sleep(rng.uniform(0.02, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        files = _files(dest)
        assert len(files) == n and len(set(files.values())) == 1, files
        assert not [p for p in dest.iterdir() if p.name.startswith(".")]
    subprocess.run([sys.executable, str(script), str(dest), "final", str(n)], check=True, env=env)
    assert set(_files(dest).values()) == {"final"} and staging_folders(dest) == []


def test_write_text_atomic(tmp_path):
    p = write_text_atomic(tmp_path / "a" / "b.txt", "hi")
    assert p.read_text() == "hi" and [q.name for q in p.parent.iterdir()] == ["b.txt"]
