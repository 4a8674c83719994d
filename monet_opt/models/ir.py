"""Training-graph intermediate representation (IR).

A :class:`Graph` is a DAG of :class:`Op` (computation nodes) connected through named
:class:`Tensor` objects.  The same class holds a *forward* graph (as produced by the
built-in model zoo or the ONNX importer) and a *training* graph (forward + loss +
backward + optimizer, see :mod:`monet_opt.models.training`).

Conventions
-----------
* Loop dimensions follow ZigZag: ``B`` (batch), ``K`` (output channels), ``C`` (input
  channels), ``OY``/``OX`` (output rows/columns), ``FY``/``FX`` (filter rows/columns),
  ``G`` (groups).  GEMM-like ops use ``B``/``D`` (rows), ``C`` (reduction) and ``K``
  (columns), i.e. ``O[B, D, K] += I1[B, D, C] * I2[C, K]``.
  Element-wise ops carry a single flattened dimension ``E`` (elements per batch) and ``B``.
* Operands follow ZigZag: ``I1`` = input activation, ``I2`` = weight (or second input),
  ``O`` = output.
* Precisions are in **bits per element**; sizes derived from them are in bits and bytes.
* ``macs`` is the number of multiply-accumulates for MAC ops (``OpKind.CONV``,
  ``OpKind.GEMM``) and the number of element operations for every other kind.

Ops in :attr:`Graph.ops` are stored in a topological order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from types import MappingProxyType

import networkx as nx

__all__ = [
    "Phase",
    "OpKind",
    "TensorRole",
    "SparseStorage",
    "Tensor",
    "Op",
    "Graph",
    "LOOP_DIMS",
    "MAC_KINDS",
]

#: ZigZag loop dimension names understood by the cost model.
LOOP_DIMS: tuple[str, ...] = ("B", "G", "K", "C", "D", "OY", "OX", "FY", "FX", "E")


class Phase(StrEnum):
    """Training phase of an op."""

    FORWARD = "forward"
    BACKWARD = "backward"
    OPTIMIZER = "optimizer"


class OpKind(StrEnum):
    """Cost-model category of an op (decides which cores may run it)."""

    CONV = "conv"  # convolution and its dX (transposed conv) / dW (im2col GEMM)
    GEMM = "gemm"  # Gemm / MatMul and their dX / dW
    ELEMENTWISE = "elementwise"  # Relu, Add, Mul, Gelu, their grads, loss grad
    POOL = "pool"  # MaxPool / AveragePool / GlobalAveragePool and grads
    NORM = "norm"  # LayerNormalization / BatchNormalization / Softmax (reductions)
    LOSS = "loss"  # softmax cross-entropy
    OPTIMIZER = "optimizer"  # SGD-momentum / AdamW update of one weight tensor
    SHAPE = "shape"  # Flatten / Reshape / Transpose: zero-cost, documented


#: Kinds whose work is MACs on a PE array.
MAC_KINDS: frozenset[OpKind] = frozenset({OpKind.CONV, OpKind.GEMM})


class TensorRole(StrEnum):
    """What a tensor is in a training step."""

    INPUT = "input"  # network input (batch of samples)
    LABEL = "label"  # targets of the loss
    ACTIVATION = "activation"  # forward intermediate
    WEIGHT = "weight"  # trainable parameter
    GRADIENT = "gradient"  # gradient w.r.t. an activation (dX / dY)
    WEIGHT_GRADIENT = "weight_gradient"  # gradient w.r.t. a weight (dW)
    OPTIMIZER_STATE = "optimizer_state"  # momentum / Adam moments / fp32 master copy
    LOSS = "loss"  # scalar loss


@dataclass(frozen=True)
class SparseStorage:
    """Condensed storage of a sparse tensor (see ``docs/sparsity.md``).

    A tensor stored this way holds ``nnz`` values at the tensor's precision, plus
    ``index_bits`` per value (the column index of each non-zero, shared layout with the
    weight it belongs to) plus ``extra_bits`` (e.g. CSR row pointers).  Tensors aligned
    with a weight's index array (its gradient, optimizer moments) carry ``index_bits = 0``:
    they store values only.

    Parameters
    ----------
    nnz
        Stored values (elements), ``0 <= nnz <= numel`` of the dense tensor.
    index_bits
        Bits of metadata per stored value (32 / 16 for a column index, 2 for the 2:4
        hardware metadata, 0 for values aligned with another tensor's indices).
    extra_bits
        Metadata bits independent of ``nnz`` (CSR row pointers), total.
    value_bits
        Bits per stored value; ``None``: the tensor's precision.  ``0`` for a list of
        active-neuron ids whose values are implicit (SNN spikes, ``docs/snn.md``).

    Raises
    ------
    ValueError
        On a negative count.
    """

    nnz: int
    index_bits: int = 0
    extra_bits: int = 0
    value_bits: int | None = None

    def __post_init__(self) -> None:
        if self.nnz < 0 or self.index_bits < 0 or self.extra_bits < 0:
            raise ValueError(f"SparseStorage fields must be >= 0, got {self}")
        if self.value_bits is not None and self.value_bits < 0:
            raise ValueError(f"SparseStorage fields must be >= 0, got {self}")

    def bits(self, precision: int) -> int:
        """Stored bits for values of ``precision`` bits (or :attr:`value_bits` when set):
        ``nnz (p + index) + extra``."""
        p = precision if self.value_bits is None else self.value_bits
        return self.nnz * (p + self.index_bits) + self.extra_bits


@dataclass(frozen=True)
class Tensor:
    """A named tensor.

    Parameters
    ----------
    name
        Unique name in the graph.
    shape
        Dimensions in elements, e.g. ``(4, 64, 32, 32)`` for an NCHW activation.
    precision
        Bits per element.
    role
        What the tensor is (:class:`TensorRole`).
    sparse
        Condensed storage of a sparse weight, weight gradient or optimizer state
        (:class:`SparseStorage`), or ``None`` (dense).  :attr:`shape` and :attr:`numel`
        stay the logical (dense) ones; :attr:`bits` is the stored size.
    """

    name: str
    shape: tuple[int, ...]
    precision: int
    role: TensorRole
    sparse: SparseStorage | None = None

    @property
    def numel(self) -> int:
        """Number of elements."""
        return math.prod(self.shape) if self.shape else 1

    @property
    def bits(self) -> int:
        """Stored size in bits: ``numel * precision`` dense, the condensed size when
        :attr:`sparse` is set (every DRAM transfer, memory footprint and operand size
        follows from it)."""
        if self.sparse is not None:
            return self.sparse.bits(self.precision)
        return self.numel * self.precision

    @property
    def bytes(self) -> float:
        """Size in bytes."""
        return self.bits / 8

    @property
    def is_constant(self) -> bool:
        """True for tensors that live across training steps (weights, optimizer state)."""
        return self.role in (TensorRole.WEIGHT, TensorRole.OPTIMIZER_STATE)


@dataclass(frozen=True)
class Op:
    """A computation node.

    Parameters
    ----------
    name
        Unique name in the graph.
    op_type
        Operator name, ONNX-like for forward ops (``Conv``, ``Gemm``, ``Relu``...) and
        descriptive for derived ops (``ConvGradInput``, ``ConvGradWeight``,
        ``ReluGrad``, ``AdamW``...).
    kind
        Cost-model category.
    phase
        Forward, backward or optimizer.
    loop_dims
        ZigZag loop sizes, e.g. ``{"B": 4, "K": 64, "C": 64, "OY": 32, "OX": 32,
        "FY": 3, "FX": 3}``.
    inputs, outputs
        Tensor names.  For MAC ops ``inputs[0]`` is operand ``I1`` and ``inputs[1]``
        operand ``I2``; ``outputs[0]`` is ``O``.
    macs
        MACs (MAC kinds) or element operations (other kinds).
    forward_op
        For backward/optimizer ops: name of the forward op (or weight) they derive from.
    attrs
        Extra attributes (stride, padding, axis...), informational.
    """

    name: str
    op_type: str
    kind: OpKind
    phase: Phase
    loop_dims: Mapping[str, int]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    macs: int
    forward_op: str | None = None
    attrs: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "loop_dims", MappingProxyType(dict(self.loop_dims)))
        object.__setattr__(self, "attrs", MappingProxyType(dict(self.attrs)))

    @property
    def is_mac(self) -> bool:
        """True if the op runs as MACs on a PE array."""
        return self.kind in MAC_KINDS


@dataclass(frozen=True, eq=False)
class Graph:
    """A DAG of ops over named tensors (forward or training graph).

    Parameters
    ----------
    name
        Model name.
    ops
        Ops in a topological order.
    tensors
        All tensors by name.
    checkpoint_candidates
        Forward activation tensors read by the backward pass (empty for a forward
        graph).  These are the tensors checkpointing may drop and recompute.

    Raises
    ------
    ValueError
        If an op reads a tensor that is neither produced earlier nor a graph input,
        or if two ops write the same tensor.
    """

    name: str
    ops: tuple[Op, ...]
    tensors: Mapping[str, Tensor]
    checkpoint_candidates: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "tensors", MappingProxyType(dict(self.tensors)))
        produced: set[str] = set()
        names: set[str] = set()
        for op in self.ops:
            if op.name in names:
                raise ValueError(f"graph {self.name!r}: duplicate op name {op.name!r}")
            names.add(op.name)
            for t in op.inputs + op.outputs:
                if t not in self.tensors:
                    raise ValueError(
                        f"graph {self.name!r}: op {op.name!r} uses unknown tensor {t!r}"
                    )
            for t in op.outputs:
                if t in produced:
                    raise ValueError(f"graph {self.name!r}: tensor {t!r} written twice")
                produced.add(t)
        order = {op.name: i for i, op in enumerate(self.ops)}
        for op in self.ops:
            for t in op.inputs:
                p = self.producer.get(t)
                if p is not None and order[p] >= order[op.name]:
                    raise ValueError(
                        f"graph {self.name!r}: ops not in topological order ({p!r} -> {op.name!r})"
                    )

    # -- structure -----------------------------------------------------------------
    @cached_property
    def op_index(self) -> Mapping[str, int]:
        """Op name -> position in :attr:`ops`."""
        return MappingProxyType({op.name: i for i, op in enumerate(self.ops)})

    @cached_property
    def producer(self) -> Mapping[str, str]:
        """Tensor name -> name of the op that writes it (graph inputs/constants absent)."""
        return MappingProxyType({t: op.name for op in self.ops for t in op.outputs})

    @cached_property
    def consumers(self) -> Mapping[str, tuple[str, ...]]:
        """Tensor name -> names of the ops that read it."""
        out: dict[str, list[str]] = {t: [] for t in self.tensors}
        for op in self.ops:
            for t in dict.fromkeys(op.inputs):
                out[t].append(op.name)
        return MappingProxyType({t: tuple(v) for t, v in out.items()})

    @cached_property
    def edges(self) -> tuple[tuple[int, int, str], ...]:
        """Data edges ``(producer index, consumer index, tensor name)``."""
        out = []
        for j, op in enumerate(self.ops):
            for t in dict.fromkeys(op.inputs):
                p = self.producer.get(t)
                if p is not None:
                    out.append((self.op_index[p], j, t))
        return tuple(out)

    def to_networkx(self) -> nx.DiGraph:
        """The op-level DAG: nodes are op names, edges carry ``tensor`` and ``bits``."""
        g = nx.DiGraph()
        for op in self.ops:
            g.add_node(op.name, op=op)
        for i, j, t in self.edges:
            g.add_edge(self.ops[i].name, self.ops[j].name, tensor=t, bits=self.tensors[t].bits)
        return g

    # -- summaries -----------------------------------------------------------------
    def ops_in(self, phase: Phase) -> tuple[Op, ...]:
        """Ops of one phase, in graph order."""
        return tuple(op for op in self.ops if op.phase == phase)

    def total_macs(self, phase: Phase | None = None, mac_only: bool = True) -> int:
        """Sum of ``macs`` over MAC ops (or all ops) of a phase (or all phases)."""
        return sum(
            op.macs
            for op in self.ops
            if (phase is None or op.phase == phase) and (op.is_mac or not mac_only)
        )

    @property
    def weights(self) -> tuple[Tensor, ...]:
        """Trainable parameters (updated copies written by optimizer ops excluded)."""
        return tuple(
            t
            for t in self.tensors.values()
            if t.role == TensorRole.WEIGHT and t.name not in self.producer
        )

    @property
    def parameter_count(self) -> int:
        """Number of trainable parameters."""
        return sum(t.numel for t in self.weights)

    def __len__(self) -> int:
        return len(self.ops)

    def __repr__(self) -> str:
        return f"Graph({self.name!r}, {len(self.ops)} ops, {len(self.tensors)} tensors)"
