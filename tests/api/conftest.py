"""Fixtures of the API tests: a tiny config and accelerator written to a temp folder."""

from __future__ import annotations

import pytest
import yaml

from tests.test_config import MINI_ACC


@pytest.fixture()
def write(tmp_path):
    """``write(data, name)``: a config file next to ``hw/acc.yaml`` (the mini chip)."""
    (tmp_path / "hw").mkdir()
    (tmp_path / "hw" / "acc.yaml").write_text(yaml.safe_dump(MINI_ACC))

    def _write(data, name="run.yaml"):
        p = tmp_path / name
        p.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
        return p

    return _write
