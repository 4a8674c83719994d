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
        sparse: {gather_bits_per_cycle: 4096, n_m: [[2, 4]]}   # optional (docs/sparsity.md)
        tiles: {count: 1472, sync_cycles: 150,   # optional: a group of identical MIMD
                exchange_bits_per_cycle: 32}     # tiles (docs/mimd_tiles.md)
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

Allowed ranges (:mod:`monet_opt.hardware.limits`; the same for Stream files). Numbers
must be YAML numbers: ``true``/``false`` and strings such as ``"64"`` or ``yes`` are
rejected, ints are accepted where a float is expected.

* ``size_bits``: [1, 2**60] bits;
* ``read_bw_bits_per_cycle``, ``write_bw_bits_per_cycle``, port
  ``bandwidth_bits_per_cycle`` and ``min_bandwidth_bits_per_cycle``: [1e-3, 1e9]
  bits/cycle;
* link ``bandwidth_bits_per_cycle``: [1e-3, 1e9] bits/cycle or ``.inf``;
* ``read_pj_per_word``, ``write_pj_per_word``: [0, 1e6] pJ per word;
* ``array.unit_energy_pj``: [0, 1e6] pJ per MAC;
* link ``energy_pj_per_bit``: [0, 1e6] pJ/bit;
* ``array.sizes[i]``: integers in [0, 2**20]; ``dataflow`` unrolling: [1, 2**20];
* core ids (``id``, ``links[].cores``, ``offchip_core_id``, ``memory_sharing``):
  integers in [0, 2**31 - 1].

These admit every real chip and every shipped file; they keep the MILP coefficients
within what the solver's tolerances can hold (see :mod:`monet_opt.hardware.limits`).

Ports. Without ``ports`` a memory gets one ``read`` port ``r_port_1`` of
``read_bw_bits_per_cycle`` and one ``write`` port ``w_port_1`` of
``write_bw_bits_per_cycle`` (or, with ``shared_port: true``, a single ``read_write``
port ``rw_port_1``; read and write bandwidths must then be equal). Each operand is
allocated ``tl`` (read to lower) and ``fh`` (write from higher); ``O`` also gets ``th``
and ``fl``. With explicit ``ports`` the bandwidth keys may be omitted: they are the widest
read / write capable port (a ``read_write`` port counts for both). ``ports: []`` keeps no
port detail and requires both bandwidth keys. Allocation entries are ``[operand,
direction]`` pairs (Stream's ``"I1, tl"`` strings are accepted too).

Operator types and op kinds (the one capability rule)
------------------------------------------------------
``Core.operator_types`` holds **op-kind names**, the values of
:class:`monet_opt.models.ir.OpKind`: ``conv``, ``gemm``, ``elementwise``, ``pool``,
``norm``, ``loss``, ``optimizer``, ``shape`` (see :data:`OP_KINDS`).
:func:`core_supports` is the capability test, and it is exact:

* ``operator_types`` listed: the core runs exactly the listed kinds. ``[gemm]`` runs
  GEMMs but no convolutions; ``[elementwise, norm, loss]`` runs no optimizer update.
* ``operator_types`` absent (``None``): no restriction, the core may run every kind.
* ``shape`` ops (reshape, transpose...) do no work and are contracted out of the
  schedule (:func:`monet_opt.schedule.problem.build_problem`); every compute core
  accepts them.
* Cores of kind ``offchip`` or ``memory`` and cores with 0 PEs run nothing.

On top of this, the cost model adds one *preference*
(:func:`monet_opt.cost.op_cost.can_run`, :func:`monet_opt.cost.op_cost.supported_kinds`):
an unrestricted core leaves a kind that a specialised core lists to that core. This is
MONET's mapping (Morlier et al., "MONET: Modeling and Optimization of neural NEtwork
Training from Edge to Data Centers", arXiv:2603.15002, 2026, and its Stream pull
request #92): MAC ops run on the MAC cores, element-wise work (ReLU gradients,
reductions, the loss gradient, every optimizer op) on the SIMD core, pooling on the
pooling core; see ``docs/hardware_sources.md``. The shipped examples list the kinds of
their specialised cores explicitly: the SIMD core ``[elementwise, norm, loss,
optimizer]``, the pooling core ``[pool]``.

Stream files list ONNX op types instead (``[Add, Mul, Relu]``, ``[MaxPool]``...).
:func:`op_kinds_for_onnx_types` maps them with :data:`ONNX_OP_KINDS`: MAC ops to
``conv``/``gemm``, pools to ``pool``, reductions/normalisations to ``norm`` and any
element-wise arithmetic op to the whole vector group ``elementwise``, ``norm``, ``loss``,
``optimizer``: an AdamW/SGD update and the softmax-cross-entropy gradient are chains of
element-wise Mul/Add/Div/Sqrt/Sub/Exp ops plus small reductions (Loshchilov & Hutter,
"Decoupled Weight Decay Regularization", ICLR 2019, Algorithm 2), which a core that
executes those ONNX ops can run. :func:`core_supports` applies the same map to raw ONNX
names found in a :class:`Core` built in Python.
"""

from __future__ import annotations

import math
import os
import types
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    field_validator,
)

from monet_opt.atomic import write_text_atomic
from monet_opt.errors import InputError, from_validation_error
from monet_opt.safe_yaml import load_yaml

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
    TileGroup,
)

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
    "listed_kinds",
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


class HardwareFormatError(InputError):
    """A hardware file is malformed (an :class:`~monet_opt.errors.InputError`).

    ``str(err)`` is ``<file>: <field>: <message>``: the file, the offending field (a path
    such as ``cores[2].memories[0].operands[1]``) and what is allowed.
    """

    @classmethod
    def wrap(cls, err: InputError) -> HardwareFormatError:
        """The same error as a :class:`HardwareFormatError`."""
        return cls(err.file, err.field, err.message, details=err.details)


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
        if isinstance(name, str) and name in OP_KINDS:
            kinds.add(name)
        elif isinstance(name, str) and name in ONNX_OP_KINDS:
            kinds.update(ONNX_OP_KINDS[name])
        else:
            shown = repr(name) if len(repr(name)) <= 60 else repr(name)[:57] + "..."
            raise HardwareFormatError(
                source,
                f"{field}[{i}]",
                f"{shown} not allowed; allowed: op kinds {', '.join(OP_KINDS)} or ONNX op "
                f"types {', '.join(sorted(ONNX_OP_KINDS))}",
            )
    return frozenset(kinds)


def listed_kinds(core: Core) -> frozenset[str] | None:
    """Op kinds ``core.operator_types`` lists (``None``: unrestricted).

    Op-kind names are kept; ONNX op types (a :class:`Core` built in Python with Stream's
    names) are mapped with :data:`ONNX_OP_KINDS`; other names grant nothing.
    """
    if core.operator_types is None:
        return None
    kinds: set[str] = set()
    for name in core.operator_types:
        name = str(name)
        kinds.update(ONNX_OP_KINDS.get(name, (name,) if name in OP_KINDS else ()))
    return frozenset(kinds)


def core_supports(core: Core, kind: str) -> bool:
    """Whether ``core`` is able to run ops of kind ``kind``: the one capability rule.

    Exact: a compute core with PEs runs a kind its ``operator_types`` lists and no other;
    without ``operator_types`` it runs every kind. ``shape`` ops (no work) run on every
    compute core. Off-chip and memory cores and cores without PEs run nothing. Which core
    *will* run a kind also depends on MONET's preference rule
    (:func:`monet_opt.cost.op_cost.can_run`); see the module docstring.

    Parameters
    ----------
    core
        The core.
    kind
        An op-kind name (``OpKind`` value; a ``StrEnum`` member works too).

    Returns
    -------
    bool
        ``True`` if the core can run the kind.
    """
    if core.kind != "compute" or core.array.n_pes == 0:
        return False
    kind = str(kind)
    listed = listed_kinds(core)
    return kind == "shape" or listed is None or kind in listed


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


def _ranged(kind: type, rng: limits.Range) -> Any:
    """``kind`` restricted to ``rng``; bools and strings rejected (strict numbers)."""
    return Annotated[kind, Strict(), BeforeValidator(rng.check)]


SizeBits = _ranged(float, limits.SIZE_BITS)
Bandwidth = _ranged(float, limits.BANDWIDTH)
LinkBandwidth = _ranged(float, limits.LINK_BANDWIDTH)
WordEnergy = _ranged(float, limits.WORD_ENERGY)
OpEnergy = _ranged(float, limits.OP_ENERGY)
BitEnergy = _ranged(float, limits.BIT_ENERGY)
ArraySize = _ranged(int, limits.ARRAY_SIZE)
Unroll = _ranged(int, limits.UNROLL)
CoreId = _ranged(int, limits.CORE_ID)
TileCount = _ranged(int, limits.TILE_COUNT)
SyncCycles = _ranged(float, limits.SYNC_CYCLES)
Threads = _ranged(int, limits.THREADS)
NMCount = Annotated[int, Strict(), Field(ge=1, le=64)]
StrictBool = Annotated[bool, Strict()]
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
    bandwidth_bits_per_cycle: Bandwidth
    min_bandwidth_bits_per_cycle: Bandwidth | None = None
    allocation: list[tuple[Operand, Direction]] = []

    @field_validator("allocation", mode="before")
    @classmethod
    def _pairs(cls, v: Any) -> Any:
        return [_split_pair(x) for x in v] if isinstance(v, list) else v


class MemorySpec(_Spec):
    """A memory level (schema)."""

    name: Name
    size_bits: SizeBits
    read_bw_bits_per_cycle: Bandwidth | None = None
    write_bw_bits_per_cycle: Bandwidth | None = None
    read_pj_per_word: WordEnergy
    write_pj_per_word: WordEnergy
    operands: list[Operand] = Field(min_length=1)
    served_dimensions: list[ArrayDim] = []
    shared_port: StrictBool = False
    ports: list[PortSpec] | None = None


class ArraySpec(_Spec):
    """An operational array (schema)."""

    dimensions: list[ArrayDim]
    sizes: list[ArraySize]
    unit_energy_pj: OpEnergy


class SparseSpec(_Spec):
    """A core's sparse-layer support (schema; :class:`~monet_opt.hardware.model.SparseSupport`).

    ``gather_bits_per_cycle``: an input-gather path of that bandwidth (bits/cycle);
    ``index_bits_per_cycle``: index bits it decodes per cycle (default: the gather
    bandwidth); ``n_m``: the ``[n, m]`` patterns the array runs natively (``1 <= n < m``).
    """

    gather_bits_per_cycle: Bandwidth | None = None
    index_bits_per_cycle: Bandwidth | None = None
    n_m: list[tuple[NMCount, NMCount]] = []

    @field_validator("n_m")
    @classmethod
    def _patterns(cls, v: list[tuple[int, int]]) -> list[tuple[int, int]]:
        for n, m in v:
            if not 1 <= n < m:
                raise ValueError(f"pattern [{n}, {m}] not allowed; allowed: [n, m] with 1 <= n < m")
        return v

    def to_support(self) -> SparseSupport:
        """The model object."""
        return SparseSupport(
            None if self.gather_bits_per_cycle is None else float(self.gather_bits_per_cycle),
            None if self.index_bits_per_cycle is None else float(self.index_bits_per_cycle),
            frozenset((int(n), int(m)) for n, m in self.n_m),
        )


class TilesSpec(_Spec):
    """A tile group (schema; :class:`~monet_opt.hardware.model.TileGroup`,
    ``docs/mimd_tiles.md``).

    The core's ``array`` and ``memories`` are those of **one** tile; ``count`` identical
    tiles run each node as a BSP superstep: ``exchange_bits_per_cycle`` is what one tile
    receives from the all-to-all exchange per cycle, ``exchange_pj_per_bit`` its energy,
    ``sync_cycles`` the barrier that ends a superstep.
    """

    count: TileCount
    sync_cycles: SyncCycles = 0.0
    exchange_bits_per_cycle: LinkBandwidth = math.inf
    exchange_pj_per_bit: BitEnergy = 0.0
    threads: Threads = 1

    def to_group(self) -> TileGroup:
        """The model object."""
        return TileGroup(
            int(self.count),
            float(self.sync_cycles),
            float(self.exchange_bits_per_cycle),
            float(self.exchange_pj_per_bit),
            int(self.threads),
        )


def tiles_to_dict(tg: TileGroup) -> dict[str, Any]:
    """Our schema's ``tiles`` mapping for ``tg`` (inverse of :meth:`TilesSpec.to_group`)."""
    return {
        "count": tg.count,
        "sync_cycles": _num(tg.sync_cycles),
        "exchange_bits_per_cycle": _num(tg.exchange_bits_per_cycle),
        "exchange_pj_per_bit": _num(tg.exchange_pj_per_bit),
        "threads": tg.threads,
    }


def sparse_to_dict(sp: SparseSupport) -> dict[str, Any]:
    """Our schema's ``sparse`` mapping for ``sp`` (inverse of :meth:`SparseSpec.to_support`)."""
    d: dict[str, Any] = {}
    if sp.gather_bits_per_cycle is not None:
        d["gather_bits_per_cycle"] = _num(sp.gather_bits_per_cycle)
    if sp.index_bits_per_cycle is not None:
        d["index_bits_per_cycle"] = _num(sp.index_bits_per_cycle)
    if sp.n_m:
        d["n_m"] = [[n, m] for n, m in sorted(sp.n_m)]
    return d


class CoreSpec(_Spec):
    """A core (schema)."""

    id: CoreId
    name: Name
    kind: CoreKind = "compute"
    array: ArraySpec | None = None
    dataflow: dict[ArrayDim, list[tuple[LoopDim, Unroll]]] | None = None
    operator_types: list[OpKindName] | None = None
    sparse: SparseSpec | None = None
    tiles: TilesSpec | None = None
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
    cores: list[CoreId] = Field(min_length=2)
    bandwidth_bits_per_cycle: LinkBandwidth
    energy_pj_per_bit: BitEnergy = 0.0


class AcceleratorSpec(_Spec):
    """A whole accelerator file (schema)."""

    format: Literal["monet-opt/accelerator@1"]
    name: Name
    description: str | None = None
    cores: list[CoreSpec] = Field(min_length=1)
    links: list[LinkSpec] = []
    offchip_core_id: CoreId | None = None
    memory_sharing: list[list[CoreId]] = []
    extra: dict[str, Any] = {}


# ------------------------------------------------------------------ error messages

#: Unit per key, appended to numeric-range messages by the pydantic error translator.
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
    "sync_cycles": "cycles",
    "exchange_bits_per_cycle": "bits/cycle",
    "exchange_pj_per_bit": "pJ/bit",
}


# ------------------------------------------------------------------------ loading


def read_yaml(path: str | os.PathLike[str]) -> Any:
    """Read a hardware YAML file with :func:`monet_opt.safe_yaml.load_yaml`.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    Any
        The parsed document (YAML 1.2 core schema: ``yes``/``no`` stay strings).

    Raises
    ------
    HardwareFormatError
        If the file is missing, unreadable, too large, not YAML, has duplicate keys or
        alias bombs (message: file, line, problem).
    """
    try:
        return load_yaml(Path(path))
    except InputError as err:
        raise HardwareFormatError.wrap(err) from None


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
            raise HardwareFormatError(source, f"{loc}.ports", f"duplicate port names {names}")
        for i, p in enumerate(m.ports):
            mn = p.min_bandwidth_bits_per_cycle
            if mn is not None and mn > p.bandwidth_bits_per_cycle:
                raise HardwareFormatError(
                    source,
                    f"{loc}.ports[{i}].min_bandwidth_bits_per_cycle",
                    f"{mn} not allowed; "
                    f"allowed: <= bandwidth_bits_per_cycle ({p.bandwidth_bits_per_cycle})",
                )
            for o, _d in p.allocation:
                if o not in m.operands:
                    raise HardwareFormatError(
                        source,
                        f"{loc}.ports[{i}].allocation",
                        f"operand {o!r} not allowed; "
                        f"allowed: the memory's operands {', '.join(m.operands)}",
                    )
        r_bw = _widest(ports, ("read", "read_write"))
        w_bw = _widest(ports, ("write", "read_write"))
        for key, given, derived in (
            ("read_bw_bits_per_cycle", m.read_bw_bits_per_cycle, r_bw),
            ("write_bw_bits_per_cycle", m.write_bw_bits_per_cycle, w_bw),
        ):
            if derived == 0:
                raise HardwareFormatError(
                    source,
                    f"{loc}.ports",
                    f"no port serves {key.split('_')[0]}s; allowed port "
                    f"kinds: {', '.join(PORT_KINDS)} (need a read and a write capable port)",
                )
            if given is not None and given != derived:
                raise HardwareFormatError(
                    source,
                    f"{loc}.{key}",
                    f"{given} not allowed; it must equal the widest "
                    f"port of that kind ({derived} bits/cycle) or be omitted",
                )
    else:
        for key in ("read_bw_bits_per_cycle", "write_bw_bits_per_cycle"):
            if getattr(m, key) is None:
                raise HardwareFormatError(
                    source,
                    f"{loc}.{key}",
                    "required key missing (a positive number of "
                    "bits/cycle; may be omitted only when `ports` are listed)",
                )
        r_bw = float(m.read_bw_bits_per_cycle or 0.0)
        w_bw = float(m.write_bw_bits_per_cycle or 0.0)
        if m.ports is not None:  # explicit `ports: []`: no port detail
            ports = ()
        else:
            if m.shared_port and r_bw != w_bw:
                raise HardwareFormatError(
                    source,
                    f"{loc}.write_bw_bits_per_cycle",
                    f"{w_bw} not allowed with "
                    f"shared_port: true; allowed: equal to read_bw_bits_per_cycle ({r_bw})",
                )
            ports = default_ports(m.operands, r_bw, w_bw, shared=m.shared_port)
    if len(set(m.operands)) != len(m.operands):
        raise HardwareFormatError(source, f"{loc}.operands", f"duplicates in {m.operands}")
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
                source,
                f"{loc}.array",
                "required key missing for kind compute (dimensions, sizes, unit_energy_pj)",
            )
        array = OperationalArray(0.0, ("D1",), (0,))
    else:
        a = c.array
        if len(a.dimensions) != len(a.sizes):
            raise HardwareFormatError(
                source,
                f"{loc}.array.sizes",
                f"{len(a.sizes)} sizes for {len(a.dimensions)} "
                f"dimensions; allowed: one size per dimension",
            )
        if len(set(a.dimensions)) != len(a.dimensions):
            raise HardwareFormatError(
                source, f"{loc}.array.dimensions", f"duplicates in {a.dimensions}"
            )
        array = OperationalArray(a.unit_energy_pj, tuple(a.dimensions), tuple(a.sizes))
    if c.kind == "compute" and array.n_pes == 0:
        raise HardwareFormatError(
            source,
            f"{loc}.array.sizes",
            f"{list(array.sizes)} not allowed for kind compute; "
            f"allowed: all sizes > 0 (use kind memory or offchip for cores without PEs)",
        )
    if c.tiles is not None and c.kind != "compute":
        raise HardwareFormatError(
            source, f"{loc}.tiles", f"not allowed for kind {c.kind}; allowed: kind compute"
        )
    dims = set(array.dimensions)
    dataflows = None
    if c.dataflow is not None:
        for d, unroll in c.dataflow.items():
            if d not in dims:
                raise HardwareFormatError(
                    source,
                    f"{loc}.dataflow",
                    f"dimension {d!r} not allowed; allowed: {', '.join(array.dimensions)}",
                )
            size = array.sizes[array.dimensions.index(d)]
            prod = math.prod(n for _, n in unroll)
            if prod > size:
                raise HardwareFormatError(
                    source,
                    f"{loc}.dataflow.{d}",
                    f"unrolling {prod} not allowed; allowed: <= the array size along {d} ({size})",
                )
        dataflows = {d: tuple((str(ld), int(n)) for ld, n in u) for d, u in c.dataflow.items()}
    memories = []
    seen: set[str] = set()
    for j, m in enumerate(c.memories):
        mloc = f"{loc}.memories[{j}]"
        if m.name in seen:
            raise HardwareFormatError(source, f"{mloc}.name", f"duplicate memory name {m.name!r}")
        seen.add(m.name)
        if c.array is not None:
            for d in m.served_dimensions:
                if d not in dims:
                    raise HardwareFormatError(
                        source,
                        f"{mloc}.served_dimensions",
                        f"{d!r} not allowed; allowed: {', '.join(array.dimensions)}",
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
        sparse=None if c.sparse is None else c.sparse.to_support(),
        tiles=None if c.tiles is None else c.tiles.to_group(),
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
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        raise HardwareFormatError(source, None, f"expected a mapping at the top level, got {got}")
    try:
        spec = AcceleratorSpec.model_validate(data)
    except ValidationError as exc:
        err = from_validation_error(exc, file=source, root=AcceleratorSpec, units=_UNITS)
        raise HardwareFormatError.wrap(err) from None
    cores = tuple(_core_from_spec(c, i, source) for i, c in enumerate(spec.cores))
    ids = [c.id for c in cores]
    for i, cid in enumerate(ids):
        if ids.index(cid) != i:
            raise HardwareFormatError(source, f"cores[{i}].id", f"duplicate core id {cid}")
    id_list = ", ".join(map(str, ids))
    links = []
    for i, lk in enumerate(spec.links):
        for cid in lk.cores:
            if cid not in ids:
                raise HardwareFormatError(
                    source, f"links[{i}].cores", f"core {cid} not allowed; allowed: {id_list}"
                )
        if len(set(lk.cores)) != len(lk.cores):
            raise HardwareFormatError(source, f"links[{i}].cores", f"duplicates in {lk.cores}")
        if lk.kind == "link" and len(lk.cores) != 2:
            raise HardwareFormatError(
                source,
                f"links[{i}].cores",
                f"a link connects exactly 2 cores (got {len(lk.cores)}); use kind: bus for more",
            )
        links.append(
            Link(tuple(lk.cores), lk.kind, lk.bandwidth_bits_per_cycle, lk.energy_pj_per_bit)
        )
    offchip = [c.id for c in cores if c.kind == "offchip"]
    oc = spec.offchip_core_id
    if oc is not None:
        if oc not in ids:
            raise HardwareFormatError(
                source, "offchip_core_id", f"{oc} not allowed; allowed: a core id ({id_list})"
            )
        if offchip != [oc]:
            raise HardwareFormatError(
                source,
                "offchip_core_id",
                f"core {oc} must be the only core of kind offchip (kind offchip cores: {offchip})",
            )
    elif offchip:
        raise HardwareFormatError(
            source, "offchip_core_id", f"required key missing; core(s) {offchip} have kind offchip"
        )
    sharing = []
    for i, grp in enumerate(spec.memory_sharing):
        for cid in grp:
            if cid not in ids:
                raise HardwareFormatError(
                    source, f"memory_sharing[{i}]", f"core {cid} not allowed; allowed: {id_list}"
                )
        if len(grp) < 2:
            raise HardwareFormatError(
                source, f"memory_sharing[{i}]", f"{grp} not allowed; allowed: >= 2 core ids"
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
        if c.sparse is not None:
            cd["sparse"] = sparse_to_dict(c.sparse)
        if c.tiles is not None:
            cd["tiles"] = tiles_to_dict(c.tiles)
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
