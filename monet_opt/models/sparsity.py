"""Sparse layers: constant fan-in (SRigL), N:M and unstructured (CSR) weights.

A :class:`SparsitySpec` says how a Gemm / MatMul-with-weight / Conv layer's weight is
sparse; :func:`apply_sparsity` rewrites a forward or derived training graph so that

* **storage** is condensed (:class:`~monet_opt.models.ir.SparseStorage`): the weight ``W``
  and its update ``W.next`` hold ``nnz`` values plus ``index_bits`` per value (plus CSR
  row pointers); the weight gradient ``dW`` and the optimizer state (momentum, Adam
  moments, fp32 master copy) hold ``nnz`` values aligned with ``W``'s index array (no
  indices of their own).  Every size the scheduler reads (DRAM traffic, memory
  footprints, operand sizes of the cost model) is :attr:`Tensor.bits`, so they all follow;
* **ops** of the layer carry a :class:`SparseOpInfo` in ``attrs["sparsity"]``: the forward
  op, the masked ``dX`` and the masked ``dW``.  ``Op.macs`` stays the dense count (the
  work of a core that executes the layer dense); how much of it a core skips is decided
  by the cost model (:mod:`monet_opt.cost.sparse`) from the core's sparse support.

Counting (a weight of ``N`` output neurons with fan-in ``F``, ``numel = N F``):

* ``constant_fan_in`` (Lasby et al., "Dynamic Sparse Training with Structured Sparsity",
  ICLR 2024, SRigL): ``round(ablated N)`` neurons are removed, the ``N_a`` others keep the
  same fan-in ``f = round(density N F / N_a)`` (clipped to ``[1, F]``), so
  ``nnz = N_a f``;
* ``n_m``: ``n`` of every ``m`` consecutive weights along the fan-in are kept:
  ``nnz = N (n floor(F/m) + min(n, F mod m))`` (NVIDIA Ampere 2:4 sparsity, Mishra et al.,
  "Accelerating Sparse Deep Neural Networks", arXiv:2104.08378, 2021); the ``"hw"`` index
  width is ``ceil(log2 m)`` bits per kept value (2 bits for 2:4);
* ``unstructured``: ``nnz = round(density N F)`` anywhere, stored as CSR over the output
  neurons: values, a column index per value and ``N + 1`` row pointers of 32 bits.

**SRigL's dense-gradient steps** are amortized: SRigL needs the dense ``dW`` (to rank
regrowth candidates) on ``grad_accumulation_n / delta`` of the steps (8 / 800 = 1 % with
its defaults).  ``dense_grad_fraction`` ``q`` makes the masked ``dW`` op's expected work
``q`` dense + ``(1 - q)`` masked (:attr:`SparseOpInfo.fan_in_fraction`); its output stays
condensed because the dense gradient is reduced to per-neuron top-k candidates as it is
produced (not stored).  The peak memory of a dense-gradient step is not modelled.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from monet_opt.models.ir import Graph, Op, OpKind, Phase, SparseStorage, Tensor, TensorRole

__all__ = [
    "SPARSITY_KINDS",
    "ACTIVITY_KIND",
    "ROW_POINTER_BITS",
    "SparsitySpec",
    "SparseOpInfo",
    "LayerGeometry",
    "eligible_layers",
    "layer_geometry",
    "resolve_layers",
    "apply_sparsity",
    "sparse_info",
]

#: Accepted ``kind`` values of a weight's sparsity.
SPARSITY_KINDS: tuple[str, ...] = ("constant_fan_in", "n_m", "unstructured")
#: The ``kind`` of activity sparsity: an op whose fan-in operand is a list of active-neuron
#: ids (SNN spikes, :mod:`monet_opt.models.snn`); not a weight format, not in the config.
ACTIVITY_KIND: str = "activity"
#: Bits per CSR row pointer.
ROW_POINTER_BITS: int = 32

_DX_TYPES = frozenset({"GemmGradInput", "ConvGradInput"})
_DW_TYPES = frozenset({"GemmGradWeight", "ConvGradWeight"})


@dataclass(frozen=True)
class SparsitySpec:
    """How one layer's weight is sparse.

    Parameters
    ----------
    kind
        ``"constant_fan_in"``, ``"n_m"`` or ``"unstructured"`` (or ``"activity"``: the
        op's fan-in operand is a spike-id list with ``density`` active neurons, set by
        :mod:`monet_opt.models.snn`; ``index_bits`` is the id width).
    density
        Kept fraction of the weight in (0, 1] (``n / m`` for ``n_m``).
    ablated
        Fraction of output neurons removed, in [0, 1) (``constant_fan_in`` only).
    n, m
        The N:M pattern (``n_m`` only): ``n`` kept of every ``m``, ``1 <= n <= m``.
    index_bits
        Bits of column index per stored value (32, 16, 8), or for ``n_m`` ``None``: the
        hardware metadata width ``ceil(log2 m)``.

    Raises
    ------
    ValueError
        On an unknown kind or out-of-range numbers.
    """

    kind: str
    density: float
    ablated: float = 0.0
    n: int | None = None
    m: int | None = None
    index_bits: int | None = 32

    def __post_init__(self) -> None:
        if self.kind not in SPARSITY_KINDS and self.kind != ACTIVITY_KIND:
            raise ValueError(f"kind {self.kind!r} not allowed; allowed: {list(SPARSITY_KINDS)}")
        if not 0.0 < self.density <= 1.0:
            raise ValueError(f"density must be in (0, 1], got {self.density!r}")
        if not 0.0 <= self.ablated < 1.0:
            raise ValueError(f"ablated must be in [0, 1), got {self.ablated!r}")
        if self.kind == "n_m":
            if self.n is None or self.m is None or not 1 <= self.n <= self.m:
                raise ValueError(f"n_m needs 1 <= n <= m, got n={self.n!r}, m={self.m!r}")
            if not math.isclose(self.density, self.n / self.m):
                raise ValueError("n_m density must be n / m (use SparsitySpec.n_m_spec)")
        elif self.n is not None or self.m is not None:
            raise ValueError("n and m apply only to kind 'n_m'")
        if self.ablated and self.kind != "constant_fan_in":
            raise ValueError("ablated applies only to kind 'constant_fan_in'")
        if self.index_bits is None and self.kind != "n_m":
            raise ValueError("the hardware index width (None) applies only to kind 'n_m'")
        if self.index_bits is not None and self.index_bits < 0:
            raise ValueError(f"index_bits must be >= 0, got {self.index_bits!r}")

    @classmethod
    def n_m_spec(cls, n: int, m: int, index_bits: int | None = None) -> SparsitySpec:
        """An N:M spec (``density = n / m``; default index: the hardware metadata)."""
        return cls("n_m", n / m, n=n, m=m, index_bits=index_bits)

    @property
    def bits_per_index(self) -> int:
        """Index bits per stored value (``ceil(log2 m)`` for the N:M hardware metadata)."""
        if self.index_bits is None:
            assert self.m is not None
            return max(1, math.ceil(math.log2(self.m)))
        return self.index_bits


@dataclass(frozen=True)
class LayerGeometry:
    """Counts of one sparse layer's weight.

    Parameters
    ----------
    neurons
        Output neurons ``N`` (output channels).
    fan_in
        Dense fan-in ``F`` per neuron (``numel / N``).
    active
        Neurons left after ablation ``N_a``.
    nnz
        Stored values.
    extra_bits
        Metadata bits independent of ``nnz`` (CSR row pointers).
    """

    neurons: int
    fan_in: int
    active: int
    nnz: int
    extra_bits: int

    @property
    def numel(self) -> int:
        """Dense elements ``N F``."""
        return self.neurons * self.fan_in

    @property
    def fan_in_kept(self) -> float:
        """Mean kept fan-in per active neuron ``nnz / N_a``."""
        return self.nnz / max(self.active, 1)


@dataclass(frozen=True)
class SparseOpInfo:
    """What the cost model needs to know about an op of a sparse layer.

    Parameters
    ----------
    spec
        The layer's spec.
    role
        ``"forward"``, ``"dX"`` (masked input gradient) or ``"dW"`` (masked weight
        gradient).
    layer
        The forward op's name.
    fan_in_dim, neuron_dim
        The op's loop dims spanning the weight's fan-in and its output neurons (forward
        GEMM: ``C``, ``K``; GemmGradInput: ``K``, ``C``; GemmGradWeight: ``D``, ``K``;
        conv dW: ``C``, ``K``; conv dX: ``K``, ``C``).
    gathered
        The operand whose elements the gather path moves one per MAC (``I1``: inputs
        gathered by the weight's indices; ``O``: dX partial sums scattered).
    fan_in_fraction
        Expected kept fraction of ``fan_in_dim``: ``f / F`` (dW: ``q + (1 - q) f / F``
        with ``q`` the dense-gradient share of steps).
    neuron_fraction
        Kept fraction of ``neuron_dim``: ``N_a / N`` (dW under a dense-gradient share
        ``q``: ``q + (1 - q) N_a / N``).
    geometry
        The weight's counts (activity sparsity: ``nnz`` is the number of ids the op's
        gather path decodes, ``spec.index_bits`` wide).
    accumulate
        The kept work is accumulates, not MACs (a spike is a binary input: an active
        input adds its weight row).  Only a core that skips the inactive inputs
        (``gather`` mode) gains the lower energy of an add (:mod:`monet_opt.cost.sparse`).
    """

    spec: SparsitySpec
    role: str
    layer: str
    fan_in_dim: str
    neuron_dim: str
    gathered: str
    fan_in_fraction: float
    neuron_fraction: float
    geometry: LayerGeometry
    accumulate: bool = False

    @property
    def work_fraction(self) -> float:
        """Expected fraction of the dense MACs a sparse-capable core performs."""
        return self.fan_in_fraction * self.neuron_fraction


def sparse_info(op: Op) -> SparseOpInfo | None:
    """The :class:`SparseOpInfo` of ``op`` (``None`` for a dense op)."""
    info = op.attrs.get("sparsity")
    return info if isinstance(info, SparseOpInfo) else None


# -- eligibility and counting -----------------------------------------------------------
def eligible_layers(graph: Graph) -> tuple[str, ...]:
    """Forward Gemm / MatMul-with-weight / Conv ops whose second operand is a weight
    read by no other op, in graph order."""
    out = []
    for op in graph.ops:
        if op.phase != Phase.FORWARD or op.kind not in (OpKind.GEMM, OpKind.CONV):
            continue
        if len(op.inputs) < 2:
            continue
        w = graph.tensors[op.inputs[1]]
        if w.role != TensorRole.WEIGHT or w.name in graph.producer:
            continue
        fwd_users = [c for c in graph.consumers[w.name] if _phase(graph, c) == Phase.FORWARD]
        if len(fwd_users) == 1:
            out.append(op.name)
    return tuple(out)


def _phase(graph: Graph, name: str) -> Phase:
    return graph.ops[graph.op_index[name]].phase


def layer_geometry(op: Op, weight: Tensor, spec: SparsitySpec) -> LayerGeometry:
    """Neurons, fan-in and stored values of ``op``'s weight under ``spec``.

    Raises
    ------
    ValueError
        If the weight's size is not a multiple of the output-neuron count.
    """
    neurons = int(op.loop_dims.get("K", 1)) * int(op.loop_dims.get("G", 1))
    if neurons <= 0 or weight.numel % neurons:
        raise ValueError(
            f"layer {op.name!r}: weight {weight.name!r} of {weight.numel} elements is not "
            f"{neurons} output neurons times a fan-in"
        )
    fan_in = weight.numel // neurons
    extra = 0
    if spec.kind == "constant_fan_in":
        active = max(1, neurons - round(spec.ablated * neurons))
        f = min(fan_in, max(1, round(spec.density * neurons * fan_in / active)))
        nnz = active * f
    elif spec.kind == "n_m":
        assert spec.n is not None and spec.m is not None
        active = neurons
        nnz = neurons * (spec.n * (fan_in // spec.m) + min(spec.n, fan_in % spec.m))
    else:
        active = neurons
        nnz = max(1, round(spec.density * neurons * fan_in))
        extra = (neurons + 1) * ROW_POINTER_BITS
    return LayerGeometry(neurons, fan_in, active, nnz, extra)


def resolve_layers(
    graph: Graph,
    default: SparsitySpec | None,
    layers: Iterable[tuple[str, SparsitySpec | None]] = (),
) -> dict[str, SparsitySpec]:
    """Sparse layers of ``graph``: ``layers`` (node name or glob -> spec, ``None`` =
    dense) over ``default`` (every eligible layer).

    An exact name wins over globs; among globs the first matching one (in the given
    order) applies.

    Raises
    ------
    KeyError
        ``(pattern, message)`` when a pattern matches no op of the graph, or names an op
        that cannot be sparse (message lists what can).
    """
    eligible = eligible_layers(graph)
    elig = set(eligible)
    rules = list(layers)
    out: dict[str, SparsitySpec | None] = dict.fromkeys(eligible, default)
    forward = [op for op in graph.ops if op.phase == Phase.FORWARD]
    for pattern, _ in rules:
        hits = [op for op in forward if fnmatch.fnmatchcase(op.name, pattern)]
        if not hits:
            raise KeyError(
                pattern,
                f"matches no layer of {graph.name!r}; sparse-capable layers: " + _preview(eligible),
            )
        if not any(op.name in elig for op in hits):
            op = hits[0]
            raise KeyError(
                pattern,
                f"node {op.name!r} ({op.op_type}) cannot be sparse: only Gemm / MatMul with "
                "a weight / Conv layers whose weight no other layer reads can; allowed: "
                + _preview(eligible),
            )
    for name in eligible:
        if any(p == name for p, _ in rules):
            out[name] = next(s for p, s in rules if p == name)
            continue
        for p, s in rules:
            if fnmatch.fnmatchcase(name, p):
                out[name] = s
                break
    return {k: v for k, v in out.items() if v is not None}


def _preview(names: tuple[str, ...], k: int = 8) -> str:
    if not names:
        return "none"
    more = f", ... ({len(names)} in all)" if len(names) > k else ""
    return ", ".join(names[:k]) + more


# -- rewriting ----------------------------------------------------------------------------
_DIMS = {
    # (kind, role) -> (fan_in_dim, neuron_dim, gathered operand)
    (OpKind.GEMM, "forward"): ("C", "K", "I1"),
    (OpKind.GEMM, "dX"): ("K", "C", "O"),
    (OpKind.GEMM, "dW"): ("D", "K", "I1"),
    (OpKind.CONV, "forward"): ("C", "K", "I1"),
    (OpKind.CONV, "dX"): ("K", "C", "O"),
    (OpKind.CONV, "dW"): ("C", "K", "I1"),
}


def apply_sparsity(
    graph: Graph, specs: Mapping[str, SparsitySpec], *, dense_grad_fraction: float = 0.0
) -> Graph:
    """``graph`` with the layers of ``specs`` sparse (module docstring).

    Parameters
    ----------
    graph
        A forward graph or a training graph from
        :func:`~monet_opt.models.training.derive_training_graph`.
    specs
        Forward op name -> spec (e.g. from :func:`resolve_layers`).
    dense_grad_fraction
        Share ``q`` in [0, 1] of the steps that compute the dense weight gradient
        (SRigL: ``grad_accumulation_n / delta``), amortized into the ``dW`` op.

    Returns
    -------
    Graph
        A new graph; the same ops and tensors except the sparse layers' weight, weight
        gradient, optimizer state (condensed :attr:`Tensor.sparse`) and ops
        (``attrs["sparsity"]``).

    Raises
    ------
    ValueError
        On a name that is not an eligible layer or ``q`` outside [0, 1].
    """
    if not 0.0 <= dense_grad_fraction <= 1.0:
        raise ValueError(f"dense_grad_fraction must be in [0, 1], got {dense_grad_fraction!r}")
    if not specs:
        return graph
    elig = set(eligible_layers(graph))
    tensors = dict(graph.tensors)
    infos: dict[str, SparseOpInfo] = {}
    updates: dict[str, Op] = {}
    q = dense_grad_fraction
    for name, spec in specs.items():
        if name not in elig:
            raise ValueError(f"layer {name!r} cannot be sparse (not an eligible Gemm/Conv layer)")
        fop = graph.ops[graph.op_index[name]]
        w = graph.tensors[fop.inputs[1]]
        geo = layer_geometry(fop, w, spec)
        f_frac = geo.fan_in_kept / geo.fan_in
        n_frac = geo.active / geo.neurons
        tensors[w.name] = replace(
            w, sparse=SparseStorage(geo.nnz, spec.bits_per_index, geo.extra_bits)
        )
        kinds = {"forward": fop}
        for op in graph.ops:
            if op.forward_op == name and op.op_type in _DX_TYPES:
                kinds["dX"] = op
            elif op.forward_op == name and op.op_type in _DW_TYPES:
                kinds["dW"] = op
        for role, op in kinds.items():
            fdim, ndim, gathered = _DIMS[(fop.kind, role)]
            ff, nf = f_frac, n_frac
            if role == "dW":
                ff, nf = q + (1 - q) * f_frac, q + (1 - q) * n_frac
            infos[op.name] = SparseOpInfo(spec, role, name, fdim, ndim, gathered, ff, nf, geo)
        values = SparseStorage(geo.nnz)
        for t in graph.tensors.values():
            if t.role == TensorRole.WEIGHT_GRADIENT and t.name.startswith(f"d[{w.name}]"):
                tensors[t.name] = replace(t, sparse=values)
        for op in graph.ops:
            if op.phase == Phase.OPTIMIZER and op.forward_op == w.name:
                for t in op.inputs + op.outputs:
                    tt = graph.tensors[t]
                    if tt.role == TensorRole.OPTIMIZER_STATE:
                        tensors[t] = replace(tt, sparse=values)
                    elif tt.role == TensorRole.WEIGHT:
                        tensors[t] = replace(tt, sparse=tensors[w.name].sparse)
                # The update reads and writes the stored values only.
                updates[op.name] = replace(
                    op,
                    loop_dims={**op.loop_dims, "E": geo.nnz},
                    macs=op.macs * geo.nnz // max(w.numel, 1),
                )
    ops = tuple(
        replace(op, attrs={**op.attrs, "sparsity": infos[op.name]})
        if op.name in infos
        else updates.get(op.name, op)
        for op in graph.ops
    )
    return Graph(graph.name, ops, tensors, graph.checkpoint_candidates)
