"""Accelerator hardware: the model, our YAML schema and Stream's YAML format.

Public API
----------
* :class:`Accelerator`, :class:`Core`, :class:`Memory`, :class:`Port`,
  :class:`OperationalArray`, :class:`Link` (:mod:`.model`).
* :func:`load_accelerator` reads either format (detected by the ``format:`` key).
* :func:`load_monet_accelerator`, :func:`dump_accelerator` (our schema, :mod:`.yaml_io`).
* :func:`load_stream_accelerator`, :func:`load_stream_core` (Stream/ZigZag, :mod:`.stream_io`).
* :class:`HardwareFormatError` (a :class:`monet_opt.errors.InputError`, hence a
  ``ValueError``) for every malformed file: ``<file>: <field>: <message>``.
* :func:`core_supports` and :data:`OP_KINDS`: the ``operator_types`` / op-kind convention
  (documented in :mod:`.yaml_io`).
* :mod:`.limits`: the allowed range of every quantity.
"""

from __future__ import annotations

import os
from pathlib import Path

from .model import (
    OPERANDS,
    Accelerator,
    Core,
    Link,
    Memory,
    OperationalArray,
    Port,
    SparseSupport,
    TileGroup,
)
from .stream_io import load_stream_accelerator, load_stream_core
from .yaml_io import (
    FORMAT_ID,
    MAC_OP_KINDS,
    ONNX_OP_KINDS,
    OP_KINDS,
    HardwareFormatError,
    accelerator_from_dict,
    accelerator_to_dict,
    core_supports,
    dump_accelerator,
    load_monet_accelerator,
    op_kinds_for_onnx_types,
    read_yaml,
)

__all__ = [
    "OPERANDS",
    "Accelerator",
    "Core",
    "Link",
    "Memory",
    "OperationalArray",
    "Port",
    "SparseSupport",
    "TileGroup",
    "FORMAT_ID",
    "OP_KINDS",
    "MAC_OP_KINDS",
    "ONNX_OP_KINDS",
    "HardwareFormatError",
    "load_accelerator",
    "load_monet_accelerator",
    "load_stream_accelerator",
    "load_stream_core",
    "dump_accelerator",
    "accelerator_from_dict",
    "accelerator_to_dict",
    "core_supports",
    "op_kinds_for_onnx_types",
]


def load_accelerator(path: str | os.PathLike[str]) -> Accelerator:
    """Load an accelerator file in our schema or in Stream's format.

    A top-level ``format:`` key selects our schema (its value must be
    ``monet-opt/accelerator@1``); anything else is read as a Stream accelerator file.

    Parameters
    ----------
    path
        YAML file.

    Raises
    ------
    HardwareFormatError
        If the file is missing or malformed.
    """
    p = Path(path)
    data = read_yaml(p)
    if isinstance(data, dict) and "format" in data:
        if data["format"] != FORMAT_ID:
            shown = repr(data["format"])
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            raise HardwareFormatError(
                p,
                "format",
                f"invalid value {shown}; allowed values: {FORMAT_ID} "
                f"(or no `format` key for a Stream accelerator file)",
            )
        return accelerator_from_dict(data, str(p))
    return load_stream_accelerator(p)
