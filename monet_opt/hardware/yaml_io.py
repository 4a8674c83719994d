"""monet-opt's own accelerator YAML schema (``format: monet-opt/accelerator@1``).

The schema is validated with pydantic v2 (unknown keys are errors) and every key that
carries a quantity names its unit. It maps one to one onto
:class:`~monet_opt.hardware.model.Accelerator`; Stream/ZigZag files are read by
:mod:`monet_opt.hardware.stream_io` instead.

File layout
-----------
.. code-block:: yaml

    format: monet-opt/accelerator@1
    name: my_chip
    description: free text                       # optional
    offchip_core_id: 6                           # optional; the core fronting DRAM
    cores:
      - id: 0
        name: compute0
        kind: compute                            # compute | offchip | memory
        array: {dimensions: [D1, D2], sizes: [32, 32], unit_energy_pj: 0.04}
        dataflow: {D1: [[K, 32]], D2: [[C, 32]]} # optional fixed spatial unrolling
        operator_types: [conv, gemm]             # optional restriction (see below)
        memories:                                # lowest level (closest to PEs) first
          - name: w_reg
            size_bits: 512
            read_bw_bits_per_cycle: 8
            write_bw_bits_per_cycle: 8
            read_pj_per_word: 0.053              # pJ per access of one read_bw-bit word
            write_pj_per_word: 0.053             # pJ per access of one write_bw-bit word
            operands: [I2]                       # subset of I1 (input), I2 (weight), O
            served_dimensions: []                # array dims sharing one instance
            shared_port: false                   # optional: one read_write port
            ports:                               # optional explicit ports (see below)
              - {name: r_port_1, kind: read, bandwidth_bits_per_cycle: 8,
                 min_bandwidth_bits_per_cycle: 8, allocation: [[I2, tl]]}
    links:
      - {kind: link, cores: [0, 1], bandwidth_bits_per_cycle: 64, energy_pj_per_bit: 0}
      - {kind: bus, cores: [0, 1, 2, 6], bandwidth_bits_per_cycle: .inf}
    memory_sharing: [[0, 1]]                     # cores sharing their top-level memory
    extra: {}                                    # optional free-form metadata

Units: sizes in **bits**, bandwidths in **bits/cycle**, memory energies in **pJ per
access of one port-wide word**, array energy in **pJ per MAC** (per element operation
on SIMD/pooling arrays), link energy in **pJ/bit**. Link bandwidth may be ``.inf``
("unlimited", e.g. Stream 0.0.8's SIMD-core links); memory quantities must be finite.

Ports. Without ``ports`` a memory gets one ``read`` port ``r_port_1`` of
``read_bw_bits_per_cycle`` and one ``write`` port ``w_port_1`` of
``write_bw_bits_per_cycle`` (or, with ``shared_port: true``, a single ``read_write``
port ``rw_port_1``; read and write bandwidths must then be equal). Each operand is
allocated ``tl`` (read to lower) and ``fh`` (write from higher); ``O`` also gets ``th``
and ``fl``. With explicit ``ports`` the bandwidth keys may be omitted: they are the widest
read / write capable port (a ``read_write`` port counts for both). ``ports: []`` keeps no
port detail and requires both bandwidth keys. Allocation entries are ``[operand,
direction]`` pairs (Stream's ``"I1, tl"`` strings are accepted too).

Operator types and op kinds (convention shared with the cost model)
-------------------------------------------------------------------
``Core.operator_types`` holds **op-kind names**, the values of
:class:`monet_opt.models.ir.OpKind`: ``conv``, ``gemm``, ``elementwise``, ``pool``,
``norm``, ``loss``, ``optimizer``, ``shape`` (see :data:`OP_KINDS`).

* ``operator_types`` absent (``None``): no restriction, the core may run every kind.
  This is Stream's semantics; in the shipped examples the unrestricted cores are the MAC
  arrays and run ``conv``/``gemm`` (and anything no specialised core takes).
* The SIMD core of the examples lists ``[elementwise, norm, loss, optimizer]`` and the
  pooling core ``[pool]``, following MONET's mapping (REFERENCE §3: ReluGrad, ReduceSum,
  the loss gradient and every optimizer op go to the SIMD core, pooling to the pooling
  core).
* ``shape`` ops are zero-cost and allowed on every compute core (:func:`core_supports`).
* Cores of kind ``offchip`` or ``memory`` and cores with 0 PEs run nothing.

Stream files list ONNX op types instead (``[Add, Mul, Relu]``, ``[MaxPool]``...).
:func:`op_kinds_for_onnx_types` maps them with :data:`ONNX_OP_KINDS`: MAC ops to
``conv``/``gemm``, pools to ``pool``, reductions/normalisations to ``norm`` and any
element-wise arithmetic op to the whole vector group ``elementwise``, ``norm``, ``loss``,
``optimizer`` (an AdamW/SGD update and the softmax-cross-entropy gradient are chains of
element-wise Mul/Add/Div/Sqrt/Sub/Exp ops plus small reductions, which MONET runs on the
SIMD core). This matches the grouping of ``monet_opt.cost.op_cost``. :func:`core_supports`
is the capability test only; MONET's preference rule (unrestricted cores leave kinds
claimed by a specialised core to that core) is ``monet_opt.cost.op_cost.can_run``.
"""

from __future__ import annotations

import math
import os
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from monet_opt.atomic import write_text_atomic

from .model import OPERANDS, Accelerator, Core, Link, Memory, OperationalArray, Port

__all__ = [
    "FORMAT_ID",
    "HardwareFormatError",
    "OP_KINDS",
    "MAC_OP_KINDS",
    "ONNX_OP_KINDS",
    "LOOP_DIMS",
    "DIRECTIONS",
    "PORT_KINDS",
    "CORE_KINDS",
    "op_kinds_for_onnx_types",
    "core_supports",
    "default_ports",
    "sort_allocation",
    "load_monet_accelerator",
    "accelerator_from_dict",
    "accelerator_to_dict",
    "dump_accelerator",
    "read_yaml",
]

#: Value of the ``format`` key identifying our schema.
FORMAT_ID = "monet-opt/accelerator@1"

#: Op-kind names (values of ``monet_opt.models.ir.OpKind``).
OP_KINDS: tuple[str, ...] = (
    "conv",
    "gemm",
    "elementwise",
    "pool",
    "norm",
    "loss",
    "optimizer",
    "shape",
)
#: Kinds that run as MACs on a PE array.
MAC_OP_KINDS: frozenset[str] = frozenset({"conv", "gemm"})
#: ZigZag loop dimensions accepted in dataflows (``monet_opt.models.ir.LOOP_DIMS``).
LOOP_DIMS: tuple[str, ...] = ("B", "G", "K", "C", "D", "OY", "OX", "FY", "FX", "E")
#: Port allocation directions: write from higher, read to lower, write from lower,
#: read to higher (ZigZag).
DIRECTIONS: tuple[str, ...] = ("fh", "tl", "fl", "th")
#: Memory port kinds.
PORT_KINDS: tuple[str, ...] = ("read", "write", "read_write")
#: Core kinds. ``memory`` is an on-chip memory-only core (Stream ``zigzag.memory``).
CORE_KINDS: tuple[str, ...] = ("compute", "offchip", "memory")

_ELEMENTWISE = ("elementwise", "norm", "loss", "optimizer")
_ELEMENTWISE_ONNX = (
    "Add Sub Mul Div Exp Log Pow Sqrt Reciprocal Neg Abs Relu LeakyRelu Silu Sigmoid Gelu "
    "Tanh Erf Clip Max Min Where Equal Less Greater Cast ReluGrad SigmoidGrad GeluGrad "
    "Identity Dropout"
).split()
#: ONNX op type (as in Stream's ``operator_types``) -> op kinds it grants.
ONNX_OP_KINDS: Mapping[str, tuple[str, ...]] = types.MappingProxyType(
    {
        **{t: ("conv",) for t in ("Conv", "ConvTranspose", "QLinearConv", "ConvInteger")},
        **{t: ("gemm",) for t in ("MatMul", "Gemm", "Einsum", "MatMulInteger", "QLinearMatMul")},
        **{
            t: ("pool",)
            for t in (
                "MaxPool",
                "AveragePool",
                "GlobalAveragePool",
                "GlobalMaxPool",
                "LpPool",
                "MaxPoolGrad",
                "AveragePoolGrad",
            )
        },
        **{
            t: ("norm",)
            for t in (
                "Softmax",
                "LogSoftmax",
                "ReduceMax",
                "ReduceMin",
                "ReduceSum",
                "ReduceMean",
                "ReduceProd",
                "LayerNormalization",
                "BatchNormalization",
                "LpNormalization",
                "InstanceNormalization",
            )
        },
        **{
            t: ("loss",)
            for t in (
                "SoftmaxCrossEntropyLoss",
                "SoftmaxCrossEntropyLossGrad",
                "NegativeLogLikelihoodLoss",
            )
        },
        **{t: ("shape",) for t in ("Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze")},
        **{t: _ELEMENTWISE for t in _ELEMENTWISE_ONNX},
    }
)


class HardwareFormatError(ValueError):
    """A hardware file is malformed.

    The message names the file, the offending field (a path such as
    ``cores[2].memories[0].operands[1]``) and the allowed values.
    """


def op_kinds_for_onnx_types(
    names: Iterable[str], *, source: str = "<input>", field: str = "operator_types"
) -> frozenset[str]:
    """Op kinds granted by a Stream ``operator_types`` list.

    Parameters
    ----------
    names
        ONNX op types (``"Add"``, ``"MaxPool"``...) or op-kind names (``"pool"``).
    source, field
        File and field, for error messages.

    Returns
    -------
    frozenset[str]
        Op-kind names (see :data:`OP_KINDS`).

    Raises
    ------
    HardwareFormatError
        On an unknown name.
    """
    kinds: set[str] = set()
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise HardwareFormatError(
                f"{source}: {field}[{i}]: {name!r} not allowed; expected an ONNX op type or "
                f"an op kind ({', '.join(OP_KINDS)})"
            )
        if name in OP_KINDS:
            kinds.add(name)
        elif name in ONNX_OP_KINDS:
            kinds.update(ONNX_OP_KINDS[name])
        else:
            raise HardwareFormatError(
                f"{source}: {field}[{i}]: {name!r} not allowed; allowed: op kinds "
                f"{', '.join(OP_KINDS)} or ONNX op types {', '.join(sorted(ONNX_OP_KINDS))}"
            )
    return frozenset(kinds)


def core_supports(core: Core, kind: str) -> bool:
    """True if ``core`` may run an op of kind ``kind`` (see the module docstring).

    Parameters
    ----------
    core
        The core.
    kind
        An op-kind name (``OpKind`` value; a ``StrEnum`` member works too).
    """
    if core.kind != "compute" or core.array.n_pes == 0:
        return False
    kind = str(kind)
    if kind == "shape" or core.operator_types is None:
        return True
    return kind in core.operator_types


# --------------------------------------------------------------------------- ports


def sort_allocation(pairs: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """Canonical order of ``(operand, direction)`` pairs (operand order, then fh/tl/fl/th)."""

    def key(p: tuple[str, str]) -> tuple[int, int, str, str]:
        o, d = p
        oi = OPERANDS.index(o) if o in OPERANDS else len(OPERANDS)
        di = DIRECTIONS.index(d) if d in DIRECTIONS else len(DIRECTIONS)
        return (oi, di, o, d)

    return tuple(sorted(dict.fromkeys(pairs), key=key))


def default_ports(
    operands: Iterable[str], r_bw: float, w_bw: float, *, shared: bool = False
) -> tuple[Port, ...]:
    """Ports given to a memory that lists none (see the module docstring).

    Parameters
    ----------
    operands
        Operands held.
    r_bw, w_bw
        Read / write bandwidth in bits/cycle.
    shared
        One ``read_write`` port ``rw_port_1`` of ``r_bw`` instead of separate ports.
    """
    ops = [o for o in OPERANDS if o in set(operands)]
    reads = [(o, "tl") for o in ops] + ([("O", "th")] if "O" in ops else [])
    writes = [(o, "fh") for o in ops] + ([("O", "fl")] if "O" in ops else [])
    if shared:
        return (Port("rw_port_1", "read_write", r_bw, r_bw, sort_allocation(reads + writes)),)
    return (
        Port("r_port_1", "read", r_bw, r_bw, sort_allocation(reads)),
        Port("w_port_1", "write", w_bw, w_bw, sort_allocation(writes)),
    )


def _widest(ports: Sequence[Port], kinds: tuple[str, ...]) -> float:
    return max((p.bandwidth_max for p in ports if p.kind in kinds), default=0.0)


# --------------------------------------------------------------------------- schema

Operand = Literal["I1", "I2", "O"]
Direction = Literal["fh", "tl", "fl", "th"]
PortKind = Literal["read", "write", "read_write"]
CoreKind = Literal["compute", "offchip", "memory"]
LinkKind = Literal["link", "bus"]
OpKindName = Literal["conv", "gemm", "elementwise", "pool", "norm", "loss", "optimizer", "shape"]
LoopDim = Literal["B", "G", "K", "C", "D", "OY", "OX", "FY", "FX", "E"]
ArrayDim = Annotated[str, Field(pattern=r"^D[1-9][0-9]*$")]
PosFinite = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegFinite = Annotated[float, Field(ge=0, allow_inf_nan=False)]
PosOrInf = Annotated[float, Field(gt=0)]
NonNegInt = Annotated[int, Field(ge=0)]
PosInt = Annotated[int, Field(gt=0)]
Name = Annotated[str, Field(min_length=1)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _split_pair(v: Any) -> Any:
    """Accept Stream's ``"I1, tl"`` / ``"K, 32"`` strings as pairs."""
    if isinstance(v, str) and "," in v:
        a, _, b = v.partition(",")
        b = b.strip()
        return [a.strip(), int(b) if b.isdigit() else b]
    return v


class PortSpec(_Spec):
    """A memory port (schema)."""

    name: Name
    kind: PortKind
    bandwidth_bits_per_cycle: PosFinite
    min_bandwidth_bits_per_cycle: PosFinite | None = None
    allocation: list[tuple[Operand, Direction]] = []

    @field_validator("allocation", mode="before")
    @classmethod
    def _pairs(cls, v: Any) -> Any:
        return [_split_pair(x) for x in v] if isinstance(v, list) else v


class MemorySpec(_Spec):
    """A memory level (schema)."""

    name: Name
    size_bits: PosFinite
    read_bw_bits_per_cycle: PosFinite | None = None
    write_bw_bits_per_cycle: PosFinite | None = None
    read_pj_per_word: NonNegFinite
    write_pj_per_word: NonNegFinite
    operands: list[Operand] = Field(min_length=1)
    served_dimensions: list[ArrayDim] = []
    shared_port: bool = False
    ports: list[PortSpec] | None = None


class ArraySpec(_Spec):
    """An operational array (schema)."""

    dimensions: list[ArrayDim]
    sizes: list[NonNegInt]
    unit_energy_pj: NonNegFinite


class CoreSpec(_Spec):
    """A core (schema)."""

    id: NonNegInt
    name: Name
    kind: CoreKind = "compute"
    array: ArraySpec | None = None
    dataflow: dict[ArrayDim, list[tuple[LoopDim, PosInt]]] | None = None
    operator_types: list[OpKindName] | None = None
    memories: list[MemorySpec] = Field(min_length=1)

    @field_validator("dataflow", mode="before")
    @classmethod
    def _pairs(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {
                k: [_split_pair(x) for x in e] if isinstance(e, list) else e for k, e in v.items()
            }
        return v


class LinkSpec(_Spec):
    """A link or bus (schema)."""

    kind: LinkKind = "link"
    cores: list[NonNegInt] = Field(min_length=2)
    bandwidth_bits_per_cycle: PosOrInf
    energy_pj_per_bit: NonNegFinite = 0.0


class AcceleratorSpec(_Spec):
    """A whole accelerator file (schema)."""

    format: Literal["monet-opt/accelerator@1"]
    name: Name
    description: str | None = None
    cores: list[CoreSpec] = Field(min_length=1)
    links: list[LinkSpec] = []
    offchip_core_id: NonNegInt | None = None
    memory_sharing: list[list[NonNegInt]] = []
    extra: dict[str, Any] = {}


# ------------------------------------------------------------------ error messages


def _loc_str(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<top level>"


def _unwrap(ann: Any) -> Any:
    """Strip Annotated / Optional wrappers."""
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


def _annotation_at(loc: Sequence[Any]) -> Any:
    ann: Any = AcceleratorSpec
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
            if part == "[key]":
                ann = typing.get_args(ann)[0]
            else:
                ann = typing.get_args(ann)[1]
        else:
            return None
    return _unwrap(ann)


_UNITS = {
    "size_bits": "bits",
    "read_bw_bits_per_cycle": "bits/cycle",
    "write_bw_bits_per_cycle": "bits/cycle",
    "bandwidth_bits_per_cycle": "bits/cycle",
    "min_bandwidth_bits_per_cycle": "bits/cycle",
    "read_pj_per_word": "pJ per word",
    "write_pj_per_word": "pJ per word",
    "unit_energy_pj": "pJ per MAC",
    "energy_pj_per_bit": "pJ/bit",
}


def _describe(err: Mapping[str, Any]) -> tuple[Sequence[Any], str]:
    loc = list(err["loc"])
    typ = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if typ == "extra_forbidden":
        parent = _annotation_at(loc[:-1])
        allowed = ", ".join(parent.model_fields) if isinstance(parent, type) else "?"
        return loc, f"unknown key {loc[-1]!r}; allowed keys: {allowed}"
    if typ == "missing":
        return loc, "required key missing"
    if typ == "literal_error":
        ann = _annotation_at(loc)
        args = typing.get_args(ann) if typing.get_origin(ann) is Literal else ()
        allowed = ", ".join(map(str, args)) if args else str(ctx.get("expected"))
        return loc, f"{value!r} not allowed; allowed: {allowed}"
    if typ == "string_pattern_mismatch":
        return loc, f"{value!r} not allowed; allowed: array dimension names D1, D2, ..."
    field = next((p for p in reversed(loc) if isinstance(p, str)), "")
    unit = f" {_UNITS[field]}" if field in _UNITS else ""
    for key, op in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
        if key in ctx:
            return loc, f"{value!r} not allowed; allowed: a number {op} {ctx[key]}{unit}"
    if typ == "finite_number":
        return loc, f"{value!r} not allowed; allowed: a finite number{unit}"
    if typ in ("too_short", "too_long"):
        return loc, f"{err['msg']}; got {value!r}"
    if typ == "value_error":
        msg = str(err["msg"]).removeprefix("Value error, ")
        return loc, msg
    return loc, f"{err['msg']} (got {value!r})"


def _format_validation_error(exc: ValidationError, source: str) -> HardwareFormatError:
    lines = []
    for e in exc.errors():
        loc, msg = _describe(e)
        lines.append(f"{source}: {_loc_str(loc)}: {msg}")
    return HardwareFormatError("\n".join(lines))


# ------------------------------------------------------------------------ loading


def read_yaml(path: str | os.PathLike[str]) -> Any:
    """Read a YAML file, turning I/O and syntax errors into :class:`HardwareFormatError`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HardwareFormatError(f"{p}: file not found") from None
    except OSError as exc:
        raise HardwareFormatError(f"{p}: cannot read ({exc})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise HardwareFormatError(f"{p}:{where}: YAML syntax error: {problem}") from None


def _memory_from_spec(m: MemorySpec, source: str, loc: str) -> Memory:
    if m.ports:
        ports = tuple(
            Port(
                name=p.name,
                kind=p.kind,
                bandwidth_min=(
                    p.min_bandwidth_bits_per_cycle
                    if p.min_bandwidth_bits_per_cycle is not None
                    else p.bandwidth_bits_per_cycle
                ),
                bandwidth_max=p.bandwidth_bits_per_cycle,
                allocation=sort_allocation(p.allocation),
            )
            for p in m.ports
        )
        names = [p.name for p in ports]
        if len(set(names)) != len(names):
            raise HardwareFormatError(f"{source}: {loc}.ports: duplicate port names {names}")
        for i, p in enumerate(m.ports):
            mn = p.min_bandwidth_bits_per_cycle
            if mn is not None and mn > p.bandwidth_bits_per_cycle:
                raise HardwareFormatError(
                    f"{source}: {loc}.ports[{i}].min_bandwidth_bits_per_cycle: {mn} not allowed; "
                    f"allowed: <= bandwidth_bits_per_cycle ({p.bandwidth_bits_per_cycle})"
                )
            for o, _d in p.allocation:
                if o not in m.operands:
                    raise HardwareFormatError(
                        f"{source}: {loc}.ports[{i}].allocation: operand {o!r} not allowed; "
                        f"allowed: the memory's operands {', '.join(m.operands)}"
                    )
        r_bw = _widest(ports, ("read", "read_write"))
        w_bw = _widest(ports, ("write", "read_write"))
        for key, given, derived in (
            ("read_bw_bits_per_cycle", m.read_bw_bits_per_cycle, r_bw),
            ("write_bw_bits_per_cycle", m.write_bw_bits_per_cycle, w_bw),
        ):
            if derived == 0:
                raise HardwareFormatError(
                    f"{source}: {loc}.ports: no port serves {key.split('_')[0]}s; allowed port "
                    f"kinds: {', '.join(PORT_KINDS)} (need a read and a write capable port)"
                )
            if given is not None and given != derived:
                raise HardwareFormatError(
                    f"{source}: {loc}.{key}: {given} not allowed; it must equal the widest "
                    f"port of that kind ({derived} bits/cycle) or be omitted"
                )
    else:
        for key in ("read_bw_bits_per_cycle", "write_bw_bits_per_cycle"):
            if getattr(m, key) is None:
                raise HardwareFormatError(
                    f"{source}: {loc}.{key}: required key missing (a positive number of "
                    f"bits/cycle; may be omitted only when `ports` are listed)"
                )
        r_bw = float(m.read_bw_bits_per_cycle or 0.0)
        w_bw = float(m.write_bw_bits_per_cycle or 0.0)
        if m.ports is not None:  # explicit `ports: []`: no port detail
            ports = ()
        else:
            if m.shared_port and r_bw != w_bw:
                raise HardwareFormatError(
                    f"{source}: {loc}.write_bw_bits_per_cycle: {w_bw} not allowed with "
                    f"shared_port: true; allowed: equal to read_bw_bits_per_cycle ({r_bw})"
                )
            ports = default_ports(m.operands, r_bw, w_bw, shared=m.shared_port)
    if len(set(m.operands)) != len(m.operands):
        raise HardwareFormatError(f"{source}: {loc}.operands: duplicates in {m.operands}")
    return Memory(
        name=m.name,
        size_bits=m.size_bits,
        r_bw=r_bw,
        w_bw=w_bw,
        r_cost=m.read_pj_per_word,
        w_cost=m.write_pj_per_word,
        operands=frozenset(m.operands),
        ports=ports,
        served_dimensions=tuple(m.served_dimensions),
    )


def _core_from_spec(c: CoreSpec, i: int, source: str) -> Core:
    loc = f"cores[{i}]"
    if c.array is None:
        if c.kind == "compute":
            raise HardwareFormatError(
                f"{source}: {loc}.array: required key missing for kind compute "
                f"(dimensions, sizes, unit_energy_pj)"
            )
        array = OperationalArray(0.0, ("D1",), (0,))
    else:
        a = c.array
        if len(a.dimensions) != len(a.sizes):
            raise HardwareFormatError(
                f"{source}: {loc}.array.sizes: {len(a.sizes)} sizes for {len(a.dimensions)} "
                f"dimensions; allowed: one size per dimension"
            )
        if len(set(a.dimensions)) != len(a.dimensions):
            raise HardwareFormatError(
                f"{source}: {loc}.array.dimensions: duplicates in {a.dimensions}"
            )
        array = OperationalArray(a.unit_energy_pj, tuple(a.dimensions), tuple(a.sizes))
    if c.kind == "compute" and array.n_pes == 0:
        raise HardwareFormatError(
            f"{source}: {loc}.array.sizes: {list(array.sizes)} not allowed for kind compute; "
            f"allowed: all sizes > 0 (use kind memory or offchip for cores without PEs)"
        )
    dims = set(array.dimensions)
    dataflows = None
    if c.dataflow is not None:
        for d, unroll in c.dataflow.items():
            if d not in dims:
                raise HardwareFormatError(
                    f"{source}: {loc}.dataflow: dimension {d!r} not allowed; allowed: "
                    f"{', '.join(array.dimensions)}"
                )
            size = array.sizes[array.dimensions.index(d)]
            prod = math.prod(n for _, n in unroll)
            if prod > size:
                raise HardwareFormatError(
                    f"{source}: {loc}.dataflow.{d}: unrolling {prod} not allowed; allowed: "
                    f"<= the array size along {d} ({size})"
                )
        dataflows = {d: tuple((str(ld), int(n)) for ld, n in u) for d, u in c.dataflow.items()}
    memories = []
    seen: set[str] = set()
    for j, m in enumerate(c.memories):
        mloc = f"{loc}.memories[{j}]"
        if m.name in seen:
            raise HardwareFormatError(f"{source}: {mloc}.name: duplicate memory name {m.name!r}")
        seen.add(m.name)
        if c.array is not None:
            for d in m.served_dimensions:
                if d not in dims:
                    raise HardwareFormatError(
                        f"{source}: {mloc}.served_dimensions: {d!r} not allowed; allowed: "
                        f"{', '.join(array.dimensions)}"
                    )
        memories.append(_memory_from_spec(m, source, mloc))
    return Core(
        id=c.id,
        name=c.name,
        kind=c.kind,
        array=array,
        memories=tuple(memories),
        dataflows=dataflows,
        operator_types=None if c.operator_types is None else frozenset(c.operator_types),
    )


def accelerator_from_dict(data: Any, source: str = "<input>") -> Accelerator:
    """Build an :class:`Accelerator` from a parsed file of our schema.

    Parameters
    ----------
    data
        The parsed YAML document.
    source
        File name used in error messages and stored in ``Accelerator.source``.

    Raises
    ------
    HardwareFormatError
        On any schema or consistency violation.
    """
    if not isinstance(data, dict):
        raise HardwareFormatError(
            f"{source}: <top level>: expected a mapping, got {type(data).__name__}"
        )
    try:
        spec = AcceleratorSpec.model_validate(data)
    except ValidationError as exc:
        raise _format_validation_error(exc, source) from None
    cores = tuple(_core_from_spec(c, i, source) for i, c in enumerate(spec.cores))
    ids = [c.id for c in cores]
    for i, cid in enumerate(ids):
        if ids.index(cid) != i:
            raise HardwareFormatError(f"{source}: cores[{i}].id: duplicate core id {cid}")
    id_list = ", ".join(map(str, ids))
    links = []
    for i, lk in enumerate(spec.links):
        for cid in lk.cores:
            if cid not in ids:
                raise HardwareFormatError(
                    f"{source}: links[{i}].cores: core {cid} not allowed; allowed: {id_list}"
                )
        if len(set(lk.cores)) != len(lk.cores):
            raise HardwareFormatError(f"{source}: links[{i}].cores: duplicates in {lk.cores}")
        if lk.kind == "link" and len(lk.cores) != 2:
            raise HardwareFormatError(
                f"{source}: links[{i}].cores: a link connects exactly 2 cores (got "
                f"{len(lk.cores)}); use kind: bus for more"
            )
        links.append(
            Link(tuple(lk.cores), lk.kind, lk.bandwidth_bits_per_cycle, lk.energy_pj_per_bit)
        )
    offchip = [c.id for c in cores if c.kind == "offchip"]
    oc = spec.offchip_core_id
    if oc is not None:
        if oc not in ids:
            raise HardwareFormatError(
                f"{source}: offchip_core_id: {oc} not allowed; allowed: a core id ({id_list})"
            )
        if offchip != [oc]:
            raise HardwareFormatError(
                f"{source}: offchip_core_id: core {oc} must be the only core of kind offchip "
                f"(kind offchip cores: {offchip})"
            )
    elif offchip:
        raise HardwareFormatError(
            f"{source}: offchip_core_id: required key missing; core(s) {offchip} have kind offchip"
        )
    sharing = []
    for i, grp in enumerate(spec.memory_sharing):
        for cid in grp:
            if cid not in ids:
                raise HardwareFormatError(
                    f"{source}: memory_sharing[{i}]: core {cid} not allowed; allowed: {id_list}"
                )
        if len(grp) < 2:
            raise HardwareFormatError(
                f"{source}: memory_sharing[{i}]: {grp} not allowed; allowed: >= 2 core ids"
            )
        sharing.append(tuple(grp))
    extra = dict(spec.extra)
    extra.setdefault("format", "monet-opt")
    if spec.description:
        extra["description"] = spec.description
    return Accelerator(
        name=spec.name,
        cores=cores,
        links=tuple(links),
        offchip_core_id=oc,
        memory_sharing=tuple(sharing),
        source=source,
        _extra=extra,
    )


def load_monet_accelerator(path: str | os.PathLike[str]) -> Accelerator:
    """Load an accelerator written in our schema (``format: monet-opt/accelerator@1``).

    Parameters
    ----------
    path
        YAML file.

    Raises
    ------
    HardwareFormatError
        If the file is missing, not YAML or violates the schema.
    """
    return accelerator_from_dict(read_yaml(path), str(path))


# ------------------------------------------------------------------------ dumping


def _num(x: float) -> float | int:
    """Integral finite floats as ints (readable YAML); everything else unchanged."""
    if isinstance(x, float) and math.isfinite(x) and x.is_integer() and abs(x) < 2**63:
        return int(x)
    return x


def _plain(x: Any) -> Any:
    """Convert ``_extra`` content to YAML-safe plain types (best effort)."""
    if isinstance(x, Mapping):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, set, frozenset)):
        items = sorted(x, key=str) if isinstance(x, (set, frozenset)) else x
        return [_plain(v) for v in items]
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return str(x)


def _memory_to_dict(m: Memory) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": m.name,
        "size_bits": _num(m.size_bits),
        "read_bw_bits_per_cycle": _num(m.r_bw),
        "write_bw_bits_per_cycle": _num(m.w_bw),
        "read_pj_per_word": _num(m.r_cost),
        "write_pj_per_word": _num(m.w_cost),
        "operands": [o for o in OPERANDS if o in m.operands],
        "served_dimensions": list(m.served_dimensions),
    }
    canon = tuple(
        Port(p.name, p.kind, p.bandwidth_min, p.bandwidth_max, sort_allocation(p.allocation))
        for p in m.ports
    )
    if canon == default_ports(m.operands, m.r_bw, m.w_bw):
        pass
    elif m.r_bw == m.w_bw and canon == default_ports(m.operands, m.r_bw, m.w_bw, shared=True):
        d["shared_port"] = True
    else:
        ports = []
        for p in m.ports:
            pd: dict[str, Any] = {
                "name": p.name,
                "kind": p.kind,
                "bandwidth_bits_per_cycle": _num(p.bandwidth_max),
            }
            if p.bandwidth_min != p.bandwidth_max:
                pd["min_bandwidth_bits_per_cycle"] = _num(p.bandwidth_min)
            pd["allocation"] = [list(a) for a in sort_allocation(p.allocation)]
            ports.append(pd)
        d["ports"] = ports
    return d


def accelerator_to_dict(acc: Accelerator) -> dict[str, Any]:
    """Our schema's document for ``acc`` (inverse of :func:`accelerator_from_dict`)."""
    cores = []
    for c in acc.cores:
        cd: dict[str, Any] = {
            "id": c.id,
            "name": c.name,
            "kind": c.kind,
            "array": {
                "dimensions": list(c.array.dimensions),
                "sizes": list(c.array.sizes),
                "unit_energy_pj": _num(c.array.unit_energy),
            },
        }
        if c.dataflows is not None:
            cd["dataflow"] = {d: [[ld, n] for ld, n in u] for d, u in c.dataflows.items()}
        if c.operator_types is not None:
            cd["operator_types"] = [k for k in OP_KINDS if k in c.operator_types] + sorted(
                k for k in c.operator_types if k not in OP_KINDS
            )
        cd["memories"] = [_memory_to_dict(m) for m in c.memories]
        cores.append(cd)
    doc: dict[str, Any] = {"format": FORMAT_ID, "name": acc.name}
    extra = {k: v for k, v in dict(acc._extra).items() if k not in ("format", "description")}
    if acc._extra.get("description"):
        doc["description"] = str(acc._extra["description"])
    if acc.offchip_core_id is not None:
        doc["offchip_core_id"] = acc.offchip_core_id
    doc["cores"] = cores
    doc["links"] = [
        {
            "kind": lk.kind,
            "cores": list(lk.cores),
            "bandwidth_bits_per_cycle": _num(lk.bandwidth),
            "energy_pj_per_bit": _num(lk.energy_per_bit),
        }
        for lk in acc.links
    ]
    if acc.memory_sharing:
        doc["memory_sharing"] = [list(g) for g in acc.memory_sharing]
    if extra:
        doc["extra"] = _plain(extra)
    return doc


class _Dumper(yaml.SafeDumper):
    """Safe dumper writing short lists of scalars (and of scalar pairs) in flow style."""


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    def scalar(x: Any) -> bool:
        return isinstance(x, (str, int, float, bool)) or x is None

    flow = all(scalar(x) or (isinstance(x, list) and all(map(scalar, x))) for x in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)


def dump_accelerator(acc: Accelerator, path: str | os.PathLike[str]) -> Path:
    """Write ``acc`` in our schema, atomically (temporary file + ``os.replace``).

    Parameters
    ----------
    acc
        The accelerator.
    path
        Destination YAML file; its folder must exist.

    Returns
    -------
    Path
        The written file.
    """
    dest = Path(path)
    text = (
        f"# {acc.name}: monet-opt accelerator description ({FORMAT_ID}).\n"
        "# Units: bits, bits/cycle, pJ per port-wide word, pJ/MAC, pJ/bit.\n"
    )
    if acc.source:
        text += f"# Converted from: {acc.source}\n"
    text += yaml.dump(
        accelerator_to_dict(acc), Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True
    )
    write_text_atomic(dest, text)
    return dest
