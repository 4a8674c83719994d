"""Fixtures for the model tests: the shared peer-data folder beside the project root."""

from __future__ import annotations

from pathlib import Path

import pytest

#: ``<repo>/../shared``: the folder beside the project root holding peer data (Stream's files).
SHARED_DIR = Path(__file__).resolve().parents[2] / ".." / "shared"
STREAM_DIR = SHARED_DIR / "peer-data" / "stream"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared folder; skips the test when it is absent (e.g. outside the team machine)."""
    if not STREAM_DIR.is_dir():
        pytest.skip(f"shared peer data not found at {STREAM_DIR.resolve()}")
    return SHARED_DIR.resolve()


@pytest.fixture(scope="session")
def stream_dir(shared_dir: Path) -> Path:
    """``shared/peer-data/stream`` (Stream's ONNX workloads)."""
    return shared_dir / "peer-data" / "stream"
