"""Fixtures shared by the config and API tests."""

from __future__ import annotations

import pytest
import yaml


@pytest.fixture()
def write(tmp_path):
    """``write(data, name="run.yaml")``: a config file (a mapping or YAML text) in a temp
    folder whose ``hw/acc.yaml`` is the mini accelerator of ``tests/test_config.py``."""
    from tests.test_config import MINI_ACC

    (tmp_path / "hw").mkdir()
    (tmp_path / "hw" / "acc.yaml").write_text(yaml.safe_dump(MINI_ACC))

    def _write(data, name="run.yaml"):
        p = tmp_path / name
        p.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
        return p

    return _write
