"""Hardened YAML loading for every file monet-opt reads (run configs, accelerator files).

:func:`load_yaml` parses one YAML document with PyYAML's pure-Python ``SafeLoader``
(no Python object construction) plus these guards, so that any input, however hostile,
ends in one short :class:`~monet_opt.errors.InputError` and never in a traceback,
``RecursionError``, ``MemoryError`` or a hang:

* **Size cap.** Files (and texts) above :data:`MAX_BYTES` (16 MiB) are refused before
  they are parsed; accelerator and config files are a few KiB.
* **Alias bombs** ("billion laughs", YAML 1.2 spec §3.2.2.2 aliases): while composing,
  every alias adds the number of nodes it stands for; more than
  :data:`MAX_ALIAS_NODES` expanded nodes in total, or an alias to a node that contains it
  (a recursive structure), is an error.  Composition stays linear in the file size.
* **Depth cap.** Nesting deeper than :data:`MAX_DEPTH` levels is an error, raised before
  Python's recursion limit is near.
* **Duplicate keys** in one mapping are an error naming the key, its field path and both
  lines (YAML 1.2 §3.2.1.1 requires unique keys; PyYAML silently keeps the last one).
  Keys brought in by a merge key ``<<`` may be overridden, as the merge key intends.
* **YAML 1.2 core schema** (YAML 1.2.2 spec §10.3) for plain scalars instead of PyYAML's
  YAML 1.1 rules: only ``true``/``false`` (``True``, ``TRUE``...) are booleans, so
  ``yes``, ``no``, ``on``, ``off``, ``y``, ``n`` stay strings and a numeric or boolean
  field rejects them with a clear message; ``1e9`` is a float (YAML 1.1 needs ``1.0e9``);
  ``0o17`` and ``0x1f`` are octal and hex ints; ``1:20`` (sexagesimal), ``2024-01-01``
  (timestamp) and ``=`` stay strings.  Two extensions are kept for Stream/ZigZag
  hardware files, which their authors read with PyYAML: digit-group underscores
  (``16_777_216``) and the merge key ``<<``.

Sources: YAML Ain't Markup Language 1.2.2 (yaml.org/spec/1.2.2, 2021); PyYAML 6.0
(``yaml.SafeLoader``, ``yaml.composer.Composer``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from monet_opt.errors import InputError
from monet_opt.units import fmt_bytes

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_ALIAS_NODES", "load_yaml"]

#: Largest file or text accepted, in bytes (16 MiB).
MAX_BYTES = 16 * 2**20
#: Deepest nesting of collections accepted (a hardware file nests about 7 levels).
MAX_DEPTH = 100
#: Most nodes that aliases may expand to, in total, in one document.
MAX_ALIAS_NODES = 100_000

_MERGE_TAG = "tag:yaml.org,2002:merge"
_MAX_TEXT = 160  # characters of a key / problem text quoted in a message


def _short(text: str, limit: int = _MAX_TEXT) -> str:
    """One line of at most ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _DuplicateKeyError(ComposerError):
    """A key repeated in one mapping; ``field`` is its field path."""

    def __init__(self, field: str, problem: str, mark: yaml.Mark) -> None:
        super().__init__(None, None, problem, mark)
        self.field = field


class _Loader(yaml.SafeLoader):
    """``SafeLoader`` with the guards of the module docstring (one document per loader)."""

    yaml_implicit_resolvers: dict[str, list[tuple[str, re.Pattern[str]]]] = {}

    def __init__(self, stream: str | bytes) -> None:
        super().__init__(stream)
        self._depth = 0
        self._count = 0  # nodes composed so far, aliases counted as what they expand to
        self._alias_nodes = 0  # of which brought in by aliases
        self._sizes: dict[int, int] = {}  # id(anchored node) -> expanded node count
        self._path: list[str] = [""]  # field path of the nodes being composed

    # -- composition: depth, aliases, duplicate keys ------------------------------------
    def compose_node(self, parent: Node | None, index: Any) -> Node:
        if self.check_event(AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None:
                size = self._sizes.get(id(target))
                if size is None:
                    raise ComposerError(
                        None,
                        None,
                        f"alias *{_short(event.anchor, 40)} refers to a node that contains it "
                        f"(recursive structures are not allowed)",
                        event.start_mark,
                    )
                self._alias_nodes += size
                self._count += size
                if self._alias_nodes > MAX_ALIAS_NODES:
                    raise ComposerError(
                        None,
                        None,
                        f"aliases expand to more than {MAX_ALIAS_NODES:,} nodes "
                        f"(an alias bomb?); write the data out or use fewer aliases",
                        event.start_mark,
                    )
            return super().compose_node(parent, index)
        event = self.peek_event()
        if self._depth >= MAX_DEPTH:
            raise ComposerError(
                None, None, f"nesting deeper than {MAX_DEPTH} levels", event.start_mark
            )
        anchor = event.anchor
        self._path.append(self._child_path(index))
        self._depth += 1
        before = self._count
        self._count += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
            self._path.pop()
        if anchor is not None:
            self._sizes[id(node)] = self._count - before
        return node

    def _child_path(self, index: Any) -> str:
        parent = self._path[-1]
        if isinstance(index, int):
            return f"{parent}[{index}]"
        if isinstance(index, ScalarNode):
            key = _short(index.value, 40)
            return f"{parent}.{key}" if parent else key
        return parent

    def compose_mapping_node(self, anchor: str | None) -> MappingNode:
        node = super().compose_mapping_node(anchor)
        self._check_unique_keys(node)
        return node

    def _check_unique_keys(self, node: MappingNode) -> None:
        """Raise on two equal explicit keys (merged ``<<`` keys may be overridden)."""
        seen: dict[Any, Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG or not isinstance(key_node, ScalarNode):
                continue
            key = self.construct_object(key_node)
            try:
                first = seen.setdefault(key, key_node)
            except TypeError:  # unhashable: the constructor reports it
                continue
            if first is not key_node:
                path = self._path[-1]
                name = _short(str(key), 40)
                raise _DuplicateKeyError(
                    f"{path}.{name}" if path else name,
                    f"duplicate key {_short(repr(key), 60)} (first at line "
                    f"{first.start_mark.line + 1}); each key may appear once in a mapping",
                    key_node.start_mark,
                )
            seen[key] = first

    # -- construction: merge keys ------------------------------------------------------
    def flatten_mapping(self, node: MappingNode) -> None:
        """Resolve merge keys ``<<`` in place, with the YAML merge-key rules.

        The mapping's own keys override merged ones, and among merged mappings the
        earlier one wins (yaml.org/type/merge.html).  PyYAML 6.0's own version keeps the
        *first* of two merged pairs with the same key even when the second comes from the
        merged mapping's own keys, so ``{<<: *m}`` loses ``m``'s overrides of its own
        merges.
        """
        merged: list[tuple[Node, Node]] = []
        own: list[tuple[Node, Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                subs = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                for sub in subs:
                    if not isinstance(sub, MappingNode):
                        raise ConstructorError(
                            "while constructing a mapping",
                            node.start_mark,
                            f"expected a mapping or list of mappings for merging, but found "
                            f"{sub.id}",
                            sub.start_mark,
                        )
                    self.flatten_mapping(sub)
                    merged.extend(sub.value)
            else:
                if key_node.tag == "tag:yaml.org,2002:value":
                    key_node.tag = "tag:yaml.org,2002:str"
                own.append((key_node, value_node))
        if not merged:
            node.value = own
            return
        seen = {_key_id(k) for k, _ in own}
        kept: list[tuple[Node, Node]] = []
        for pair in merged:
            kid = _key_id(pair[0])
            if kid not in seen:
                seen.add(kid)
                kept.append(pair)
        node.value = kept + own


def _key_id(node: Node) -> tuple[str, object]:
    """Identity of a mapping key node: ``(tag, text)`` for scalars, else the node."""
    if isinstance(node, ScalarNode):
        return (node.tag, node.value)
    return ("", id(node))


def _construct_int(loader: yaml.SafeLoader, node: ScalarNode) -> int:
    """YAML 1.2 core ints (decimal, ``0o`` octal, ``0x`` hex) with ``_`` digit groups."""
    value = str(loader.construct_scalar(node)).replace("_", "")
    sign = -1 if value.startswith("-") else 1
    value = value.lstrip("+-")
    if value[:2] in ("0o", "0O"):
        return sign * int(value[2:], 8)
    if value[:2] in ("0x", "0X"):
        return sign * int(value[2:], 16)
    return sign * int(value, 10)


# YAML 1.2.2 core schema (§10.3.2), plus `_` digit groups and the merge key `<<`.
_DIGITS = r"[0-9](?:_?[0-9])*"
_RESOLVERS: tuple[tuple[str, str, list[str]], ...] = (
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    (
        "tag:yaml.org,2002:int",
        rf"^(?:[-+]?{_DIGITS}|0o[0-7](?:_?[0-7])*|0x[0-9a-fA-F](?:_?[0-9a-fA-F])*)$",
        list("-+0123456789"),
    ),
    (
        "tag:yaml.org,2002:float",
        rf"^(?:[-+]?(?:\.{_DIGITS}|{_DIGITS}(?:\.(?:{_DIGITS})?)?)(?:[eE][-+]?{_DIGITS})?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        list("-+.0123456789"),
    ),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    (_MERGE_TAG, r"^(?:<<)$", ["<"]),
)
for _tag, _regexp, _first in _RESOLVERS:
    _Loader.add_implicit_resolver(_tag, re.compile(_regexp), _first)
_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _describe_yaml_error(exc: yaml.YAMLError) -> str:
    """``line L, column C: problem`` of a PyYAML error, on one short line."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if problem is None:
        lines = str(exc).splitlines()
        problem = lines[0] if lines else type(exc).__name__
    context = getattr(exc, "context", None)
    if context and not str(context).startswith("while "):
        problem = f"{context}, {problem}"
    if isinstance(exc, (yaml.scanner.ScannerError, yaml.parser.ParserError)):
        problem = f"YAML syntax error: {problem}"
    elif isinstance(exc, yaml.reader.ReaderError):
        problem = f"not a YAML text: {problem} (position {exc.position})"
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return where + _short(problem, 300)


def _read_limited(path: Path) -> bytes:
    """At most ``MAX_BYTES + 1`` bytes of ``path`` (:class:`InputError` on I/O errors)."""
    try:
        with path.open("rb") as f:
            return f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise InputError(path, None, "file not found") from None
    except IsADirectoryError:
        raise InputError(path, None, "is a directory, expected a YAML file") from None
    except OSError as exc:
        raise InputError(path, None, f"cannot read: {_short(exc.strerror or exc)}") from None


def load_yaml(
    path_or_text: str | bytes | os.PathLike[str],
    *,
    source: str | os.PathLike[str] | None = None,
) -> Any:
    """Parse one YAML document safely (see the module docstring for the guards).

    Parameters
    ----------
    path_or_text
        A file (any ``os.PathLike``, e.g. :class:`pathlib.Path`), or the YAML document
        itself as ``str`` or ``bytes`` (UTF-8, or UTF-16/32 with a byte-order mark).  A
        plain ``str`` is always YAML text, never a file name: pass ``Path(name)`` to read
        a file.
    source
        File name used in error messages (``InputError.file``); default: the path, or
        ``"<string>"`` for a text.

    Returns
    -------
    Any
        The document: ``dict``/``list``/``str``/``int``/``float``/``bool``/``None``
        (YAML 1.2 core schema; also ``bytes``, ``set``, ``datetime`` for explicit
        ``!!binary``, ``!!set``, ``!!timestamp`` tags); ``None`` for an empty document.

    Raises
    ------
    InputError
        The only exception raised.  ``str(err)`` is one short line
        ``<source>: [<field>: ]<problem>``, e.g. ``hw.yaml: cores[0].id: line 7, column
        5: duplicate key 'id' (first at line 3); each key may appear once in a mapping``,
        for: a missing or unreadable file, more than :data:`MAX_BYTES`, a YAML syntax error, several
        documents, an undefined, recursive or exploding alias, nesting deeper than
        :data:`MAX_DEPTH`, a duplicate key, an unknown or unsafe tag (``!!python/...``).
    """
    if isinstance(path_or_text, (str, bytes)):
        name = "<string>" if source is None else str(source)
        data = path_or_text
        size = len(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
    else:
        path = Path(path_or_text)
        name = str(path) if source is None else str(source)
        data = _read_limited(path)
        size = len(data)
    if size > MAX_BYTES:
        raise InputError(
            name,
            None,
            f"larger than the {fmt_bytes(MAX_BYTES)} limit for YAML files "
            f"(accelerator and config files are a few KiB)",
        )
    loader: _Loader | None = None
    try:
        loader = _Loader(data)
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        field = getattr(exc, "field", None)
        raise InputError(name, field, _describe_yaml_error(exc)) from None
    except RecursionError:
        raise InputError(name, None, "structure nested too deeply to load") from None
    except MemoryError:
        raise InputError(name, None, "document too large to load into memory") from None
    except Exception as exc:  # noqa: BLE001 - e.g. int() of a 5000-digit number
        raise InputError(
            name, None, f"invalid YAML value: {_short(f'{type(exc).__name__}: {exc}')}"
        ) from None
    finally:
        if loader is not None:
            loader.dispose()
