"""Input errors: one exception type and one translator from pydantic errors.

Every file monet-opt reads (run config, accelerator YAML, ONNX model) reports a problem
as an :class:`InputError` whose text is ``<file>: <field>: <message>``; the command line
prints it as ``error: <file>: <field>: <message>`` and exits with status 2
(:data:`INPUT_ERROR_EXIT`).  Field paths use dots for keys and brackets for list
positions (``cores[2].memories[0].operands[1]``, ``fusion.stacks[0]``).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ValidationError

__all__ = [
    "INPUT_ERROR_EXIT",
    "InputError",
    "FieldError",
    "field_path",
    "from_validation_error",
]

#: Exit status of the command line for bad input.
INPUT_ERROR_EXIT = 2


class InputError(ValueError):
    """Invalid input: a config, accelerator or model file, or an option.

    ``str(err)`` is ``"<file>: <field>: <message>"`` (parts that are ``None`` are
    left out), ready for ``error: ...`` on the command line.

    Attributes
    ----------
    file
        The file at fault, or ``None`` (a command-line option, a dict built in Python).
    field
        Field path in that file (``workload.optimizer``, ``cores[0].memories[1]``), or
        ``None``.
    message
        What is wrong and, where it applies, the allowed values or keys.
    details
        Every ``(field, message)`` found, the first one being the one above (pydantic
        reports all errors of a file at once).
    """

    def __init__(
        self,
        file: str | Path | None,
        field: str | None,
        message: str,
        *,
        details: Sequence[tuple[str | None, str]] = (),
    ) -> None:
        self.file = None if file is None else str(file)
        self.field = field
        self.message = message
        self.details = tuple(details) or ((field, message),)
        super().__init__(": ".join(p for p in (self.file, field, message) if p))


class FieldError(ValueError):
    """Raised inside a pydantic model validator for an error of one (sub)field.

    ``subfield`` (``"stacks"`` or ``("stacks", 0)``) is appended to the model's location
    in the error message (``fusion.stacks[0]: ...``); ``()`` keeps the model's own
    location.
    """

    def __init__(self, subfield: str | int | tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.subfield = subfield if isinstance(subfield, tuple) else (subfield,)


def field_path(loc: Sequence[Any]) -> str:
    """``("cores", 2, "memories", 0)`` -> ``"cores[2].memories[0]"``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


# -- pydantic error translation -------------------------------------------------------
def _unwrap(ann: Any) -> Any:
    """Strip ``Annotated`` and ``Optional`` wrappers."""
    while True:
        origin = typing.get_origin(ann)
        if origin is Annotated:
            ann = typing.get_args(ann)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(ann) if a is not type(None)]
            if len(args) != 1:
                return ann
            ann = args[0]
        else:
            return ann


def _annotation_at(root: type[BaseModel], loc: Sequence[Any]) -> Any:
    """The annotation at a location path of ``root`` (``None`` if not found)."""
    ann: Any = root
    for part in loc:
        ann = _unwrap(ann)
        origin = typing.get_origin(ann)
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            if not isinstance(part, str) or part not in ann.model_fields:
                return None
            ann = ann.model_fields[part].annotation
        elif origin is list:
            ann = typing.get_args(ann)[0]
        elif origin is tuple:
            args = typing.get_args(ann)
            if not isinstance(part, int) or part >= len(args):
                return None
            ann = args[part]
        elif origin is dict:
            ann = typing.get_args(ann)[0 if part == "[key]" else 1]
        else:
            return None
    return _unwrap(ann)


def _literal_values(ann: Any) -> tuple[Any, ...]:
    if typing.get_origin(ann) is Literal:
        return typing.get_args(ann)
    for arg in typing.get_args(ann):
        vals = _literal_values(arg)
        if vals:
            return vals
    return ()


def _bounds(root: type[BaseModel], loc: Sequence[Any]) -> str:
    """``" from 1 to 256"``-style text of a numeric field's bounds ("" if unknown)."""
    if not loc:
        return ""
    parent = _annotation_at(root, loc[:-1])
    if not (isinstance(parent, type) and issubclass(parent, BaseModel)):
        return ""
    info = parent.model_fields.get(str(loc[-1]))
    if info is None:
        return ""
    metas = list(info.metadata)
    stack = [info.annotation]
    while stack:  # Annotated[...] inside Optional keeps its own metadata
        ann = stack.pop()
        if typing.get_origin(ann) is Annotated:
            for m in typing.get_args(ann)[1:]:
                metas.extend(getattr(m, "metadata", [m]))
        stack.extend(typing.get_args(ann))
    found = {}
    for m in metas:
        for key in ("ge", "gt", "le", "lt"):
            if getattr(m, key, None) is not None:
                found[key] = getattr(m, key)
    lo = f">= {found['ge']}" if "ge" in found else f"> {found['gt']}" if "gt" in found else ""
    hi = f"<= {found['le']}" if "le" in found else f"< {found['lt']}" if "lt" in found else ""
    return " " + " and ".join(p for p in (lo, hi) if p) if (lo or hi) else ""


def _describe(
    err: Mapping[str, Any], root: type[BaseModel], units: Mapping[str, str]
) -> tuple[str, str]:
    """``(field path, message)`` of one pydantic error."""
    loc = list(err.get("loc", ()))
    typ = err.get("type", "")
    value = err.get("input")
    ctx = err.get("ctx") or {}
    sub = ctx.get("error")
    if isinstance(sub, FieldError):
        return field_path([*loc, *sub.subfield]) or "(top level)", str(sub)
    where = field_path(loc) or "(top level)"
    if typ == "extra_forbidden":
        parent = _annotation_at(root, loc[:-1])
        allowed = ", ".join(parent.model_fields) if isinstance(parent, type) else "?"
        return where, f"unknown key {loc[-1]!r}; allowed keys: {allowed}"
    if typ == "missing":
        return where, "required field is missing"
    if typ == "literal_error":
        vals = _literal_values(_annotation_at(root, loc))
        allowed = ", ".join(map(str, vals)) if vals else str(ctx.get("expected", "?"))
        return where, f"invalid value {value!r}; allowed values: {allowed}"
    if typ in ("model_type", "dict_type", "model_attributes_type"):
        return where, f"expected a mapping, got {type(value).__name__}"
    if typ == "string_pattern_mismatch":
        return where, f"invalid value {value!r}; allowed: array dimension names D1, D2, ..."
    field = next((p for p in reversed(loc) if isinstance(p, str)), "")
    unit = f" {units[field]}" if field in units else ""
    rng = _bounds(root, loc)
    if typ.startswith(("int_", "float_", "greater_", "less_")) or typ == "finite_number":
        what = "an integer" if typ.startswith("int_") else "a finite number"
        if typ.startswith(("greater_", "less_", "finite")):
            ann = _annotation_at(root, loc)
            what = "an integer" if ann is int else "a finite number"
        if isinstance(value, bool):
            what += " (not a boolean)"
        return where, f"invalid value {value!r}; allowed: {what}{rng}{unit}"
    if typ in ("too_short", "too_long"):
        return where, f"{err.get('msg')}; got {value!r}"
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    if "input" in err and typ not in ("value_error", "assertion_error"):
        msg = f"{msg} (got {value!r})"
    return where, msg


def from_validation_error(
    exc: ValidationError,
    *,
    file: str | Path | None,
    root: type[BaseModel],
    units: Mapping[str, str] | None = None,
) -> InputError:
    """The :class:`InputError` of a pydantic :class:`~pydantic.ValidationError`.

    Parameters
    ----------
    exc
        The error raised by ``root.model_validate``.
    file
        The file that was validated (for the message).
    root
        The pydantic model validated: used to list the allowed keys and values.
    units
        Unit per field name, appended to numeric-range messages (``"size_bits":
        "bits"``).

    Returns
    -------
    InputError
        Field and message of the first error; ``details`` holds all of them and the
        message ends with ``(and N more errors)`` when there are several.
    """
    details = [_describe(e, root, units or {}) for e in exc.errors()]
    field, msg = details[0]
    if len(details) > 1:
        n = len(details) - 1
        msg += f" (and {n} more error{'s' if n > 1 else ''})"
    return InputError(file, field, msg, details=details)
