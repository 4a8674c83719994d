"""Import an ONNX *training* graph (forward + backward + optimizer) as it is.

A training graph exported by onnxruntime-training, possibly rewritten as MONET rewrites
it (Morlier et al., "MONET: Modeling and Optimization of neural NEtwork Training from Edge
to Data Centers", arXiv:2603.15002, 2026; the graphs of Stream pull request #92), already
holds the backward pass and the optimizer.  It is imported **as** a training graph: every
op gets its phase, every tensor its role, and monet-opt never derives a second backward
(:func:`monet_opt.models.training.derive_training_graph` is not called on it).

Recognition (:func:`classify_onnx`)
-----------------------------------
*Strong* evidence, any one of which makes a training graph:

* an op of the ``com.microsoft`` domain (or any domain) whose type ends in ``Grad``
  (``ReluGrad``, ``SoftmaxCrossEntropyLossGrad``, ``ConvGrad``...), or one of
  ``InPlaceAccumulator``, ``InPlaceAccumulatorV2``, ``FusedMatMul`` next to such ops;
* a graph input named ``*_grad.accumulation.buffer`` or ``*_optimizer_first_moment`` /
  ``*_optimizer_second_moment`` / ``*.exp_avg`` / ``*.exp_avg_sq`` / ``*_momentum``.

*Weak* evidence (tensor names ending in ``_grad`` or containing ``_optimizer``) without
strong evidence cannot be told apart safely: :class:`~monet_opt.models.onnx_import.
OnnxImportError` asks for ``workload.graph: training`` (or ``forward``).

Phases
------
* **backward**: ops reachable from a gradient seed (the output of a ``*Grad`` op, or a
  graph input / initializer named ``*_grad``, such as onnxruntime's ``loss_grad``);
* **optimizer**: ops reachable from a weight gradient (the tensor ``<w>_grad`` of a weight
  ``w``) or reading optimizer state (accumulation buffers, moments): gradient accumulation,
  the element-wise Adam/AdamW or SGD chain, the weight update;
* **forward**: every other op.

Roles
-----
Weights are the graph inputs / initializers (of rank >= 2) that have an optimizer state
(``<w>_optimizer_*``, ``<w>_grad.accumulation.buffer``, ``<w>_momentum``...) or that
forward MAC ops read as their second operand (a tensor named ``<x>_grad`` alone does not
make ``x`` a weight: onnxruntime names input gradients that way too); accumulation
buffers and moments are ``OPTIMIZER_STATE`` (held across steps); updated weights
(``<w>_optimizer_end`` outputs, or the optimizer op that reads ``w`` last) are
``WEIGHT`` and updated moments (the first ``Add`` / ``Sum`` after a moment input)
``OPTIMIZER_STATE``, so both are written back to DRAM, as a chip must even where the
file does not list them as outputs.  When later optimizer ops read an updated state (the
bias correction reads the new moment), its op has a second output ``<t>.writeback`` that
carries the role and is stored, while ``<t>`` becomes a temporary the placement may
spill; an updated state is never pinned on chip. Integer inputs read only by loss ops are ``LABEL``;
other data inputs are ``INPUT``. Forward results are ``ACTIVATION``, backward results
``GRADIENT`` (``WEIGHT_GRADIENT`` for ``<w>_grad``); optimizer temporaries are
``WEIGHT_GRADIENT`` at the optimizer-state precision (the update math of mixed-precision
training runs in fp32). Checkpoint candidates are the forward activations and inputs
that backward ops read. Scalars (learning rate, betas, ``loss_grad``,
``lazy_reset_grad``) and rank-1 tensors other than labels (biases) are dropped, as the
forward importer and MONET drop them; the ops that compute only bias gradients then have
no consumer and are removed as dead code.

Op mapping (MONET's rewritten op set and onnxruntime-training's)
----------------------------------------------------------------
* ``Conv``, ``Gemm`` (``transA`` / ``transB``), ``MatMul``, ``FusedMatMul`` (its
  ``transA`` / ``transB`` / ``transBatch*`` attributes), pools, norms, element-wise and
  shape ops map as in :mod:`monet_opt.models.builder`; backward ``Gemm`` / ``MatMul``
  nodes are the GEMM-form dX / dW of :mod:`monet_opt.models.training` with the same MACs.
* ``ConvTranspose`` -> ``ConvGradInput`` (the conv dX): ``OpKind.CONV``, loop dims of the
  forward conv with ``K`` and ``C`` swapped (``OY`` / ``OX`` iterate over the ``dY``
  positions), ``attrs["transposed"]``.
* **im2col dW**: ``MatMul(Reshape(dY), Reshape(Transpose(Gather(Gather(Pad(X))))))``
  followed by ``ReduceSum`` over the batch axis and a ``Reshape`` to the weight's shape is
  recognised as one ``ConvGradWeight`` (``OpKind.CONV``, inputs ``(X, dY)``, loop dims
  ``B, K, C, OY, OX, FY, FX`` from ``dY`` and the weight gradient's shape,
  ``attrs["reduction"] = ("B", "OY", "OX")``): the same MACs as the batched ``MatMul``,
  without materialising the im2col matrix, which a dataflow core's address generators do
  instead (as ZigZag models a convolution).  ``X`` may be a precomputed im2col input.
* ``ConvGrad`` (``com.microsoft``, before MONET's rewrite) -> ``ConvGradInput`` and
  ``ConvGradWeight``.
* ``ReluGrad``, ``GeluGrad``, ``FastGeluGrad``, ``SigmoidGrad``, ``TanhGrad``,
  ``DropoutGrad``, ``BiasGeluGrad_dX`` -> element-wise backward ops (the forward op's
  per-element cost); ``SoftmaxGrad`` / ``SoftmaxGrad_13`` / ``LogSoftmaxGrad`` /
  ``LayerNormalizationGrad`` / ``SimplifiedLayerNormalizationGrad`` /
  ``BatchNormalizationGrad`` -> ``OpKind.NORM`` (5 ops per element);
  ``SoftmaxCrossEntropyLossGrad`` / ``SoftmaxCrossEntropyLossInternalGrad`` ->
  ``SoftmaxCrossEntropyGrad`` (5 ops per element of the logits);
  ``AveragePoolGrad`` / ``MaxPoolGrad`` / ``GlobalAveragePoolGrad`` -> ``OpKind.POOL``
  with the forward pool's loop dims; ``GatherGrad`` -> ``EmbeddingGrad`` (scatter-add).
* ``Sum`` of ``n`` inputs: ``(n - 1)`` adds per element; ``ReduceSum``: one add per input
  element; ``InPlaceAccumulator(V2)``: one add per element, its output the updated buffer
  (``OPTIMIZER_STATE``, written back; ``<buffer>.updated`` when the op outputs only its
  flag); ``Scale`` and ``Expand``: one op per element; ``Pad``: a copy (zero-cost
  shape op, as the consumer's access pattern absorbs it).

Anything else is an :class:`OnnxImportError` naming the op, its node and the supported
set.  Shapes come from ONNX shape inference, completed for ``com.microsoft`` ops (whose
schemas ONNX does not have) by the rules above, iterated to a fixed point.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

from monet_opt.models.builder import (
    ELEMENT_OP_COST,
    INDEX_PRECISION,
    NORM_OPS_PER_ELEMENT,
    GraphBuilder,
    batch_elements,
)
from monet_opt.models.ir import Graph, Op, OpKind, Phase, Tensor, TensorRole
from monet_opt.models.onnx_import import (
    OnnxImportError,
    _dims,
    _fold_constants,
    constant_node_value,
)
from monet_opt.models.training import Precision

__all__ = [
    "GRAPH_KINDS",
    "TRAINING_ONNX_OPTIONS",
    "forward_part",
    "graph_evidence",
    "TRAINING_OPS",
    "GraphEvidence",
    "classify_onnx",
    "load_onnx_training",
]

#: Keyword options of :func:`load_onnx_training` (``workload.options`` of an ONNX
#: training graph; tensor precisions come from ``workload.precision``).
TRAINING_ONNX_OPTIONS: tuple[str, ...] = ("batch",)
#: Values of ``workload.graph``.
GRAPH_KINDS: tuple[str, ...] = ("auto", "forward", "training")

_ELEMENTWISE = {
    *("Relu", "Add", "Sub", "Mul", "Div", "Sigmoid", "Tanh", "Gelu", "Erf", "Silu", "Neg"),
    *("Scale", "Expand"),  # com.microsoft Scale: x * constant; Expand: a broadcast copy
    *("Clip", "HardSigmoid", "HardSwish", "Sqrt", "Pow", "Cast", "Reciprocal", "Exp"),
}
_SHAPE = {"Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Identity", "Pad"}
_NORM = {"Softmax", "LogSoftmax", "LayerNormalization", "BatchNormalization"}
_POOL = {"MaxPool", "AveragePool", "GlobalAveragePool"}
# Backward element-wise ops: per-element cost (the forward op's).
_GRAD_ELEMENTWISE: dict[str, tuple[str, int]] = {
    "ReluGrad": ("ReluGrad", 1),
    "GeluGrad": ("GeluGrad", ELEMENT_OP_COST["Gelu"]),
    "FastGeluGrad": ("GeluGrad", ELEMENT_OP_COST["Gelu"]),
    "BiasGeluGrad_dX": ("GeluGrad", ELEMENT_OP_COST["Gelu"]),
    "SigmoidGrad": ("SigmoidGrad", ELEMENT_OP_COST["Sigmoid"]),
    "TanhGrad": ("TanhGrad", ELEMENT_OP_COST["Tanh"]),
    "DropoutGrad": ("DropoutGrad", 1),
}
_GRAD_NORM = {
    "SoftmaxGrad": "SoftmaxGrad",
    "SoftmaxGrad_13": "SoftmaxGrad",
    "LogSoftmaxGrad": "SoftmaxGrad",
    "LogSoftmaxGrad_13": "SoftmaxGrad",
    "LayerNormalizationGrad": "LayerNormGrad",
    "SimplifiedLayerNormalizationGrad": "LayerNormGrad",
    "BatchNormalizationGrad": "BatchNormGrad",
}
_LOSS_GRAD = {"SoftmaxCrossEntropyLossGrad", "SoftmaxCrossEntropyLossInternalGrad"}
# Backward ops whose output is a weight gradient whatever it is named.
_WEIGHT_GRAD_OPS = frozenset({"ConvGradWeight", "EmbeddingGrad"})
# Shape helpers folded before the ops are judged (onnxruntime's gradient builders emit
# Shape of forward tensors for Reshape / Expand).
_FOLDED = {"Shape", "Size", "ConstantOfShape", "Range", "Concat", "Gather", "Slice", "Cast"}
_POOL_GRAD = {"AveragePoolGrad", "MaxPoolGrad", "GlobalAveragePoolGrad"}
_ACCUMULATE = {"InPlaceAccumulator", "InPlaceAccumulatorV2"}
_OTHER = {
    *("Conv", "ConvTranspose", "ConvGrad", "Gemm", "MatMul", "FusedMatMul", "Sum"),
    *("ReduceSum", "Gather", "GatherGrad", "SoftmaxCrossEntropyLoss", "Constant"),
}
#: Op types the training-graph importer understands.
TRAINING_OPS: frozenset[str] = frozenset(
    _ELEMENTWISE
    | _SHAPE
    | _NORM
    | _POOL
    | set(_GRAD_ELEMENTWISE)
    | set(_GRAD_NORM)
    | _LOSS_GRAD
    | _POOL_GRAD
    | _ACCUMULATE
    | _OTHER
)
# Inputs that carry data (the others are shapes, axes, pads, indices, statistics).
_DATA_INPUTS: dict[str, tuple[int, ...]] = {
    "Conv": (0, 1),
    "ConvTranspose": (0, 1),
    "ConvGrad": (0, 1, 2),
    "Gemm": (0, 1),
    "Reshape": (0,),
    "Squeeze": (0,),
    "Unsqueeze": (0,),
    "Pad": (0,),
    "ReduceSum": (0,),
    "BatchNormalization": (0,),
    "LayerNormalization": (0,),
    "Gather": (0,),
    "GatherGrad": (2,),  # the indices are read as the op's second input
    "Clip": (0,),
    "InPlaceAccumulator": (0, 1),
    "InPlaceAccumulatorV2": (0, 1),
    "SoftmaxCrossEntropyLoss": (0, 1),
    "SoftmaxCrossEntropyLossGrad": (1, 2),
    "SoftmaxCrossEntropyLossInternalGrad": (1, 2),
    "DropoutGrad": (0,),
    "Scale": (0,),
    "Expand": (0,),
}

_STATE_PATTERNS = (
    re.compile(r"^(?P<w>.+)_grad\.accumulation\.buffer$"),
    re.compile(r"^(?P<w>.+)_optimizer_(first|second)_moment$"),
    re.compile(r"^(?P<w>.+)\.(exp_avg|exp_avg_sq|momentum_buffer)$"),
    re.compile(r"^(?P<w>.+)_momentum$"),
)


@dataclass(frozen=True)
class GraphEvidence:
    """Why an ONNX graph is (or is not) taken for a training graph.

    Attributes
    ----------
    strong
        Facts that make it a training graph (``*Grad`` ops, accumulation buffers,
        optimizer moments), each as a short sentence naming an example.
    weak
        Facts that only suggest it (gradient-like or optimizer-like tensor names).
    """

    strong: tuple[str, ...]
    weak: tuple[str, ...]

    @property
    def kind(self) -> str:
        """``"training"``, ``"forward"`` or ``"ambiguous"``."""
        if self.strong:
            return "training"
        return "ambiguous" if self.weak else "forward"


def _grad_op(node: onnx.NodeProto) -> bool:
    return (
        node.op_type.endswith("Grad")
        or node.op_type.endswith("Grad_13")
        or (node.op_type == "BiasGeluGrad_dX")
    )


def _state_weight(name: str) -> str | None:
    for pat in _STATE_PATTERNS:
        m = pat.match(name)
        if m:
            return m.group("w")
    return None


def graph_evidence(model: onnx.ModelProto) -> GraphEvidence:
    """Collect the evidence that ``model`` is a training graph (see the module docstring)."""
    g = model.graph
    strong: list[str] = []
    weak: list[str] = []
    grads = [n for n in g.node if _grad_op(n)]
    if grads:
        n = grads[0]
        strong.append(
            f"{len(grads)} gradient op(s) such as {n.op_type!r} (domain "
            f"{n.domain or 'ai.onnx'!r}, node {n.name!r})"
        )
    acc = [n for n in g.node if n.op_type in _ACCUMULATE]
    if acc:
        strong.append(f"{len(acc)} gradient accumulator op(s) ({acc[0].op_type})")
    names = [vi.name for vi in g.input] + [t.name for t in g.initializer]
    states = [x for x in names if _state_weight(x) is not None]
    if states:
        strong.append(f"{len(states)} optimizer-state input(s) such as {states[0]!r}")
    tensors = {t for n in g.node for t in (*n.input, *n.output) if t} | set(names)
    gradish = sorted(t for t in tensors if t.endswith("_grad") or "_grad." in t)
    optish = sorted(t for t in tensors if "_optimizer" in t)
    if gradish:
        weak.append(f"{len(gradish)} gradient-like tensor name(s) such as {gradish[0]!r}")
    if optish:
        weak.append(f"{len(optish)} optimizer-like tensor name(s) such as {optish[0]!r}")
    return GraphEvidence(tuple(strong), tuple(weak))


def classify_onnx(path: str | Path, graph: str = "auto") -> str:
    """Whether an ONNX file holds a forward graph or a training graph.

    Parameters
    ----------
    path
        ``.onnx`` file (external weight data is not loaded).
    graph
        ``"auto"`` (recognise), ``"forward"`` or ``"training"`` (trust the caller).

    Returns
    -------
    str
        ``"forward"`` or ``"training"``.

    Raises
    ------
    ValueError
        For a ``graph`` value outside :data:`GRAPH_KINDS`.
    OnnxImportError
        If the file cannot be read, or with ``graph="auto"`` when the evidence is only
        weak (the message says to set ``workload.graph: training`` or ``forward``), or
        with ``graph="forward"`` on a graph that holds gradient ops (deriving a second
        backward on it would double-count).
    FileNotFoundError
        If ``path`` does not exist.
    """
    if graph not in GRAPH_KINDS:
        raise ValueError(f"graph={graph!r} is not allowed; allowed values: {list(GRAPH_KINDS)}")
    model = _read(Path(path))
    if graph == "training":
        return "training"
    ev = graph_evidence(model)
    name = Path(path).name
    if graph == "forward":
        if ev.strong:
            raise OnnxImportError(
                f"{name}: workload.graph is 'forward' but the file is a training graph "
                f"({'; '.join(ev.strong)}); deriving a backward on it would count the "
                "backward twice; set workload.graph: training (or auto)"
            )
        return "forward"
    if ev.kind == "ambiguous":
        raise OnnxImportError(
            f"{name}: cannot tell safely whether this is a forward or a training graph: "
            f"{'; '.join(ev.weak)}, but no gradient op or optimizer-state input; set "
            "workload.graph: training (import it as it is) or workload.graph: forward "
            "(derive the backward and optimizer)"
        )
    return ev.kind


def _read(path: Path) -> onnx.ModelProto:
    if not path.exists():
        raise FileNotFoundError(f"ONNX file not found: {path}")
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - re-raised with context
        raise OnnxImportError(f"{path}: cannot read ONNX model: {exc}") from exc


# -- shapes -------------------------------------------------------------------------------
def _attrs(node: onnx.NodeProto) -> dict[str, object]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _pool_input_hw(dy: tuple[int, ...], a: Mapping[str, object]) -> tuple[int, int]:
    k = tuple(a.get("kernel_shape", (1, 1)))  # type: ignore[arg-type]
    s = tuple(a.get("strides", (1,) * len(k)))  # type: ignore[arg-type]
    p = tuple(a.get("pads", (0,) * 2 * len(k)))  # type: ignore[arg-type]
    h = (dy[2] - 1) * s[0] + k[0] - p[0] - p[2]
    w = (dy[3] - 1) * s[1] + k[1] - p[1] - p[3]
    return int(h), int(w)


def _fused_matmul_shape(a: tuple[int, ...], b: tuple[int, ...], at: Mapping) -> tuple[int, ...]:
    m, k, n = _fused_dims(a, b, at)[1:]
    batch = tuple(np.broadcast_shapes(a[:-2], b[:-2]))
    return (*batch, m, n)


def _fused_dims(a: tuple[int, ...], b: tuple[int, ...], at: Mapping) -> tuple[int, int, int, int]:
    """``(batch, M, K, N)`` of ``op(A) @ op(B)`` with ONNX Runtime's FusedMatMul
    ``transA`` / ``transB`` attributes (``transBatch*`` only move batch axes)."""
    ta, tb = bool(at.get("transA", 0)), bool(at.get("transB", 0))
    m, ka = (a[-1], a[-2]) if ta else (a[-2], a[-1])
    kb, n = (b[-1], b[-2]) if tb else (b[-2], b[-1])
    if ka != kb:
        raise ValueError(f"inner dims differ: {a} (transA={ta}) @ {b} (transB={tb})")
    batch = math.prod(np.broadcast_shapes(a[:-2], b[:-2])) if len(a) > 2 or len(b) > 2 else 1
    return int(batch), int(m), int(ka), int(n)


def _custom_shapes(
    node: onnx.NodeProto,
    shp: Mapping[str, tuple[int, ...]],
    const: Mapping[str, np.ndarray],
) -> dict[str, tuple[int, ...]]:
    """Output shapes of a ``com.microsoft`` op whose schema ONNX does not know."""
    t, ins, a = node.op_type, list(node.input), _attrs(node)

    def s(i: int) -> tuple[int, ...] | None:
        return shp.get(ins[i]) if i < len(ins) and ins[i] else None

    out: dict[str, tuple[int, ...]] = {}
    if t in _GRAD_ELEMENTWISE or t in _GRAD_NORM or t in ("InPlaceAccumulator", "Scale"):
        if s(0) is not None:
            out[node.output[0]] = s(0)  # type: ignore[assignment]
    elif t == "InPlaceAccumulatorV2":  # (updated flag, accumulated buffer)
        if s(0) is not None:
            out[node.output[0]] = (1,)
            if len(node.output) > 1 and node.output[1]:
                out[node.output[1]] = s(0)  # type: ignore[assignment]
    elif t in _LOSS_GRAD:
        if s(1) is not None:
            out[node.output[0]] = s(1)  # type: ignore[assignment]
    elif t in ("AveragePoolGrad", "MaxPoolGrad"):
        dy = s(0)
        if dy is not None and len(dy) == 4:
            out[node.output[0]] = (*dy[:2], *_pool_input_hw(dy, a))
    elif t == "ConvGrad":
        for i, o in ((1, 0), (2, 1)):
            if s(i) is not None and len(node.output) > o and node.output[o]:
                out[node.output[o]] = s(i)  # type: ignore[assignment]
    elif t == "FusedMatMul":
        if s(0) is not None and s(1) is not None:
            out[node.output[0]] = _fused_matmul_shape(s(0), s(1), a)  # type: ignore[arg-type]
    elif t == "GatherGrad":  # input 0 holds the table's shape
        val = const.get(ins[0]) if ins else None
        if val is not None:
            out[node.output[0]] = tuple(int(d) for d in np.ravel(val))
    return out


def _shapes(model: onnx.ModelProto, path: Path) -> dict[str, tuple[int, ...]]:
    """Static shapes of every tensor: ONNX shape inference, completed for custom ops and
    iterated until nothing changes."""
    m = onnx.ModelProto.FromString(model.SerializeToString())
    const = _constants(m.graph)
    for _ in range(len(m.graph.node) + 1):
        try:
            inferred = shape_inference.infer_shapes(m)
        except Exception as exc:  # noqa: BLE001
            raise OnnxImportError(f"{path.name}: ONNX shape inference failed: {exc}") from exc
        shp: dict[str, tuple[int, ...]] = {}
        g = inferred.graph
        for vi in (*g.input, *g.value_info, *g.output):
            d = _dims(vi)
            if d is not None and all(isinstance(x, int) and x >= 0 for x in d):
                shp[vi.name] = tuple(int(x) for x in d)  # type: ignore[arg-type]
        for t in g.initializer:
            shp[t.name] = tuple(int(x) for x in t.dims)
        added: list[onnx.ValueInfoProto] = []
        for node in g.node:
            if all(o in shp for o in node.output if o):
                continue
            for name, dims in _custom_shapes(node, shp, const).items():
                if name not in shp:
                    shp[name] = dims
                    added.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, dims))
        if not added:
            return shp
        m = inferred
        m.graph.value_info.extend(added)
    return shp


def _constants(g: onnx.GraphProto) -> dict[str, np.ndarray]:
    """Values of the small initializers (<= 4096 elements, stored in the file) and of the
    ``Constant`` nodes: shapes, axes, indices."""
    out: dict[str, np.ndarray] = {}
    for t in g.initializer:
        if (t.raw_data or not t.data_location) and math.prod(t.dims) <= 4096:
            try:
                out[t.name] = numpy_helper.to_array(t)
            except Exception:  # noqa: BLE001 - stripped data: not a known constant
                continue
    for n in g.node:
        if n.op_type == "Constant":
            val = constant_node_value(n)
            if val is not None:
                out[n.output[0]] = val
    return out


# -- the importer -------------------------------------------------------------------------
def load_onnx_training(
    path: str | Path,
    batch: int | None = None,
    precision: Precision | None = None,
) -> Graph:
    """Load an ONNX training graph as a training :class:`Graph` (no second backward).

    Parameters
    ----------
    path
        ``.onnx`` file holding forward, backward and optimizer ops (external weight data
        is not loaded).
    batch
        Binds a symbolic dim 0 of the data inputs.  A training graph's static batch is
        fixed at export: a different value is an error (re-export to change it).
    precision
        Bits per element of activations, weights, gradients and optimizer state
        (default :class:`~monet_opt.models.training.Precision`: 16/16/16/32).

    Returns
    -------
    Graph
        Named after the file stem; ops in ONNX node order (forward, backward and optimizer
        ops interleaved as exported), with phases, roles and checkpoint candidates set.

    Raises
    ------
    OnnxImportError
        On an unreadable file, an unsupported op (naming op type, node and
        :data:`TRAINING_OPS`), an unknown shape, a graph without backward ops, or a
        ``batch`` that contradicts the file.
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        On an invalid ``batch``.
    """
    if batch is not None and (not isinstance(batch, int) or isinstance(batch, bool) or batch <= 0):
        raise ValueError(f"batch must be a positive int or None, got {batch!r}")
    prec = precision or Precision()
    path = Path(path)
    model = _read(path)
    return _Importer(model, path, batch, prec).run()


class _Importer:
    def __init__(
        self, model: onnx.ModelProto, path: Path, batch: int | None, prec: Precision
    ) -> None:
        self.model = model
        self.g = model.graph
        self.path = path
        self.prec = prec
        self.batch = batch

    def err(self, msg: str) -> OnnxImportError:
        return OnnxImportError(f"{self.path.name}: {msg}")

    # -- setup --------------------------------------------------------------------------
    def _bind_batch(self) -> None:
        if self.batch is None:
            return
        inits = {t.name for t in self.g.initializer}
        for vi in self.g.input:
            if vi.name in inits or _state_weight(vi.name) or vi.name in self.weights:
                continue
            dims = vi.type.tensor_type.shape.dim
            if not len(dims):
                continue
            d0 = dims[0]
            if d0.HasField("dim_value"):
                if d0.dim_value != self.batch and len(dims) > 1:
                    raise self.err(
                        f"input {vi.name!r} has batch {d0.dim_value} fixed at export; a "
                        f"training graph cannot be re-batched to {self.batch} (re-export it, "
                        "or drop workload.options.batch)"
                    )
            elif len(dims) > 1 or d0.HasField("dim_param"):
                d0.Clear()
                d0.dim_value = self.batch

    def _find_weights(self) -> set[str]:
        g = self.g
        names = {vi.name for vi in g.input} | {t.name for t in g.initializer}
        weights = {w for x in names if (w := _state_weight(x)) is not None and w in names}
        grads = {t for t in names if t.endswith("_grad")}
        for n in g.node:  # second operand of a forward MAC op (not of a gradient op)
            if _grad_op(n) or any(t in grads for t in n.input):
                grads.update(n.output)
                continue
            if n.op_type in ("Conv", "Gemm", "MatMul") and len(n.input) > 1:
                if n.input[1] in names:
                    weights.add(n.input[1])
        return {w for w in weights if self._numel(w) > 1 and len(self.shape(w)) >= 2}

    def shape(self, name: str) -> tuple[int, ...]:
        s = self.shp.get(name)
        if s is None or any(d <= 0 for d in s) and len(s) > 0:
            raise self.err(f"tensor {name!r} has an unknown or dynamic shape {s}")
        return s

    def _numel(self, name: str) -> int:
        s = self.shp.get(name)
        return math.prod(s) if s is not None else 0

    # -- phases -------------------------------------------------------------------------
    def _phases(
        self, nodes: list[onnx.NodeProto], reads: Mapping[int, tuple[str, ...]]
    ) -> list[Phase]:
        """Phase of each node (``reads`` overrides the inputs of collapsed patterns)."""
        names = {vi.name for vi in self.g.input} | {t.name for t in self.g.initializer}
        seeds = {t for t in names if t.endswith("_grad")}
        dws = {f"{w}_grad" for w in self.weights}
        state = {x for x in names if _state_weight(x) is not None}
        grad_t: set[str] = set(seeds)
        opt_t: set[str] = set(state)
        phases: list[Phase] = []
        for k, n in enumerate(nodes):
            ins = set(reads[k]) if k in reads else {t for t in n.input if t}
            if ins & opt_t or ins & dws:
                ph = Phase.OPTIMIZER
                opt_t.update(n.output)
            elif _grad_op(n) or ins & grad_t:
                ph = Phase.BACKWARD
                grad_t.update(n.output)
            else:
                ph = Phase.FORWARD
            phases.append(ph)
        return phases

    # -- im2col dW pattern --------------------------------------------------------------
    def _consumers(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for i, n in enumerate(self.g.node):
            for t in dict.fromkeys(n.input):
                if t:
                    out.setdefault(t, []).append(i)
        return out

    def _im2col_dw(self) -> dict[int, tuple[str, str, str, set[int]]]:
        """``{index of the final Reshape: (X, dY, dW, absorbed node indices)}``."""
        nodes = self.g.node
        cons = self._consumers()
        prod = {o: i for i, n in enumerate(nodes) for o in n.output if o}
        outs = {o.name for o in self.g.output}

        def only(t: str) -> int | None:
            c = cons.get(t, [])
            return c[0] if len(c) == 1 and t not in outs else None

        found: dict[int, tuple[str, str, str, set[int]]] = {}
        dy_reshapes: set[int] = set()
        matmuls: set[int] = set()
        for i, n in enumerate(nodes):
            if n.op_type != "MatMul" or len(n.input) != 2:
                continue
            r = only(n.output[0])
            if r is None or nodes[r].op_type != "ReduceSum":
                continue
            axes = self._reduce_axes(nodes[r])
            if axes != [0] or int(_attrs(nodes[r]).get("keepdims", 1)):  # type: ignore[call-overload]
                continue
            s = only(nodes[r].output[0])
            if s is None or nodes[s].op_type != "Reshape":
                continue
            dw = nodes[s].output[0]
            if len(self.shp.get(dw, ())) != 4:
                continue
            absorbed = {i, r, s}
            # dY side: Reshape(dY), possibly shared by the dW of a parallel branch
            a = n.input[0]
            pa = prod.get(a)
            if pa is None or nodes[pa].op_type != "Reshape":
                continue
            dy_reshapes.add(pa)
            dy = nodes[pa].input[0]
            # X side: Reshape <- Transpose <- Gather <- Gather <- Pad <- X (any subset)
            x = n.input[1]
            ok = True
            while x in prod and nodes[prod[x]].op_type in ("Reshape", "Transpose", "Gather", "Pad"):
                j = prod[x]
                if only(x) is None:
                    ok = False
                    break
                absorbed.add(j)
                x = nodes[j].input[0]
            if not ok or len(self.shp.get(dy, ())) != 4:
                continue
            found[s] = (x, dy, dw, absorbed)
            matmuls.add(i)
        for pa in dy_reshapes:  # absorbed when every reader is a recognised dW
            a = nodes[pa].output[0]
            if all(c in matmuls for c in cons.get(a, [])):
                for _x, _dy, _dw, absorbed in found.values():
                    if any(a in nodes[j].input for j in absorbed):
                        absorbed.add(pa)
        return found

    def _reduce_axes(self, node: onnx.NodeProto) -> list[int] | None:
        a = _attrs(node)
        if "axes" in a:
            return [int(x) for x in a["axes"]]  # type: ignore[union-attr]
        if len(node.input) > 1 and node.input[1]:
            v = self.const.get(node.input[1])
            return None if v is None else [int(x) for x in np.ravel(v)]
        return None

    # -- main ---------------------------------------------------------------------------
    def run(self) -> Graph:
        g = self.g
        self.shp = {  # declared shapes, until shape inference has run
            vi.name: tuple(int(d.dim_value) for d in vi.type.tensor_type.shape.dim)
            for vi in g.input
            if all(d.HasField("dim_value") for d in vi.type.tensor_type.shape.dim)
        }
        self.shp.update({t.name: tuple(int(x) for x in t.dims) for t in g.initializer})
        self.weights = self._find_weights()
        self._bind_batch()
        if any(n.op_type in _FOLDED for n in g.node):
            # shape arithmetic of the gradient ops (Shape of a static tensor feeding a
            # Reshape / Expand): folded by ONNX's reference evaluator, as in the forward
            # importer
            self.model, _ = _fold_constants(self.model, None, None, self.path)
            self.g = g = self.model.graph
        for i, node in enumerate(g.node):
            if node.op_type not in TRAINING_OPS:
                raise self.err(
                    f"unsupported op type {node.op_type!r} in a training graph (node "
                    f"{node.name or f'#{i}'!r}, domain {node.domain or 'ai.onnx'!r}); "
                    f"supported: {sorted(TRAINING_OPS)}"
                )
        self.shp = _shapes(self.model, self.path)
        self.accumulated: set[str] = set()  # buffers an accumulator updates in place
        self.weights = self._find_weights()
        self.const = _constants(g)
        im2col = self._im2col_dw()
        absorbed = {j for v in im2col.values() for j in v[3]}
        keep_idx = [
            i
            for i, n in enumerate(g.node)
            if n.op_type != "Constant" and (i not in absorbed or i in im2col)
        ]
        nodes = [g.node[i] for i in keep_idx]
        phases = self._phases(
            nodes, {k: im2col[i][:2] for k, i in enumerate(keep_idx) if i in im2col}
        )
        labels = self._labels()
        dropped = self._dropped(labels)

        gb = GraphBuilder(self.path.stem, self.prec.activation)
        for vi in g.input:
            if vi.name in dropped or vi.name in self.weights:
                continue
            if vi.name in self.shp and (
                vi.name in labels or any(vi.name in n.input for n in nodes)
            ):
                self._declare(gb, vi.name)
        op_phase: dict[str, Phase] = {}
        op_node: dict[str, onnx.NodeProto] = {}
        used: set[str] = set()
        for node, ph, idx in zip(nodes, phases, keep_idx, strict=True):
            name = node.name or f"{node.op_type}_{idx}"
            while name in used:
                name = f"{name}_{idx}"
            used.add(name)
            before = len(gb.ops)
            if idx in im2col:
                x, dy, dw, _ = im2col[idx]
                self._need(gb, (x, dy), dropped)
                self._conv_dw(gb, name, x, dy, dw)
            else:
                self._convert(gb, node, name, dropped)
            for op in gb.ops[before:]:
                op_phase[op.name] = ph
                op_node[op.name] = node
        if not gb.ops:
            raise self.err("no computation nodes")
        return self._finish(gb, op_phase, op_node, labels)

    def _labels(self) -> set[str]:
        out: set[str] = set()
        for n in self.g.node:
            if n.op_type in _LOSS_GRAD and len(n.input) > 2:
                out.add(n.input[2])
            elif n.op_type == "SoftmaxCrossEntropyLoss" and len(n.input) > 1:
                out.add(n.input[1])
        return out

    def _dropped(self, labels: set[str]) -> set[str]:
        """Scalars and rank-1 tensors (biases, betas, learning rate, loss_grad), except
        labels, and every integer initializer (shapes, axes, indices)."""
        out: set[str] = set()
        for t in self.g.initializer:
            if len(t.dims) <= 1 or t.data_type in (onnx.TensorProto.INT64, onnx.TensorProto.INT32):
                if t.name not in labels:
                    out.add(t.name)
        for vi in self.g.input:
            s = self.shp.get(vi.name)
            if vi.name not in labels and (s is None or len(s) <= 1):
                out.add(vi.name)
        out.update(self.const)
        out -= labels
        out -= self.weights
        return out

    def _declare(self, gb: GraphBuilder, t: str) -> None:
        if t in gb.tensors:
            return
        if t in self.weights:
            gb.weight(t, self.shape(t))
        else:
            gb.input(t, self.shape(t))

    def _need(self, gb: GraphBuilder, names: Iterable[str], dropped: set[str]) -> None:
        for t in names:
            if t in gb.tensors or t in dropped:
                continue
            producers = any(t in n.output for n in self.g.node)
            if producers:
                raise self.err(f"tensor {t!r} is read before it is written")
            self._declare(gb, t)

    def _conv_dw(self, gb: GraphBuilder, name: str, x: str, dy: str, dw: str) -> None:
        b, k, oy, ox = self.shape(dy)
        kw, c, fy, fx = self.shape(dw)
        if kw != k:
            raise self.err(f"im2col dW {name!r}: dY has {k} channels but dW {self.shape(dw)}")
        dims = {"B": b, "K": k, "C": c, "OY": oy, "OX": ox, "FY": fy, "FX": fx}
        xs = self.shape(x)
        attrs: dict[str, object] = {"reduction": ("B", "OY", "OX"), "im2col": True}
        if len(xs) == 4 and oy:
            attrs["stride"] = (max(1, xs[2] // oy), max(1, xs[3] // ox))
        gb.tensor(dw, self.shape(dw))
        gb.add_op(
            name, "ConvGradWeight", OpKind.CONV, dims, (x, dy), (dw,), math.prod(dims.values()),
            attrs,
        )  # fmt: skip

    def _convert(
        self, gb: GraphBuilder, node: onnx.NodeProto, name: str, dropped: set[str]
    ) -> None:
        op, a = node.op_type, _attrs(node)
        sel = _DATA_INPUTS.get(op)
        data = [
            t
            for i, t in enumerate(node.input)
            if t and (sel is None or i in sel) and t not in dropped
        ]
        self._need(gb, data, dropped)
        outs = [o for o in node.output if o]
        if not data:  # only dropped inputs (e.g. the update chain of a bias): not modelled
            dropped.update(outs)
            return
        out = outs[0]
        shp = self.shape(out)
        try:
            if op == "Conv":
                gb.conv(
                    name, data[0], data[1],
                    stride=tuple(a.get("strides", (1, 1))),  # type: ignore[arg-type]
                    padding=tuple(a.get("pads", (0, 0, 0, 0))),  # type: ignore[arg-type]
                    groups=int(a.get("group", 1)),  # type: ignore[call-overload]
                    dilation=tuple(a.get("dilations", (1, 1))),  # type: ignore[arg-type]
                    out=out, out_shape=shp,
                )  # fmt: skip
            elif op == "ConvTranspose":
                self._conv_dx(gb, name, data[0], data[1], out, a)
            elif op == "ConvGrad":
                self._conv_grad(gb, name, node, a, dropped)
            elif op in ("Gemm", "MatMul", "FusedMatMul"):
                self._gemm(gb, name, op, data, out, a)
            elif op in _ELEMENTWISE:
                gb.elementwise(name, op, data, out=out, out_shape=shp)
            elif op in _GRAD_ELEMENTWISE:
                gtype, cost = _GRAD_ELEMENTWISE[op]
                self._emit(gb, name, gtype, OpKind.ELEMENTWISE, data, out, cost * math.prod(shp))
            elif op in _GRAD_NORM:
                self._emit(
                    gb, name, _GRAD_NORM[op], OpKind.NORM, data, out,
                    NORM_OPS_PER_ELEMENT * math.prod(shp),
                )  # fmt: skip
                dropped.update(outs[1:])  # scale / bias gradients (rank 1, not modelled)
            elif op in _LOSS_GRAD:
                self._emit(
                    gb, name, "SoftmaxCrossEntropyGrad", OpKind.ELEMENTWISE, data, out,
                    NORM_OPS_PER_ELEMENT * math.prod(shp),
                )  # fmt: skip
            elif op == "SoftmaxCrossEntropyLoss":
                self._loss(gb, name, node, data)
            elif op in _POOL_GRAD:
                self._pool_grad(gb, name, op, data[0], out, a)
            elif op in _ACCUMULATE:
                # InPlaceAccumulatorV2 writes the buffer in place and outputs a flag (and
                # optionally the buffer): model the updated buffer as the output
                buf = self.shape(data[0])
                acc = next((o for o in outs if self.shp.get(o) == buf), None)
                dropped.update(o for o in outs if o != acc)
                if acc is None:
                    acc = f"{data[0]}.updated"
                    self.shp[acc] = buf
                n = math.prod(buf)
                self._emit(gb, name, "GradAccumulate", OpKind.ELEMENTWISE, data, acc, n)
                self.accumulated.add(acc)
            elif op == "Sum":
                n = max(1, len(data) - 1)
                self._emit(gb, name, "Sum", OpKind.ELEMENTWISE, data, out, n * math.prod(shp))
            elif op == "ReduceSum":
                ins = self.shape(data[0])
                gb.tensor(out, shp)
                gb.add_op(
                    name, "ReduceSum", OpKind.ELEMENTWISE, batch_elements(ins), data, (out,),
                    math.prod(ins),
                )  # fmt: skip
            elif op == "Gather":
                if data[0] in self.weights and len(node.input) > 1:
                    ids = node.input[1]
                    self._need(gb, (ids,), set())
                    gb.embedding(name, ids, data[0], out=out)
                else:
                    raise self.err(
                        f"Gather node {name!r} on data is supported in a training graph only "
                        "as part of MONET's im2col weight gradient (Pad, Gather, Transpose, "
                        "Reshape, MatMul, ReduceSum, Reshape)"
                    )
            elif op == "GatherGrad":  # (shape, indices, dY): scatter-add into the table
                ids = node.input[1]
                self._need(gb, (ids,), set())
                self._emit(
                    gb, name, "EmbeddingGrad", OpKind.ELEMENTWISE, [*data, ids], out,
                    math.prod(self.shape(data[0])),
                )  # fmt: skip
            elif op in _NORM:
                gb.norm(name, op, data[0], out=out, attrs={"axis": a.get("axis", -1)})
                for extra in outs[1:]:  # saved mean / inv-std: small, dropped
                    dropped.add(extra)
            elif op in ("MaxPool", "AveragePool"):
                kernel = tuple(a["kernel_shape"])  # type: ignore[arg-type]
                gb.pool(
                    name, op, data[0], kernel=kernel,
                    stride=tuple(a.get("strides", (1,) * len(kernel))),  # type: ignore[arg-type]
                    padding=tuple(a.get("pads", (0,) * 2 * len(kernel))),  # type: ignore[arg-type]
                    out=out, out_shape=shp,
                )  # fmt: skip
            elif op == "GlobalAveragePool":
                gb.global_avg_pool(name, data[0], out=out)
            else:  # shape ops (Pad: a copy the consumer's access pattern absorbs)
                gb.shape_op(
                    name, op, data, shp, out=out,
                    attrs={k: _plain(v) for k, v in a.items()}, check=op != "Pad",
                )  # fmt: skip
        except OnnxImportError:
            raise
        except (ValueError, KeyError) as exc:
            raise self.err(f"cannot convert {op} node {name!r}: {exc}") from exc

    def _emit(
        self,
        gb: GraphBuilder,
        name: str,
        op_type: str,
        kind: OpKind,
        data: list[str],
        out: str,
        macs: int,
    ) -> None:
        shp = self.shape(out)
        gb.tensor(out, shp)
        gb.add_op(name, op_type, kind, batch_elements(shp), data, (out,), macs)

    def _conv_dx(
        self, gb: GraphBuilder, name: str, dy: str, w: str, out: str, a: Mapping[str, object]
    ) -> None:
        b, k, oy, ox = self.shape(dy)
        wk, cg, fy, fx = self.shape(w)
        groups = int(a.get("group", 1))  # type: ignore[call-overload]
        if wk != k:
            raise self.err(f"ConvTranspose {name!r}: dY has {k} channels, weight {self.shape(w)}")
        dims: dict[str, int] = {"B": b}
        if groups > 1:
            dims["G"] = groups
        dims.update({"K": cg, "C": k // groups, "OY": oy, "OX": ox, "FY": fy, "FX": fx})
        gb.tensor(out, self.shape(out))
        attrs = {
            "stride": tuple(a.get("strides", (1, 1))),  # type: ignore[arg-type]
            "padding": tuple(a.get("pads", (0, 0, 0, 0))),  # type: ignore[arg-type]
            "groups": groups,
            "transposed": True,
        }
        gb.add_op(
            name, "ConvGradInput", OpKind.CONV, dims, (dy, w), (out,), math.prod(dims.values()),
            attrs,
        )  # fmt: skip

    def _conv_grad(
        self,
        gb: GraphBuilder,
        name: str,
        node: onnx.NodeProto,
        a: Mapping[str, object],
        dropped: set[str],
    ) -> None:
        dy, x, w = node.input[0], node.input[1], node.input[2]
        outs = list(node.output) + ["", ""]
        if outs[0] and outs[0] not in dropped:
            self._conv_dx(gb, f"{name}.dX", dy, w, outs[0], a)
        if outs[1]:
            self._conv_dw(gb, f"{name}.dW", x, dy, outs[1])
        if len(node.output) > 2 and node.output[2]:
            dropped.add(node.output[2])  # bias gradient

    def _gemm(
        self,
        gb: GraphBuilder,
        name: str,
        op: str,
        data: list[str],
        out: str,
        a: Mapping[str, object],
    ) -> None:
        if len(data) != 2:
            raise self.err(f"{op} node {name!r} needs two tensor operands")
        sa, sb = self.shape(data[0]), self.shape(data[1])
        at = dict(a)
        if op == "MatMul":
            at = {}
        batch, m, k, n = _fused_dims(sa, sb, at)
        dims = {"B": batch, "D": m, "C": k, "K": n}
        gb.tensor(out, self.shape(out))
        attrs = {"trans_a": bool(at.get("transA", 0)), "trans_b": bool(at.get("transB", 0))}
        gb.add_op(name, op, OpKind.GEMM, dims, data, (out,), math.prod(dims.values()), attrs)

    def _pool_grad(
        self, gb: GraphBuilder, name: str, op: str, dy: str, out: str, a: Mapping[str, object]
    ) -> None:
        b, c, oy, ox = self.shape(dy)
        xs = self.shape(out)
        if op == "GlobalAveragePoolGrad":
            k = (xs[2], xs[3])
        else:
            k = tuple(int(v) for v in a.get("kernel_shape", (1, 1)))  # type: ignore[union-attr]
        dims = {"B": b, "K": c, "OY": oy, "OX": ox, "FY": k[0], "FX": k[1]}
        gb.tensor(out, xs)
        gb.add_op(name, op, OpKind.POOL, dims, (dy,), (out,), math.prod(dims.values()))

    def _loss(self, gb: GraphBuilder, name: str, node: onnx.NodeProto, data: list[str]) -> None:
        logits = data[0]
        outs = [o for o in node.output if o]
        gb.tensor(outs[0], (), TensorRole.LOSS, 32)
        for o in outs[1:]:
            gb.tensor(o, self.shape(o))
        n = math.prod(self.shape(logits))
        gb.add_op(
            name, "SoftmaxCrossEntropy", OpKind.LOSS, batch_elements(self.shape(logits)),
            data, outs, NORM_OPS_PER_ELEMENT * n,
        )  # fmt: skip

    # -- phases, roles, candidates -------------------------------------------------------
    def _finish(
        self,
        gb: GraphBuilder,
        op_phase: Mapping[str, Phase],
        op_node: Mapping[str, onnx.NodeProto],
        labels: set[str],
    ) -> Graph:
        ops = _dead_code(gb.ops, {o.name for o in self.g.output} | self.accumulated, op_phase)
        phases = {op.name: op_phase[op.name] for op in ops}
        if not any(p == Phase.BACKWARD for p in phases.values()):
            raise self.err(
                "no backward op found: this is not a training graph (set workload.graph: "
                "forward to derive the backward)"
            )
        producer = {t: op for op in ops for t in op.outputs}
        used = {t for op in ops for t in (*op.inputs, *op.outputs)}
        weights = {w for w in self.weights if w in used}
        roles: dict[str, TensorRole] = {}
        for t in used:
            src = gb.tensors[t]
            if t in weights:
                roles[t] = TensorRole.WEIGHT
            elif t not in producer:
                if _state_weight(t) is not None:
                    roles[t] = TensorRole.OPTIMIZER_STATE
                elif t.endswith("_grad"):  # a gradient seed given as an input
                    roles[t] = TensorRole.GRADIENT
                elif t in labels:
                    roles[t] = TensorRole.LABEL
                else:
                    roles[t] = TensorRole.INPUT
            else:
                ph = phases[producer[t].name]
                if src.role == TensorRole.LOSS:
                    roles[t] = TensorRole.LOSS
                elif ph == Phase.FORWARD:
                    roles[t] = TensorRole.ACTIVATION
                elif ph == Phase.BACKWARD:
                    roles[t] = (
                        TensorRole.WEIGHT_GRADIENT
                        if t.endswith("_grad")
                        and t[: -len("_grad")] in weights
                        or producer[t].op_type in _WEIGHT_GRAD_OPS
                        else TensorRole.GRADIENT
                    )
                else:
                    roles[t] = TensorRole.WEIGHT_GRADIENT
        for t, r in _updated_state(ops, phases, weights, roles).items():
            roles[t] = r
        for t in self.accumulated & used:  # held across steps: written back
            roles[t] = TensorRole.OPTIMIZER_STATE
        p = self.prec
        bits = {
            TensorRole.WEIGHT: p.weight,
            TensorRole.ACTIVATION: p.activation,
            TensorRole.INPUT: p.activation,
            TensorRole.GRADIENT: p.gradient,
            TensorRole.WEIGHT_GRADIENT: p.gradient,
            TensorRole.OPTIMIZER_STATE: p.optimizer_state,
            TensorRole.LABEL: INDEX_PRECISION,
            TensorRole.LOSS: 32,
        }
        tensors: dict[str, Tensor] = {}
        for t in used:
            r = roles[t]
            b = bits[r]
            if r == TensorRole.WEIGHT_GRADIENT and t in producer:
                if phases[producer[t].name] == Phase.OPTIMIZER:
                    b = p.optimizer_state
            tensors[t] = Tensor(t, gb.tensors[t].shape, b, r)
        # An updated state that later optimizer ops also read is an output twice: the copy
        # written back to DRAM (its role) and the working copy the chain reads (a
        # temporary the placement may spill); the file lists neither as an output.
        read = {t for op in ops for t in op.inputs}
        extra: dict[str, tuple[str, ...]] = {}
        for t in sorted(used):
            tt = tensors[t]
            if (
                t in producer
                and t in read
                and tt.role
                in (
                    TensorRole.WEIGHT,
                    TensorRole.OPTIMIZER_STATE,
                )
            ):
                copy = f"{t}.writeback"
                tensors[copy] = Tensor(copy, tt.shape, tt.precision, tt.role)
                tensors[t] = Tensor(t, tt.shape, tt.precision, TensorRole.WEIGHT_GRADIENT)
                extra[producer[t].name] = (*extra.get(producer[t].name, ()), copy)
        fwd_of = _forward_ops(ops, phases, op_node, weights, producer)
        final = [
            replace(
                op,
                phase=phases[op.name],
                forward_op=fwd_of.get(op.name),
                outputs=op.outputs + extra.get(op.name, ()),
            )
            for op in ops
        ]
        cands = frozenset(
            t
            for op in final
            if op.phase == Phase.BACKWARD
            for t in op.inputs
            if roles[t] in (TensorRole.ACTIVATION, TensorRole.INPUT)
            and (t not in producer or phases[producer[t].name] == Phase.FORWARD)
        )
        return Graph(f"{self.path.stem}", tuple(final), tensors, cands)


def _plain(v: object) -> object:
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, list):
        return tuple(v)
    if isinstance(v, onnx.TensorProto):
        return tuple(int(d) for d in v.dims)
    return v


def _dead_code(ops: list[Op], outputs: set[str], phase: Mapping[str, Phase]) -> list[Op]:
    """Drop backward and optimizer ops none of whose outputs is read or is a graph output
    (bias gradients once biases are dropped), repeatedly.  Forward ops stay (the model
    output need not feed a loss op: MONET's graphs drop the loss forward)."""
    live = list(ops)
    while True:
        read = {t for op in live for t in op.inputs} | outputs
        keep = [
            op
            for op in live
            if phase[op.name] == Phase.FORWARD or any(t in read for t in op.outputs)
        ]
        if len(keep) == len(live):
            return keep
        live = keep


def _updated_state(
    ops: list[Op],
    phases: Mapping[str, Phase],
    weights: set[str],
    roles: Mapping[str, TensorRole],
) -> dict[str, TensorRole]:
    """Updated weights and optimizer states, which the step must write back.

    The updated weight is the output of the last optimizer op reading the weight
    (``W - lr * update``); the updated state of a state input (a moment, a momentum, an
    accumulation buffer) is the output of the first ``Add`` / ``Sum`` / ``Sub`` /
    accumulator downstream of it (``m' = beta * m + (1 - beta) * g``).  Accumulation
    buffers that are only read (a micro-batch sum) are not written back."""
    out: dict[str, TensorRole] = {}
    readers: dict[str, list[Op]] = {}
    for op in ops:
        for t in op.inputs:
            readers.setdefault(t, []).append(op)
    for w in weights:
        opt = [op for op in readers.get(w, []) if phases[op.name] == Phase.OPTIMIZER]
        if opt:
            out[opt[-1].outputs[0]] = TensorRole.WEIGHT
    for t, r in roles.items():
        if r != TensorRole.OPTIMIZER_STATE or t.endswith(".accumulation.buffer"):
            continue
        frontier = [t]
        seen: set[str] = set()
        while frontier:
            cur = frontier.pop(0)
            for op in readers.get(cur, []):
                if op.name in seen or phases[op.name] != Phase.OPTIMIZER:
                    continue
                seen.add(op.name)
                if op.op_type in ("Add", "Sum", "Sub", "GradAccumulate"):
                    if op.outputs[0] not in out:
                        out[op.outputs[0]] = TensorRole.OPTIMIZER_STATE
                    frontier = []
                    break
                frontier.append(op.outputs[0])
    return out


def _forward_ops(
    ops: list[Op],
    phases: Mapping[str, Phase],
    op_node: Mapping[str, onnx.NodeProto],
    weights: set[str],
    producer: Mapping[str, Op],
) -> dict[str, str]:
    """``forward_op`` of every backward / optimizer op: the forward node named by
    onnxruntime's ``<forward>_Grad/...`` naming, else the forward op of the weight it
    reads or updates, else the forward producer of the deepest forward tensor it reads,
    else the forward op of the op that produced its first input."""
    fwd_names = {op.name for op in ops if phases[op.name] == Phase.FORWARD}
    fwd_index = {op.name: i for i, op in enumerate(ops) if op.name in fwd_names}
    first_user: dict[str, str] = {}
    for op in ops:
        if op.name in fwd_names:
            for t in op.inputs:
                if t in weights:
                    first_user.setdefault(t, op.name)
    out: dict[str, str] = {}
    tag: dict[str, str] = {}  # optimizer tensors -> weight
    for op in ops:
        ph = phases[op.name]
        if ph == Phase.FORWARD:
            continue
        if ph == Phase.OPTIMIZER:
            w = next((t for t in op.inputs if t in weights), None)
            w = w or next((tag[t] for t in op.inputs if t in tag), None)
            if w is None:
                for t in op.inputs:
                    sw = _state_weight(t)
                    if sw is not None or t.endswith("_grad") and t[:-5] in weights:
                        w = sw or t[:-5]
                        break
            if w is not None:
                out[op.name] = w
                for t in op.outputs:
                    tag[t] = w
            continue
        node_name = op_node[op.name].name
        if "_Grad/" in node_name:
            base = node_name.split("_Grad/")[0]
            if base in fwd_names:
                out[op.name] = base
                continue
        w = next((t for t in op.inputs if t in weights), None)
        if w is None:
            w = next(
                (t[:-5] for t in op.outputs if t.endswith("_grad") and t[:-5] in weights), None
            )
        if w is not None and w in first_user:
            out[op.name] = first_user[w]
            continue
        reads = [producer[t].name for t in op.inputs if t in producer]
        fwd_reads = [r for r in reads if r in fwd_index]
        if fwd_reads:
            out[op.name] = max(fwd_reads, key=fwd_index.__getitem__)
            continue
        if reads and reads[0] in out:
            out[op.name] = out[reads[0]]
    return out


def forward_part(graph: Graph) -> Graph:
    """The forward ops of a training graph, as a forward graph (``mode: inference``).

    Raises
    ------
    ValueError
        If the graph has no forward op.
    """
    ops = graph.ops_in(Phase.FORWARD)
    if not ops:
        raise ValueError(f"graph {graph.name!r} has no forward op")
    used = {t for op in ops for t in (*op.inputs, *op.outputs)}
    return Graph(graph.name, ops, {t: graph.tensors[t] for t in used})
