"""Fixtures for the hardware tests."""

from __future__ import annotations

from pathlib import Path

import pytest

#: Repository root (``tests/hardware/conftest.py`` -> ``<repo>``).
REPO_ROOT = Path(__file__).resolve().parents[2]
#: The shared folder beside the project root (peer data: Stream's hardware files).
SHARED_DIR = REPO_ROOT.parent / "shared"
#: Our shipped hardware examples.
EXAMPLES_DIR = REPO_ROOT / "examples" / "hardware"


@pytest.fixture
def shared_dir() -> Path:
    """``<repo>/../shared``; skips the test when that folder is absent."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"shared data folder {SHARED_DIR} is absent (peer Stream files not available)")
    return SHARED_DIR


@pytest.fixture
def examples_dir() -> Path:
    """``<repo>/examples/hardware``."""
    return EXAMPLES_DIR
