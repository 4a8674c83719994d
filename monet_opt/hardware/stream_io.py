"""Reader for Stream/ZigZag accelerator YAML files (unchanged, as Stream ships them).

Format source: the hardware YAML files of KU Leuven MICAS's Stream
(github.com/KULeuven-MICAS/stream, ``stream/inputs/**/hardware``, versions 1.13.14 and the
last GA version 6be8e0c6; Symons et al., arXiv:2212.10612, 2022), whose memory entries are
ZigZag's (Mei et al., IEEE Trans. Computers 70(8), 2021; ZigZag 3.x ``ports`` syntax and the
older ``r_bw``/``r_port`` syntax). See ``docs/hardware_sources.md``.

Accelerator file
    ``name``, ``cores: {id: core_file}``, ``offchip_core_id``, ``unit_energy_cost``,
    ``core_connectivity`` (``{type: link|bus, cores: [...], bandwidth,
    unit_energy_cost?}`` entries, or the old ``"0, 1"`` strings, which then take the
    top-level ``bandwidth``), ``core_memory_sharing`` (``"0, 1"`` strings or lists),
    ``core_coordinates``, ``technology_node`` and ``memory_aliases`` (kept in
    ``Accelerator._extra``).

Core file paths are resolved, in order, relative to the accelerator file's folder, to
its ``cores/`` subfolder, and, for paths written relative to the Stream repository root
(``stream/inputs/examples/hardware/cores/x.yaml``), by stripping leading components until
the rest resolves next to the accelerator file (``cores/x.yaml``). A bare file name that
is still not found is searched, as Stream's ``AcceleratorValidator.open_core`` does, in
every folder whose path contains ``hardware`` below the enclosing ``inputs/`` folder
(e.g. ``testing/hardware/simple_example_hw.yaml`` uses
``examples/hardware/cores/meta_prototype.yaml``).

Core file
    ``name``, ``type`` (``compute``/``zigzag.compute``, ``offchip``/``zigzag.offchip``,
    ``memory``/``zigzag.memory``), ``memories`` (lowest level first), ``operational_array``
    (``unit_energy`` pJ/MAC, ``dimensions``, ``sizes``; older ``multipliers`` or
    ``multiplier_energy`` spellings accepted), optional ``dataflows``
    (``{D1: ["K, 32"]}``) and ``operator_types`` (ONNX op types, mapped to op kinds with
    :func:`~monet_opt.hardware.yaml_io.op_kinds_for_onnx_types`; the raw list is kept in
    ``Accelerator._extra["stream_operator_types"]``), and monet-opt's optional ``sparse``
    (``{gather_bits_per_cycle: 4096, index_bits_per_cycle: 512, n_m: [[2, 4]]}``, the
    same mapping as our schema's :class:`~monet_opt.hardware.yaml_io.SparseSpec`).
    ``area``, ``unit_area``,
    ``latency``, ``input_precision``, ``operand_precision``, ``auto_cost_extraction``...
    are accepted and ignored. AMD AIE2 tiles (``type: aie2.*`` with a single ``memory:``
    entry and no operational array) are rejected: they carry no PE array or energy data.

Memories, ZigZag 3.x form: ``size`` (bits), ``r_cost``/``w_cost`` (pJ per access of one
port-wide word), ``operands``, ``served_dimensions`` and ``ports: [{name, type:
read|write|read_write, bandwidth_min, bandwidth_max, allocation: ["I1, tl", ...]}]``.
Older form: ``r_bw``/``w_bw``, ``r_port``/``w_port``/``rw_port`` counts (ports named
``r_port_1``..., ``rw_port_i`` get ``r_bw`` as ZigZag assumes), optional
``min_r_granularity``/``min_w_granularity`` (-> ``Port.bandwidth_min``) and per-operand
allocation dicts ``ports: [{fh: w_port_1, tl: r_port_1}, ...]`` in ``operands`` order.
In both forms ``Memory.r_bw``/``w_bw`` is the widest read / write capable port.

Link energy. Stream's ``CommunicationLink`` bills ``unit_energy_cost * duration`` with
``duration = ceil(bits / bandwidth)`` cycles, i.e. ``unit_energy_cost`` is energy per
cycle of link activity. At full bandwidth that is ``unit_energy_cost / bandwidth`` pJ per
bit, which is what :attr:`Link.energy_per_bit` receives (0 for an infinite bandwidth).
A per-connection ``unit_energy_cost`` overrides the accelerator's default; the raw
values are kept in ``Accelerator._extra``.

Core kinds: the core whose id is ``offchip_core_id`` is ``offchip`` whatever its
``type`` (older files type it ``compute``); ``*.memory`` cores and ``compute`` cores
with 0 PEs become ``memory`` cores (they hold data, run no ops).

Numbers. Every quantity must lie in the range :mod:`monet_opt.hardware.limits` gives
it (the same as in our schema, e.g. bandwidths in [1e-3, 1e9] bits/cycle, energies in
[0, 1e6] pJ); a link's ``unit_energy_cost / bandwidth`` must be a link energy in
[0, 1e6] pJ/bit. Booleans are not numbers. Files are read with
:func:`monet_opt.safe_yaml.load_yaml` (YAML 1.2 core schema: ``yes``/``no`` stay strings;
duplicate keys and alias bombs are errors).

Every problem raises :class:`~monet_opt.hardware.yaml_io.HardwareFormatError` (an
:class:`~monet_opt.errors.InputError`) naming the file, the field and the allowed values.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from . import limits
from .model import (
    OPERANDS,
    Accelerator,
    Core,
    Link,
    Memory,
    OperationalArray,
    Port,
    SparseSupport,
)
from .yaml_io import (
    DIRECTIONS,
    LOOP_DIMS,
    PORT_KINDS,
    HardwareFormatError,
    SparseSpec,
    default_ports,
    op_kinds_for_onnx_types,
    read_yaml,
    sort_allocation,
)

__all__ = ["load_stream_accelerator", "load_stream_core", "resolve_core_path"]

_ACC_KEYS = (
    "name",
    "cores",
    "offchip_core_id",
    "unit_energy_cost",
    "core_connectivity",
    "core_memory_sharing",
    "core_coordinates",
    "technology_node",
    "memory_aliases",
    "bandwidth",
)
_CORE_KEYS = (
    "name",
    "type",
    "memories",
    "operational_array",
    "multipliers",
    "dataflows",
    "operator_types",
    "operand_precision",
    "utilization",
    "max_object_fifo_depth",
    "memory",
    "sparse",
)
_ARRAY_KEYS = (
    "unit_energy",
    "multiplier_energy",
    "unit_area",
    "multiplier_area",
    "dimensions",
    "sizes",
    "input_precision",
)
_MEM_KEYS = (
    "size",
    "r_cost",
    "w_cost",
    "area",
    "latency",
    "auto_cost_extraction",
    "operands",
    "ports",
    "served_dimensions",
    "r_bw",
    "w_bw",
    "r_port",
    "w_port",
    "rw_port",
    "min_r_granularity",
    "min_w_granularity",
    "mem_type",
    "double_buffering_support",
)
_PORT_KEYS = ("name", "type", "bandwidth_min", "bandwidth_max", "allocation")
_LINK_KEYS = ("type", "cores", "bandwidth", "unit_energy_cost")
_CORE_TYPES = (
    "compute",
    "zigzag.compute",
    "offchip",
    "zigzag.offchip",
    "memory",
    "zigzag.memory",
)


class _Ctx:
    """Error context: one file."""

    def __init__(self, path: Path, note: str = "") -> None:
        self.path = path
        self.note = note

    def err(self, field: str, problem: str, allowed: str | None = None) -> HardwareFormatError:
        """The error ``<file>: <field>: <problem>; allowed: <allowed> (<note>)``."""
        msg = problem
        if allowed is not None:
            msg += f"; allowed: {allowed}"
        if self.note:
            msg += f" ({self.note})"
        return HardwareFormatError(self.path, field or None, msg)

    def mapping(self, v: Any, field: str) -> dict[Any, Any]:
        if not isinstance(v, dict):
            raise self.err(field, f"expected a mapping, got {_short(v)}")
        return v

    def seq(self, v: Any, field: str) -> list[Any]:
        if not isinstance(v, list):
            raise self.err(field, f"expected a list, got {_short(v)}")
        return v

    def keys(self, d: Mapping[Any, Any], field: str, allowed: tuple[str, ...]) -> None:
        for k in d:
            if k not in allowed:
                where = f"{field}.{k}" if field else str(k)
                raise self.err(where, f"unknown key {k!r}", "keys " + ", ".join(allowed))

    def required(self, d: Mapping[Any, Any], key: str, field: str, what: str) -> Any:
        if key not in d or d[key] is None:
            where = f"{field}.{key}" if field else key
            raise self.err(where, "required key missing", what)
        return d[key]

    def number(self, v: Any, field: str, rng: limits.Range) -> float:
        """``v`` if it lies in ``rng`` (:mod:`~monet_opt.hardware.limits`), else an error.

        Numbers must be YAML numbers: booleans and strings are rejected.
        """
        allowed = rng.violation(v)
        if allowed is not None:
            raise self.err(field, f"{_short(v)} not allowed", allowed)
        return float(v)

    def core_id(self, v: Any, field: str, ids: list[int] | None = None) -> int:
        """A core id (``"3"`` strings accepted, as Stream's YAML mapping keys may be)."""
        if isinstance(v, str) and v.strip().isdigit() and len(v.strip()) <= 10:
            v = int(v.strip())
        if limits.CORE_ID.violation(v) is not None or (ids is not None and v not in ids):
            allowed = ", ".join(map(str, ids)) if ids is not None else limits.CORE_ID.describe()
            raise self.err(field, f"core {_short(v)} not allowed", allowed)
        return int(v)


def _short(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


def _id_list(v: Any, ctx: _Ctx, field: str, ids: list[int]) -> tuple[int, ...]:
    """``"0, 1"`` or ``[0, 1]`` -> ``(0, 1)``."""
    if isinstance(v, str):
        items: list[Any] = [s.strip() for s in v.split(",") if s.strip()]
    elif isinstance(v, (list, tuple)):
        items = list(v)
    else:
        raise ctx.err(field, f"{_short(v)} not allowed", "a list of core ids or a '0, 1' string")
    return tuple(ctx.core_id(x, f"{field}[{i}]", ids) for i, x in enumerate(items))


def resolve_core_path(ref: str, acc_dir: Path) -> tuple[Path | None, list[Path]]:
    """Find a core file referenced from an accelerator file.

    Parameters
    ----------
    ref
        The path as written in the accelerator file's ``cores`` mapping.
    acc_dir
        The accelerator file's folder.

    Returns
    -------
    tuple
        The resolved file (``None`` if not found) and the candidates tried.
    """
    p = Path(ref)
    tried: list[Path] = []
    if p.is_absolute():
        tried.append(p)
    else:
        parts = p.parts
        for i in range(len(parts)):
            rest = Path(*parts[i:])
            tried.append(acc_dir / rest)
            if parts[i] != "cores":
                tried.append(acc_dir / "cores" / rest)
    seen: list[Path] = []
    for c in tried:
        if c not in seen:
            seen.append(c)
    for c in seen:
        if c.is_file():
            return c, seen
    if len(p.parts) == 1:  # Stream: a bare name is searched in every `hardware` folder of inputs/
        inputs = next((a for a in (acc_dir, *acc_dir.parents) if a.name == "inputs"), None)
        if inputs is not None:
            seen.append(inputs / "**" / "hardware*" / "**" / p.name)
            for root, dirs, files in sorted(os.walk(inputs)):
                dirs.sort()
                if "hardware" in Path(root).relative_to(inputs).as_posix() and p.name in files:
                    return Path(root) / p.name, seen
    return None, seen


def _pair(v: Any, ctx: _Ctx, field: str) -> tuple[str, str]:
    if isinstance(v, str):
        a, sep, b = v.partition(",")
        if not sep:
            raise ctx.err(
                field, f"{_short(v)} not allowed", "'<operand>, <direction>' e.g. 'I1, tl'"
            )
        return a.strip(), b.strip()
    if isinstance(v, (list, tuple)) and len(v) == 2:
        return str(v[0]).strip(), str(v[1]).strip()
    raise ctx.err(field, f"{_short(v)} not allowed", "'<operand>, <direction>' e.g. 'I1, tl'")


def _check_alloc(o: str, d: str, operands: tuple[str, ...], ctx: _Ctx, field: str) -> None:
    if o not in operands:
        raise ctx.err(field, f"operand {o!r} not allowed", ", ".join(operands))
    if d not in DIRECTIONS:
        raise ctx.err(field, f"direction {d!r} not allowed", ", ".join(DIRECTIONS))


def _ports_new(
    raw: list[Any], operands: tuple[str, ...], ctx: _Ctx, field: str
) -> tuple[Port, ...]:
    ports = []
    for i, p in enumerate(raw):
        pf = f"{field}[{i}]"
        p = ctx.mapping(p, pf)
        ctx.keys(p, pf, _PORT_KEYS)
        name = ctx.required(p, "name", pf, "a port name")
        kind = ctx.required(p, "type", pf, ", ".join(PORT_KINDS))
        if kind not in PORT_KINDS:
            raise ctx.err(f"{pf}.type", f"{_short(kind)} not allowed", ", ".join(PORT_KINDS))
        bw_max = ctx.number(
            ctx.required(p, "bandwidth_max", pf, limits.BANDWIDTH.describe()),
            f"{pf}.bandwidth_max",
            limits.BANDWIDTH,
        )
        bw_min = bw_max
        if p.get("bandwidth_min") is not None:
            bw_min = ctx.number(p["bandwidth_min"], f"{pf}.bandwidth_min", limits.BANDWIDTH)
            if bw_min > bw_max:
                raise ctx.err(
                    f"{pf}.bandwidth_min", f"{bw_min} not allowed", f"<= bandwidth_max ({bw_max})"
                )
        alloc = []
        for j, a in enumerate(ctx.seq(p.get("allocation") or [], f"{pf}.allocation")):
            o, d = _pair(a, ctx, f"{pf}.allocation[{j}]")
            _check_alloc(o, d, operands, ctx, f"{pf}.allocation[{j}]")
            alloc.append((o, d))
        ports.append(Port(str(name), kind, bw_min, bw_max, sort_allocation(alloc)))
    names = [p.name for p in ports]
    if len(set(names)) != len(names):
        raise ctx.err(field, f"duplicate port names {names}", "unique names")
    return tuple(ports)


def _ports_old(
    m: Mapping[str, Any], operands: tuple[str, ...], ctx: _Ctx, field: str
) -> tuple[Port, ...]:
    bw = limits.BANDWIDTH
    r_bw = ctx.number(ctx.required(m, "r_bw", field, bw.describe()), f"{field}.r_bw", bw)
    w_bw = ctx.number(ctx.required(m, "w_bw", field, bw.describe()), f"{field}.w_bw", bw)
    counts = {}
    for key, default in (("r_port", 1), ("w_port", 1), ("rw_port", 0)):
        v = m.get(key, default)
        counts[key] = int(ctx.number(v, f"{field}.{key}", limits.PORT_COUNT))
    r_min = r_bw
    w_min = w_bw
    if m.get("min_r_granularity") is not None:
        r_min = min(r_bw, ctx.number(m["min_r_granularity"], f"{field}.min_r_granularity", bw))
    if m.get("min_w_granularity") is not None:
        w_min = min(w_bw, ctx.number(m["min_w_granularity"], f"{field}.min_w_granularity", bw))
    specs: dict[str, tuple[str, float, float]] = {}
    for i in range(1, counts["r_port"] + 1):
        specs[f"r_port_{i}"] = ("read", r_min, r_bw)
    for i in range(1, counts["w_port"] + 1):
        specs[f"w_port_{i}"] = ("write", w_min, w_bw)
    for i in range(1, counts["rw_port"] + 1):  # ZigZag: a rw port has the read bandwidth
        specs[f"rw_port_{i}"] = ("read_write", r_min, r_bw)
    if not any(k in ("read", "read_write") for k, _, _ in specs.values()) or not any(
        k in ("write", "read_write") for k, _, _ in specs.values()
    ):
        raise ctx.err(
            f"{field}.r_port", f"port counts {counts} leave no read or no write port", ">= 1 each"
        )
    alloc: dict[str, list[tuple[str, str]]] = {n: [] for n in specs}
    raw = m.get("ports")
    if raw is None:  # no allocation given: reads on the first read port, writes on the first write
        r_default, w_default = default_ports(operands, 1.0, 1.0)
        alloc["r_port_1" if "r_port_1" in alloc else "rw_port_1"].extend(r_default.allocation)
        alloc["w_port_1" if "w_port_1" in alloc else "rw_port_1"].extend(w_default.allocation)
    else:
        raw = ctx.seq(raw, f"{field}.ports")
        if len(raw) != len(operands):
            raise ctx.err(
                f"{field}.ports",
                f"{len(raw)} allocation entries for operands {list(operands)}",
                "one {direction: port} mapping per operand, in operands order",
            )
        for j, (operand, entry) in enumerate(zip(operands, raw, strict=True)):
            ef = f"{field}.ports[{j}]"
            entry = ctx.mapping(entry, ef)
            for d, pname in entry.items():
                if d not in DIRECTIONS:
                    raise ctx.err(
                        f"{ef}.{d}", f"direction {d!r} not allowed", ", ".join(DIRECTIONS)
                    )
                if pname not in alloc:
                    raise ctx.err(
                        f"{ef}.{d}", f"port {_short(pname)} not allowed", ", ".join(alloc)
                    )
                alloc[pname].append((operand, d))
    return tuple(
        Port(n, kind, bmin, bmax, sort_allocation(alloc[n]))
        for n, (kind, bmin, bmax) in specs.items()
    )


def _served(v: Any, dims: tuple[str, ...], ctx: _Ctx, field: str) -> tuple[str, ...]:
    if v is None:
        return ()
    v = ctx.seq(v, field)
    out: list[str] = []
    for i, d in enumerate(v):
        if isinstance(d, (list, tuple)):  # ZigZag 2.x unit-vector form, e.g. [1, 0]
            hits = [f"D{k + 1}" for k, x in enumerate(d) if x]
            if len(hits) != 1:
                raise ctx.err(f"{field}[{i}]", f"{_short(d)} not allowed", "a dimension name")
            d = hits[0]
        if not isinstance(d, str) or (dims and d not in dims):
            raise ctx.err(f"{field}[{i}]", f"{_short(d)} not allowed", ", ".join(dims) or "none")
        out.append(d)
    return tuple(out)


def _memory(name: str, m: Any, dims: tuple[str, ...], ctx: _Ctx) -> Memory:
    field = f"memories.{name}"
    m = ctx.mapping(m, field)
    ctx.keys(m, field, _MEM_KEYS)
    size, word = limits.SIZE_BITS, limits.WORD_ENERGY
    size_bits = ctx.number(ctx.required(m, "size", field, size.describe()), f"{field}.size", size)
    r_cost = ctx.number(ctx.required(m, "r_cost", field, word.describe()), f"{field}.r_cost", word)
    w_cost = ctx.number(ctx.required(m, "w_cost", field, word.describe()), f"{field}.w_cost", word)
    ops_raw = ctx.seq(ctx.required(m, "operands", field, ", ".join(OPERANDS)), f"{field}.operands")
    for i, o in enumerate(ops_raw):
        if o not in OPERANDS:
            raise ctx.err(f"{field}.operands[{i}]", f"{_short(o)} not allowed", ", ".join(OPERANDS))
    if not ops_raw or len(set(ops_raw)) != len(ops_raw):
        raise ctx.err(f"{field}.operands", f"{ops_raw} not allowed", "a non-empty set of I1, I2, O")
    operands = tuple(ops_raw)
    raw_ports = m.get("ports")
    old = any(k in m for k in ("r_bw", "w_bw", "r_port", "w_port", "rw_port")) or (
        isinstance(raw_ports, list)
        and any(isinstance(p, dict) and "name" not in p for p in raw_ports)
    )
    if old:
        ports = _ports_old(m, operands, ctx, field)
    else:
        ports = _ports_new(
            ctx.seq(ctx.required(m, "ports", field, "a list of ports"), f"{field}.ports"),
            operands,
            ctx,
            f"{field}.ports",
        )
    r_bw = max((p.bandwidth_max for p in ports if p.kind in ("read", "read_write")), default=0.0)
    w_bw = max((p.bandwidth_max for p in ports if p.kind in ("write", "read_write")), default=0.0)
    if r_bw == 0 or w_bw == 0:
        raise ctx.err(
            f"{field}.ports",
            "no read or no write capable port",
            "at least one read/read_write and one write/read_write port",
        )
    return Memory(
        name=str(name),
        size_bits=size_bits,
        r_bw=r_bw,
        w_bw=w_bw,
        r_cost=r_cost,
        w_cost=w_cost,
        operands=frozenset(operands),
        ports=ports,
        served_dimensions=_served(
            m.get("served_dimensions"), dims, ctx, f"{field}.served_dimensions"
        ),
    )


_DIM_RE = re.compile(r"^D[1-9][0-9]*$")


def _array(raw: Mapping[str, Any], key: str, ctx: _Ctx) -> OperationalArray:
    a = ctx.mapping(raw[key], key)
    ctx.keys(a, key, _ARRAY_KEYS)
    ekey = "unit_energy" if "unit_energy" in a else "multiplier_energy"
    op_e = limits.OP_ENERGY
    energy = ctx.number(ctx.required(a, ekey, key, op_e.describe()), f"{key}.{ekey}", op_e)
    dims = ctx.seq(ctx.required(a, "dimensions", key, "names D1, D2, ..."), f"{key}.dimensions")
    sizes = ctx.seq(ctx.required(a, "sizes", key, "integers >= 0"), f"{key}.sizes")
    for i, d in enumerate(dims):
        if not isinstance(d, str) or not _DIM_RE.match(d):
            raise ctx.err(f"{key}.dimensions[{i}]", f"{_short(d)} not allowed", "D1, D2, ...")
    if len(set(dims)) != len(dims):
        raise ctx.err(f"{key}.dimensions", f"duplicates in {dims}", "unique names")
    if len(sizes) != len(dims):
        raise ctx.err(
            f"{key}.sizes",
            f"{len(sizes)} sizes for {len(dims)} dimensions",
            "one size per dimension",
        )
    isizes = tuple(
        int(ctx.number(s, f"{key}.sizes[{i}]", limits.ARRAY_SIZE)) for i, s in enumerate(sizes)
    )
    return OperationalArray(energy, tuple(dims), isizes)


def _dataflows(
    v: Any, array: OperationalArray, ctx: _Ctx
) -> dict[str, tuple[tuple[str, int], ...]] | None:
    if v is None:
        return None
    v = ctx.mapping(v, "dataflows")
    out: dict[str, tuple[tuple[str, int], ...]] = {}
    for d, entries in v.items():
        f = f"dataflows.{d}"
        if d not in array.dimensions:
            raise ctx.err(f, f"dimension {d!r} not allowed", ", ".join(array.dimensions))
        if isinstance(entries, (str, int)):
            entries = [entries]
        entries = ctx.seq(entries, f)
        if (
            len(entries) == 2
            and isinstance(entries[0], str)
            and "," not in entries[0]
            and isinstance(entries[1], int)
        ):
            entries = [entries]  # a single [K, 32] pair
        pairs = []
        for i, e in enumerate(entries):
            ld, n = _pair(e, ctx, f"{f}[{i}]")
            if ld not in LOOP_DIMS:
                raise ctx.err(
                    f"{f}[{i}]", f"loop dimension {ld!r} not allowed", ", ".join(LOOP_DIMS)
                )
            if isinstance(n, str) and n.isdigit() and len(n) <= 10:  # "K, 32" strings
                n = int(n)
            size = int(ctx.number(n, f"{f}[{i}]", limits.UNROLL))
            pairs.append((ld, size))
        cap = array.sizes[array.dimensions.index(d)]
        if math.prod(n for _, n in pairs) > cap:
            raise ctx.err(
                f, f"unrolling {pairs} exceeds the array size {cap}", f"a product <= {cap}"
            )
        out[str(d)] = tuple(pairs)
    return out


def _parse_core_file(path: Path, note: str) -> dict[str, Any]:
    """Parse and validate one core file; ``kind`` is decided later per core id."""
    ctx = _Ctx(path, note)
    raw = ctx.mapping(read_yaml(path), "<top level>")
    ctx.keys(raw, "", _CORE_KEYS)
    ctype = raw.get("type", "compute")
    if ctype not in _CORE_TYPES:
        extra = ""
        if isinstance(ctype, str) and ctype.startswith("aie"):
            extra = (
                " (AMD AIE tiles declare only `memory:` and no operational_array/memories, "
                "so monet-opt has no PE array or energy data to cost them)"
            )
        raise ctx.err("type", f"{_short(ctype)} not allowed{extra}", ", ".join(_CORE_TYPES))
    kind = ctype.rpartition(".")[2]
    akey = "operational_array" if "operational_array" in raw else "multipliers"
    if akey not in raw:
        raise ctx.err("operational_array", "required key missing", "unit_energy, dimensions, sizes")
    array = _array(raw, akey, ctx)
    mems_raw = ctx.mapping(
        ctx.required(raw, "memories", "", "a mapping name -> memory, lowest level first"),
        "memories",
    )
    if not mems_raw:
        raise ctx.err("memories", "empty", "at least one memory")
    memories = tuple(_memory(str(n), m, array.dimensions, ctx) for n, m in mems_raw.items())
    op_types = raw.get("operator_types")
    kinds = None
    if op_types is not None:
        op_types = ctx.seq(op_types, "operator_types")
        kinds = op_kinds_for_onnx_types(op_types, source=str(path), field="operator_types")
    name = raw.get("name", path.stem)
    return {
        "name": str(name),
        "kind": kind,
        "array": array,
        "memories": memories,
        "dataflows": _dataflows(raw.get("dataflows"), array, ctx),
        "operator_types": kinds,
        "raw_operator_types": None if op_types is None else tuple(map(str, op_types)),
        "sparse": _sparse(raw.get("sparse"), ctx),
    }


def _sparse(v: Any, ctx: _Ctx) -> SparseSupport | None:
    """The core's ``sparse`` support (our schema's :class:`SparseSpec`), or ``None``."""
    if v is None:
        return None
    v = ctx.mapping(v, "sparse")
    try:
        return SparseSpec.model_validate(v).to_support()
    except ValidationError as exc:
        e = exc.errors()[0]
        where = ".".join(["sparse", *(str(x) for x in e["loc"])])
        raise ctx.err(
            where, str(e["msg"]), "gather_bits_per_cycle, index_bits_per_cycle, n_m [[n, m]]"
        ) from None


def _make_core(core_id: int, parsed: Mapping[str, Any], offchip_core_id: int | None) -> Core:
    kind = parsed["kind"]
    if core_id == offchip_core_id:
        kind = "offchip"
    elif kind == "compute" and parsed["array"].n_pes == 0:
        kind = "memory"
    return Core(
        id=core_id,
        name=parsed["name"],
        kind=kind,
        array=parsed["array"],
        memories=parsed["memories"],
        dataflows=parsed["dataflows"],
        operator_types=parsed["operator_types"],
        sparse=parsed.get("sparse"),
    )


def load_stream_core(
    path: str | os.PathLike[str], core_id: int = 0, *, offchip_core_id: int | None = None
) -> Core:
    """Load one Stream core YAML file as a :class:`Core`.

    Parameters
    ----------
    path
        Core file.
    core_id
        Id to give the core.
    offchip_core_id
        If equal to ``core_id`` the core is the off-chip (DRAM) core.

    Raises
    ------
    HardwareFormatError
        If the file is malformed.
    """
    return _make_core(core_id, _parse_core_file(Path(path), ""), offchip_core_id)


def load_stream_accelerator(path: str | os.PathLike[str]) -> Accelerator:
    """Load a Stream accelerator YAML file and the core files it references.

    Parameters
    ----------
    path
        The accelerator file (Stream's format, see the module docstring).

    Returns
    -------
    Accelerator
        ``source`` is ``str(path)``; ``_extra`` holds ``format="stream"``, the resolved
        ``core_files``, ``unit_energy_cost`` (pJ per active link cycle), per-link
        ``link_unit_energy_cost``, ``stream_operator_types`` and, when present,
        ``core_coordinates``, ``technology_node`` and ``memory_aliases``.

    Raises
    ------
    HardwareFormatError
        If a file is missing or malformed (message: file, field, allowed values).
    """
    path = Path(path)
    ctx = _Ctx(path)
    raw = read_yaml(path)
    raw = ctx.mapping(raw, "<top level>")
    if "memories" in raw and "cores" not in raw:
        raise ctx.err(
            "cores", "required key missing (this looks like a core file)", "an accelerator file"
        )
    ctx.keys(raw, "", _ACC_KEYS)
    cores_raw = ctx.mapping(
        ctx.required(raw, "cores", "", "a mapping core id -> core file"), "cores"
    )
    if not cores_raw:
        raise ctx.err("cores", "empty", "a mapping core id -> core file")
    ids = [ctx.core_id(k, f"cores.{k}") for k in cores_raw]
    if len(set(ids)) != len(ids):
        raise ctx.err("cores", f"duplicate core ids {ids}", "unique ids")
    oc_raw = raw.get("offchip_core_id")
    offchip_core_id = None if oc_raw is None else ctx.core_id(oc_raw, "offchip_core_id", ids)

    parsed_cache: dict[Path, dict[str, Any]] = {}
    core_files: dict[int, str] = {}
    cores: list[Core] = []
    op_types: dict[int, tuple[str, ...]] = {}
    for cid, ref in zip(ids, cores_raw.values(), strict=True):
        if not isinstance(ref, str) or not ref.strip():
            raise ctx.err(f"cores.{cid}", f"{_short(ref)} not allowed", "a core YAML file path")
        found, tried = resolve_core_path(ref.strip(), path.parent)
        if found is None:
            raise ctx.err(
                f"cores.{cid}",
                f"core file {ref!r} not found",
                "an existing file; tried " + ", ".join(str(t) for t in tried),
            )
        key = found.resolve()
        if key not in parsed_cache:
            parsed_cache[key] = _parse_core_file(found, f"core {cid} of {path}")
        parsed = parsed_cache[key]
        if parsed["kind"] == "offchip" and cid != offchip_core_id:
            raise ctx.err(
                "offchip_core_id",
                f"core {cid} ({found.name}) has an offchip type but offchip_core_id is "
                f"{offchip_core_id}",
                f"{cid}",
            )
        core_files[cid] = str(found)
        cores.append(_make_core(cid, parsed, offchip_core_id))
        if parsed["raw_operator_types"] is not None:
            op_types[cid] = parsed["raw_operator_types"]

    default_uec = 0.0
    if raw.get("unit_energy_cost") is not None:
        default_uec = ctx.number(raw["unit_energy_cost"], "unit_energy_cost", limits.CYCLE_ENERGY)
    links: list[Link] = []
    link_uec: list[float] = []
    conn = raw.get("core_connectivity") or []
    conn = ctx.seq(conn, "core_connectivity")
    for i, entry in enumerate(conn):
        f = f"core_connectivity[{i}]"
        if isinstance(entry, (str, list)):  # old form "0, 1" with the top-level bandwidth
            members = _id_list(entry, ctx, f, ids)
            kind = "link" if len(members) == 2 else "bus"
            bw = ctx.number(
                ctx.required(
                    raw,
                    "bandwidth",
                    "",
                    f"{limits.LINK_BANDWIDTH.describe()} (needed by string connections)",
                ),
                "bandwidth",
                limits.LINK_BANDWIDTH,
            )
            uec = default_uec
        else:
            entry = ctx.mapping(entry, f)
            ctx.keys(entry, f, _LINK_KEYS)
            kind = entry.get("type", "link")
            if kind not in ("link", "bus"):
                raise ctx.err(f"{f}.type", f"{_short(kind)} not allowed", "link, bus")
            members = _id_list(
                ctx.required(entry, "cores", f, "a list of core ids"), ctx, f"{f}.cores", ids
            )
            bw = ctx.number(
                ctx.required(entry, "bandwidth", f, limits.LINK_BANDWIDTH.describe()),
                f"{f}.bandwidth",
                limits.LINK_BANDWIDTH,
            )
            uec = default_uec
            if entry.get("unit_energy_cost") is not None:
                uec = ctx.number(
                    entry["unit_energy_cost"], f"{f}.unit_energy_cost", limits.CYCLE_ENERGY
                )
        if len(set(members)) != len(members) or len(members) < 2:
            raise ctx.err(f, f"cores {list(members)} not allowed", ">= 2 distinct core ids")
        if kind == "link" and len(members) != 2:
            raise ctx.err(f"{f}.cores", f"{len(members)} cores on a link", "2 (use type: bus)")
        epb = 0.0 if math.isinf(bw) else uec / bw
        if limits.BIT_ENERGY.violation(epb) is not None:
            raise ctx.err(
                f"{f}.unit_energy_cost" if isinstance(entry, dict) else "unit_energy_cost",
                f"{uec:g} pJ per link cycle at {bw:g} bits/cycle is {epb:g} pJ/bit, not allowed",
                f"a link energy {limits.BIT_ENERGY.describe()}",
            )
        links.append(Link(members, kind, bw, epb))
        link_uec.append(uec)

    sharing: list[tuple[int, ...]] = []
    for i, grp in enumerate(ctx.seq(raw.get("core_memory_sharing") or [], "core_memory_sharing")):
        members = _id_list(grp, ctx, f"core_memory_sharing[{i}]", ids)
        if len(members) < 2:
            raise ctx.err(
                f"core_memory_sharing[{i}]", f"{list(members)} not allowed", ">= 2 core ids"
            )
        sharing.append(members)

    extra: dict[str, Any] = {
        "format": "stream",
        "core_files": core_files,
        "unit_energy_cost": default_uec,
        "link_unit_energy_cost": tuple(link_uec),
        "stream_operator_types": op_types,
    }
    coords = raw.get("core_coordinates")
    if coords is not None:
        coords = ctx.mapping(coords, "core_coordinates")
        extra["core_coordinates"] = {
            ctx.core_id(k, f"core_coordinates.{k}", ids): tuple(ctx.seq(v, f"core_coordinates.{k}"))
            for k, v in coords.items()
        }
    for key in ("technology_node", "memory_aliases"):
        if raw.get(key) is not None:
            extra[key] = raw[key]
    name = raw.get("name", path.stem)
    if not isinstance(name, str) or not name:
        raise ctx.err("name", f"{_short(name)} not allowed", "a non-empty string")
    return Accelerator(
        name=name,
        cores=tuple(cores),
        links=tuple(links),
        offchip_core_id=offchip_core_id,
        memory_sharing=tuple(sharing),
        source=str(path),
        _extra=extra,
    )
