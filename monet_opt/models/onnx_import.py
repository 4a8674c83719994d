"""Import a forward graph from an ONNX model (inference graph, shapes only).

The model is loaded with ``onnx.load(path, load_external_data=False)`` (weights may be
stripped: only their shapes are used) and shapes are taken from
``onnx.shape_inference.infer_shapes``, initializers and graph inputs/outputs.  Nodes are
mapped to the op conventions of :mod:`monet_opt.models.builder`, the same as the built-in
zoo, so Stream's ``resnet18.onnx`` and :func:`monet_opt.models.zoo.resnet18` agree (49 ops,
1.8141e9 MACs).  Models from both PyTorch exporters load: the classic TorchScript exporter
(``dynamo=False``, opset 17) and the dynamo exporter (opset 18).

Mapping rules
-------------
* **Weights**: floating-point initializers of rank >= 2 (of any type when read as a
  Conv / Gemm / MatMul weight operand, e.g. int8 weights), and non-initializer graph inputs
  that are only read as the second operand (``I2``) of Conv / Gemm / MatMul or as an Einsum
  operand (e.g. ``wQ`` in Stream's ``attention_head.onnx``).  Other graph inputs are network
  inputs (integer ones, e.g. token ids, are held at
  :data:`~monet_opt.models.builder.INDEX_PRECISION` bits).  Unused initializers are ignored.
* **Dropped**: bias inputs (Conv ``B``, Gemm ``C``), rank-0/rank-1 initializers (biases,
  scales, scalar constants), integer and boolean initializers (shapes, indices, masks),
  ``Constant`` nodes, folded constants and non-data inputs (Reshape's shape,
  Squeeze/Unsqueeze axes, Slice starts/ends, BatchNorm statistics, Dropout ratio), as MONET
  drops bias and rank-1 tensors (Morlier et al., arXiv:2603.15002, 2026).  An op whose data
  inputs are all constants is folded away.
* **Constant folding**: nodes whose inputs are all constant (integer/boolean initializers
  of up to 4096 elements, rank <= 1 initializers, scalars, ``Constant`` outputs, the
  ``Shape`` of a tensor with a static shape, and results of earlier folds; weights never
  are) are evaluated with ONNX's reference evaluator (``onnx.reference``) before any op is
  judged: shape arithmetic, causal masks (``Trilu`` / ``Where`` / ``Range`` /
  ``ConstantOfShape`` / ``Equal`` / ``Mod``...) and position ids vanish.  Random ops
  (``RandomUniformLike``...) are never evaluated; their outputs are dropped like constants
  whatever they read (the mask generation of the dynamo exporter's dropout and of
  stochastic depth is not modelled as work; the mask multiply that follows is).
* **Model output**: the first graph output of rank >= 2 that is not a secondary output of
  a node (BatchNorm running statistics, Dropout mask); nodes that do not contribute to it
  (running-statistics updates, cached keys/values) are pruned, so the last op writes the
  logits that :func:`~monet_opt.models.training.derive_training_graph` attaches the loss to.
* **Symbolic dims**: ``batch`` binds dim 0 of every network input, ``seq`` binds dim 1 of
  rank >= 2 integer (token-id) inputs and of inputs whose dim 1 is symbolic; shapes are then
  re-inferred.  A dim that stays symbolic is an error naming the option to set
  (``workload.options.batch`` / ``workload.options.seq``).
* Element precisions come from the ``precision`` argument, not the ONNX dtypes.

Op mapping (kinds and costs as in :mod:`monet_opt.models.builder`)
-------------------------------------------------------------------
* Conv (any ``group``: grouped and depthwise), Gemm, MatMul, and ``Einsum`` equations that
  are (batched) matrix products: ``OpKind.GEMM`` / ``CONV`` MAC ops.
* Element-wise (``ELEMENTWISE``): arithmetic, activations, ``Cast`` (and ``CastLike``,
  whose second input only gives the type), ``Neg``, ``Reciprocal``,
  ``Exp``, ``Log``, ``Sin``, ``Cos``, ``Abs``, comparisons and logic ops (``Equal``,
  ``Less``, ``Not``, ...: their outputs carry no gradient), ``Where`` (select), ``Expand``
  (broadcast copy), ``Trilu`` on data, ``ScatterND`` (the data with indexed slices
  overwritten: one op per output element; constant updates such as Swin's shifted-window
  mask pattern are not weights), ``Dropout`` in training mode (mask multiply; in
  inference mode or with ratio 0 it is an ``Identity``), ``Gather`` / ``GatherElements`` on
  activations (index-select copy), ``Gather`` along axis 0 of a 2-D weight (``Embedding``,
  e.g. token and position embeddings, Swin's relative-position bias table; constant
  indices become an index input of the step).
* ``NORM``: Softmax, LogSoftmax, LayerNormalization and BatchNormalization (only output
  ``Y`` is modelled; training-mode BatchNorm's running statistics are dropped), and the
  reductions ReduceSum / ReduceMean / ReduceMax / ReduceMin (cost: input elements), except
  ``ReduceMean`` over the spatial axes of an NCHW tensor, which is global average pooling
  (``POOL``).
* ``SHAPE`` (zero cost): Flatten, Reshape, Transpose, Squeeze, Unsqueeze, Concat, Identity,
  ``Slice`` and ``Pad`` on data, and ``Split``, mapped to one ``Slice`` op per output
  (``attrs["split"]`` names the Split node).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

from monet_opt.models.builder import INDEX_PRECISION, GraphBuilder
from monet_opt.models.ir import Graph, TensorRole

__all__ = [
    "load_onnx",
    "check_options",
    "export_notes",
    "ONNX_OPTIONS",
    "OnnxImportError",
    "SUPPORTED_OPS",
]

_ELEMENTWISE = {
    *("Relu", "Add", "Sub", "Mul", "Div", "Sigmoid", "Tanh", "Gelu", "Erf", "Silu"),
    *("Clip", "HardSigmoid", "HardSwish", "Sqrt", "Pow", "Cast", "CastLike"),
    *("Neg", "Abs", "Reciprocal", "Exp", "Log", "Sin", "Cos"),
}
# Comparisons and logic: element-wise, boolean outputs that carry no gradient.
_COMPARE = {
    *("Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual"),
    *("Not", "And", "Or", "Xor", "IsNaN", "IsInf"),
}
_SHAPE = {
    *("Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Concat", "Identity"),
    *("Slice", "Pad", "Split"),
}
_NORM = {"Softmax", "LogSoftmax", "LayerNormalization", "BatchNormalization"}
_POOL = {"MaxPool", "AveragePool", "GlobalAveragePool"}
_REDUCE = {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin"}
_MAC = {"Conv", "Gemm", "MatMul", "Einsum"}
# Data movement modelled as element-wise work (one element op per output element).
_MOVE = {"Gather", "GatherElements", "Where", "Expand", "Dropout", "Trilu", "ScatterND"}
# Ops accepted only on constant inputs (folded or dropped); on data they are an error.
_CONST_ONLY = {
    *("Shape", "Size", "ConstantOfShape", "Range", "Mod"),
    *("RandomUniform", "RandomUniformLike", "RandomNormal", "RandomNormalLike", "Bernoulli"),
}
_RANDOM = frozenset(
    {"RandomUniform", "RandomUniformLike", "RandomNormal", "RandomNormalLike", "Bernoulli"}
)
_SKIP = {"Constant"}

#: ONNX op types the importer understands.
SUPPORTED_OPS: frozenset[str] = frozenset(
    _ELEMENTWISE | _COMPARE | _SHAPE | _NORM | _POOL | _REDUCE | _MAC | _MOVE | _CONST_ONLY
    | _SKIP
)  # fmt: skip

# Inputs that carry data (the others are parameters/shape operands and are dropped).
_DATA_INPUTS: dict[str, tuple[int, ...]] = {
    "Conv": (0, 1),
    "Gemm": (0, 1),
    "MatMul": (0, 1),
    "Reshape": (0,),
    "Squeeze": (0,),
    "Unsqueeze": (0,),
    "BatchNormalization": (0,),
    "LayerNormalization": (0,),
    "Slice": (0,),
    "Pad": (0,),
    "Split": (0,),
    "Expand": (0,),
    "Dropout": (0,),
    "Trilu": (0,),
    "Gather": (0, 1),
    "GatherElements": (0, 1),
    "CastLike": (0,),  # input 1 only gives the element type
    "ScatterND": (0, 2),  # data and updates; the indices are constant
    **{op: (0,) for op in _REDUCE},
}


class OnnxImportError(ValueError):
    """An ONNX model uses an unsupported op or has shapes that cannot be determined."""


def _dims(vi: onnx.ValueInfoProto) -> tuple[int | str | None, ...] | None:
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        return None
    out: list[int | str | None] = []
    for d in t.shape.dim:
        if d.HasField("dim_value"):
            out.append(int(d.dim_value))
        elif d.HasField("dim_param"):
            out.append(d.dim_param)
        else:
            out.append(None)
    return tuple(out)


#: Keyword options of :func:`load_onnx` (``workload.options`` of a run config with ``onnx:``).
ONNX_OPTIONS: tuple[str, ...] = ("batch", "seq", "precision")

#: What each dim-binding option sets, for error messages.
_OPTION_MEANING = {"batch": "the batch size", "seq": "the sequence length"}


def check_options(options: Mapping[str, object]) -> None:
    """Reject option names that :func:`load_onnx` does not take.

    Raises
    ------
    TypeError
        ``unknown option 'x'; allowed options: batch, seq, precision``, as Python raises
        for an unexpected keyword argument.
    """
    unknown = sorted(str(k) for k in options if k not in ONNX_OPTIONS)
    if unknown:
        names = ", ".join(repr(k) for k in unknown)
        raise TypeError(
            f"unknown option{'s' if len(unknown) > 1 else ''} {names}; "
            f"allowed options: {', '.join(ONNX_OPTIONS)}"
        )


def _positive(name: str, v: object) -> None:
    if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v <= 0):
        raise ValueError(f"{name} must be a positive int or None, got {v!r}")


def load_onnx(
    path: str | Path,
    batch: int | None = None,
    precision: int = 16,
    seq: int | None = None,
    **unknown: object,
) -> Graph:
    """Load an ONNX model as a forward :class:`Graph`.

    Parameters
    ----------
    path
        ``.onnx`` file (external weight data is not loaded).
    batch
        If given, replaces dim 0 of every network input (the batch of NCHW / ``[N, ...]``
        inputs; for 2-D GEMM workloads such as ``swiglu_*.onnx`` dim 0 is the row count) and
        shapes are re-inferred.  Needed when dim 0 is symbolic.  Reshape nodes with
        hard-coded batch sizes then fail shape inference.
    precision
        Bits per activation and weight element (a positive int).
    seq
        If given, replaces dim 1 (the sequence length) of every rank >= 2 integer network
        input (token ids, attention masks) and of every network input whose dim 1 is
        symbolic.  Needed when the sequence dim is symbolic.
    **unknown
        Any other keyword is an error (see :data:`ONNX_OPTIONS`).

    Returns
    -------
    Graph
        Forward graph named after the file stem, ops in ONNX node order; its last op writes
        the model output (see the module docstring).

    Raises
    ------
    TypeError
        On an unknown option (the message lists :data:`ONNX_OPTIONS`).
    ValueError
        On an invalid ``batch`` / ``seq`` / ``precision``.
    OnnxImportError
        If the file cannot be read, a node type is unsupported (message names the file, op
        type, node name and :data:`SUPPORTED_OPS`) or a shape is unknown/dynamic (message
        names the option to set, e.g. ``workload.options.seq``).
    FileNotFoundError
        If ``path`` does not exist.
    """
    check_options(unknown)
    _positive("batch", batch)
    _positive("seq", seq)
    if not isinstance(precision, int) or isinstance(precision, bool) or precision <= 0:
        raise ValueError(f"precision must be a positive int (bits), got {precision!r}")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"ONNX file not found: {path}")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - re-raised with context
        raise OnnxImportError(f"{path.name}: cannot read ONNX model: {exc}") from exc
    _load_small_external(model, path)
    symbolic = _symbolic_dims(model.graph)
    model, folded = _fold_constants(model, batch, seq, path)
    g = model.graph
    _prune(g)

    # Unsupported ops first: the clearest error for the user.
    for i, node in enumerate(g.node):
        if node.op_type not in SUPPORTED_OPS:
            raise OnnxImportError(
                f"{path.name}: unsupported ONNX op type {node.op_type!r} "
                f"(node {node.name or f'#{i}'!r}, domain {node.domain or 'ai.onnx'!r}); "
                f"supported: {sorted(SUPPORTED_OPS)}"
            )

    init_shapes = {t.name: tuple(int(d) for d in t.dims) for t in g.initializer}
    init_float = {t.name for t in g.initializer if t.data_type in _FLOAT_TYPES}
    consts = {o for n in g.node if n.op_type in _SKIP for o in n.output}
    graph_inputs = [vi for vi in g.input if vi.name not in init_shapes]

    inferred = _infer(model, batch, seq, path)
    shapes: dict[str, tuple[int | str | None, ...] | None] = {}
    for vi in (*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output):
        s = _dims(vi)
        if s is not None:
            shapes[vi.name] = s
    shapes.update(init_shapes)
    bound = {"batch": batch, "seq": seq}

    def known(name: str, node: str) -> tuple[int, ...]:
        s = shapes.get(name)
        if s is None or any(not isinstance(d, int) or d <= 0 for d in s):
            raise OnnxImportError(
                f"{path.name}: tensor {name!r} (node {node!r}) has an unknown or dynamic "
                f"shape {s}{_dim_hint(s, symbolic, bound)}"
            )
        return s  # type: ignore[return-value]

    gb = GraphBuilder(path.stem, precision)
    for vi in graph_inputs:
        if _is_weight_input(g, vi.name):
            gb.weight(vi.name, known(vi.name, "graph input"))
        else:
            is_int = vi.type.tensor_type.elem_type in _INT_TYPES
            gb.input(vi.name, known(vi.name, "graph input"), INDEX_PRECISION if is_int else None)

    dropped: set[str] = set(consts) | set(folded)  # constant tensors that are not modelled
    mac_operands = _mac_operands(g)
    for name, s in init_shapes.items():
        if len(s) <= 1 or (name not in init_float and name not in mac_operands):
            dropped.add(name)

    used_names: set[str] = set()
    for idx, node in enumerate(g.node):
        op = node.op_type
        if op in _SKIP:
            continue
        name = node.name or f"{op}_{idx}"
        while name in used_names:
            name = f"{name}_{idx}"
        used_names.add(name)
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        sel = _DATA_INPUTS.get(op)
        raw = [t for i, t in enumerate(node.input) if t and (sel is None or i in sel)]
        data = [t for t in raw if t not in dropped]
        if op == "ScatterND":  # constant updates (a mask pattern) are not weights
            data = [t for k, t in enumerate(data) if k == 0 or t not in init_shapes]
        if op == "CastLike":
            op = "Cast"
        for t in data:
            if t not in gb.tensors:
                if t in init_shapes:
                    gb.weight(t, init_shapes[t])
                else:
                    raise OnnxImportError(
                        f"{path.name}: node {name!r} reads tensor {t!r} that no node produces"
                    )
        out = node.output[0]
        if not data or op in _RANDOM:  # all inputs constant, or a random mask: fold away
            dropped.update(node.output)
            continue
        if op in _CONST_ONLY:
            t = data[0]
            raise OnnxImportError(
                f"{path.name}: {op!r} node {name!r} computes on tensor {t!r} of shape "
                f"{gb.shape(t)} whose value is only known at run time; only constant inputs "
                f"(shape subgraphs of static shapes) are supported for {op}"
                f"{_dim_hint(_first_dynamic(g, node, shapes), symbolic, bound)}"
            )
        if op in _MAC and len(data) != 2:
            raise OnnxImportError(f"{path.name}: {op} node {name!r} needs two tensor operands")

        try:
            if op == "Conv":
                w_shape = gb.shape(data[1])
                kernel = tuple(attrs.get("kernel_shape", w_shape[2:]))
                if len(kernel) != 2:
                    raise OnnxImportError(
                        f"{path.name}: Conv {name!r} is not 2-D (kernel {kernel})"
                    )
                gb.conv(
                    name,
                    data[0],
                    data[1],
                    stride=tuple(attrs.get("strides", (1, 1))),
                    padding=tuple(attrs.get("pads", (0, 0, 0, 0))),
                    groups=int(attrs.get("group", 1)),
                    dilation=tuple(attrs.get("dilations", (1, 1))),
                    out=out,
                    out_shape=known(out, name),
                )
            elif op == "Gemm":
                a, b = data
                if attrs.get("transA", 0):
                    raise OnnxImportError(
                        f"{path.name}: Gemm {name!r} with transA=1 is not supported"
                    )
                _expect(
                    gb.gemm(name, a, b, trans_b=bool(attrs.get("transB", 0)), out=out),
                    known(out, name),
                    gb,
                    path,
                    name,
                )
            elif op == "MatMul":
                a, b = data
                if gb.tensors[b].role == TensorRole.WEIGHT and len(gb.shape(b)) == 2:
                    y = gb.gemm(name, a, b, out=out, op_type="MatMul")
                else:
                    y = gb.matmul(name, a, b, out=out)
                _expect(y, known(out, name), gb, path, name)
            elif op == "Einsum":
                eq = _plain(attrs["equation"])
                try:
                    y = gb.einsum(name, data[0], data[1], str(eq), out=out)
                except ValueError as exc:
                    raise OnnxImportError(
                        f"{path.name}: Einsum {name!r} with equation {eq!r} is not supported: "
                        f"{exc}; supported: two-operand (batched) matrix products such as "
                        "'bhqd,bhkd->bhqk', 'bij,bjk->bik' or '...ij,jk->...ik'"
                    ) from exc
                _expect(y, known(out, name), gb, path, name)
            elif op in _ELEMENTWISE or op in _COMPARE:
                shp = shapes.get(out)
                if shp is None or not all(isinstance(d, int) and d > 0 for d in shp):
                    shp = tuple(np.broadcast_shapes(*(gb.shape(t) for t in data)))
                gb.elementwise(name, op, data, out=out, out_shape=shp)
            elif op in _MOVE:
                _data_movement(gb, g, node, name, data, attrs, known, init_shapes, path)
            elif op in _NORM:
                if len(data) != 1:
                    raise OnnxImportError(f"{path.name}: {op} {name!r} needs one data input")
                nattrs: dict[str, object] = {"axis": attrs.get("axis", -1)}
                if op == "BatchNormalization":
                    nattrs["training_mode"] = int(attrs.get("training_mode", 0))
                gb.norm(name, op, data[0], out=out, attrs=nattrs)
            elif op in ("MaxPool", "AveragePool"):
                # ceil_mode / auto_pad are accounted for by the inferred output shape.
                kernel = tuple(attrs["kernel_shape"])
                gb.pool(
                    name,
                    op,
                    data[0],
                    kernel=kernel,
                    stride=tuple(attrs.get("strides", (1,) * len(kernel))),
                    padding=tuple(attrs.get("pads", (0,) * 2 * len(kernel))),
                    out=out,
                    out_shape=known(out, name),
                )
            elif op == "GlobalAveragePool":
                gb.global_avg_pool(name, data[0], out=out)
            elif op in _REDUCE:
                _reduce(gb, g, node, name, data[0], out, attrs, path, shapes)
            elif op == "Split":
                axis = int(attrs.get("axis", 0))  # type: ignore[call-overload]
                for k, o in enumerate(node.output):
                    if o:
                        gb.shape_op(
                            f"{name}.{k}",
                            "Slice",
                            data,
                            known(o, name),
                            out=o,
                            attrs={"split": name, "index": k, "axis": axis},
                            check=False,
                        )
            else:  # shape ops
                out_shape = shapes.get(out)
                if op == "Identity":
                    out_shape = gb.shape(data[0])
                gb.shape_op(
                    name,
                    op,
                    data,
                    known(out, name) if out_shape is None else _static(out_shape, out, name, path),
                    out=out,
                    attrs={k: _plain(v) for k, v in attrs.items()},
                    check=len(data) == len(raw) and op not in ("Slice", "Pad"),
                )
        except OnnxImportError:
            raise
        except (ValueError, KeyError) as exc:
            raise OnnxImportError(f"{path.name}: cannot convert {op} node {name!r}: {exc}") from exc
    if not gb.ops:
        raise OnnxImportError(f"{path.name}: no computation nodes")
    return gb.build()


def _data_movement(
    gb: GraphBuilder,
    g: onnx.GraphProto,
    node: onnx.NodeProto,
    name: str,
    data: list[str],
    attrs: dict[str, object],
    known: object,
    init_shapes: Mapping[str, tuple[int, ...]],
    path: Path,
) -> None:
    """Gather / GatherElements / Where / Expand / Dropout / Trilu on data (see the module
    docstring): element-wise ops of cost 1 per output element, except an embedding lookup
    and an inference-mode Dropout (a zero-cost ``Identity``)."""
    op, out = node.op_type, node.output[0]
    out_shape = known(out, name)  # type: ignore[operator]
    if op == "Gather" and node.input[0] in data:
        table, ids = node.input[0], node.input[1]
        axis = int(attrs.get("axis", 0))  # type: ignore[call-overload]
        if (
            table in data
            and gb.tensors[table].role == TensorRole.WEIGHT
            and len(gb.shape(table)) == 2
            and axis in (0, -2)
        ):
            if ids not in gb.tensors:  # constant indices (positions): an index input
                val = _constant(g, ids)
                shp = init_shapes.get(ids, None if val is None else tuple(val.shape))
                gb.input(ids, known(ids, name) if shp is None else shp, INDEX_PRECISION)  # type: ignore[operator]
            _expect(gb.embedding(name, ids, table, out=out), out_shape, gb, path, name)
            return
    if op in ("Gather", "GatherElements", "Where"):
        # ONNX positions of the modelled inputs (0 = data / condition, 1 = indices / X, ...)
        pos = tuple(i for i, t in enumerate(node.input) if t in data)
        a: dict[str, object] = {"operands": pos}
        if op != "Where":
            a["axis"] = int(attrs.get("axis", 0))  # type: ignore[call-overload]
        gb.elementwise(name, op, data, out=out, out_shape=out_shape, attrs=a)
    elif op == "Dropout":
        ratio = _constant(g, node.input[1]) if len(node.input) > 1 and node.input[1] else None
        mode = _constant(g, node.input[2]) if len(node.input) > 2 and node.input[2] else None
        p = 0.5 if ratio is None else float(np.ravel(ratio)[0])
        training = mode is not None and bool(np.ravel(mode)[0])
        if len(node.input) > 2 and node.input[2] and mode is None:
            training = True  # training_mode computed at run time: assume training
        if training and p > 0:
            gb.elementwise(name, op, data, out=out, out_shape=out_shape, attrs={"ratio": p})
        else:
            gb.shape_op(name, "Identity", data, out_shape, out=out, attrs={"dropout": p})
    elif op == "ScatterND":
        # the data with the indexed slices overwritten (by constant or computed updates):
        # one element op per output element
        pos = tuple(i for i, t in enumerate(node.input) if t in data)
        gb.elementwise(name, op, data, out=out, out_shape=out_shape, attrs={"operands": pos})
    else:  # Expand, Trilu
        gb.elementwise(name, op, data, out=out, out_shape=out_shape)


#: Ops that only compute shapes and indices: folded when their inputs are constant (or,
#: for ``Shape``, when the input's shape is static); never modelled as work.  Other
#: default-domain ops on constant inputs are folded too when the reference evaluator can.
_FOLD_ONLY = frozenset(
    {"Shape", "Gather", "Slice", "Cast", "ConstantOfShape", "Range", "Equal", "Where",
     "Expand", "Mod", "Trilu", "Size", "Concat", "Unsqueeze", "Squeeze", "Reshape",
     "Mul", "Add", "Sub", "Div", "Identity"}
)  # fmt: skip

_INT_TYPES = frozenset(
    {
        onnx.TensorProto.INT64,
        onnx.TensorProto.INT32,
        onnx.TensorProto.INT16,
        onnx.TensorProto.INT8,
        onnx.TensorProto.UINT8,
        onnx.TensorProto.BOOL,
    }
)
_FLOAT_TYPES = frozenset(
    {
        onnx.TensorProto.FLOAT,
        onnx.TensorProto.FLOAT16,
        onnx.TensorProto.BFLOAT16,
        onnx.TensorProto.DOUBLE,
    }
)


def _network_inputs(g: onnx.GraphProto) -> list[onnx.ValueInfoProto]:
    inits = {t.name for t in g.initializer}
    return [vi for vi in g.input if vi.name not in inits and not _is_weight_input(g, vi.name)]


def _binds_seq(vi: onnx.ValueInfoProto) -> bool:
    """Whether ``seq`` binds dim 1 of a network input: rank >= 2 and integer or symbolic."""
    dims = vi.type.tensor_type.shape.dim
    if len(dims) < 2:
        return False
    return vi.type.tensor_type.elem_type in _INT_TYPES or not dims[1].HasField("dim_value")


def _symbolic_dims(g: onnx.GraphProto) -> dict[str, str]:
    """Symbolic dim names of the network inputs -> the option that binds them."""
    out: dict[str, str] = {}
    for vi in _network_inputs(g):
        d = _dims(vi) or ()
        for i, opt in ((0, "batch"), (1, "seq")):
            if len(d) > i and isinstance(d[i], str) and (opt == "batch" or _binds_seq(vi)):
                out.setdefault(d[i], opt)  # type: ignore[arg-type]
    return out


def _dim_hint(
    s: Sequence[int | str | None] | None,
    symbolic: Mapping[str, str],
    bound: Mapping[str, int | None],
) -> str:
    """``": set workload.options.seq (the sequence length) ..."`` for the symbolic dims of
    ``s`` (both unbound options when the dim's origin is unknown)."""
    if s is None:
        return ""
    opts: list[str] = []
    for d in s:
        if isinstance(d, int) and d > 0:
            continue
        hits = [o for sym, o in symbolic.items() if isinstance(d, str) and sym in d]
        for o in hits or [o for o in ("batch", "seq") if bound.get(o) is None]:
            if bound.get(o) is None and o not in opts:
                opts.append(o)
    if not opts:
        return (
            "; the dim stays dynamic although batch/seq are bound: export the model with "
            "static shapes"
        )
    sets = " and ".join(f"workload.options.{o} ({_OPTION_MEANING[o]})" for o in opts)
    kw = ", ".join(f"{o}=..." for o in opts)
    return f": set {sets}, i.e. load_onnx(..., {kw})"


def _first_dynamic(
    g: onnx.GraphProto, node: onnx.NodeProto, shapes: Mapping[str, object]
) -> tuple[int | str | None, ...] | None:
    """The first input shape of ``node`` with a non-static dim (for error hints)."""
    for t in node.input:
        s = shapes.get(t)
        if isinstance(s, tuple) and any(not isinstance(d, int) or d <= 0 for d in s):
            return s
    return None


def _infer(
    model: onnx.ModelProto, batch: int | None, seq: int | None, path: Path
) -> onnx.ModelProto:
    """Bind dim 0 of every network input to ``batch`` and dim 1 of token-id / symbolic
    inputs to ``seq`` (in place; weight inputs and initializers keep theirs, stale inferred
    shapes are dropped) and run ONNX shape inference."""
    g = model.graph
    if batch is not None or seq is not None:
        for vi in _network_inputs(g):
            dims = vi.type.tensor_type.shape.dim
            if batch is not None and len(dims):
                dims[0].Clear()
                dims[0].dim_value = batch
            if seq is not None and _binds_seq(vi):
                dims[1].Clear()
                dims[1].dim_value = seq
        del g.value_info[:]
        for vo in g.output:
            vo.type.tensor_type.ClearField("shape")
    try:
        return shape_inference.infer_shapes(model, data_prop=True)
    except Exception as exc:  # noqa: BLE001
        raise OnnxImportError(f"{path.name}: ONNX shape inference failed: {exc}") from exc


def _fold_constants(
    model: onnx.ModelProto, batch: int | None, seq: int | None, path: Path
) -> tuple[onnx.ModelProto, frozenset[str]]:
    """Fold constant and shape subgraphs into initializers, before any op is judged.

    A node is folded when every input is constant (an integer or boolean initializer of up
    to 4096 elements, a rank <= 1 or scalar initializer, a ``Constant`` or a folded output;
    weights never are) and it is a default-domain, non-random op; a ``Shape`` node is folded
    when ONNX shape inference gives its input a static shape.  Values are computed by ONNX's
    own reference evaluator (``onnx.reference.ReferenceEvaluator``), never by us.  The
    model keeps the nodes that compute on data.

    Returns
    -------
    tuple
        A copy of the model (network inputs bound, see :func:`_infer`) and the names of the
        initializers it adds (folded constants, never weights).
    """
    from onnx.reference import ReferenceEvaluator

    model = onnx.ModelProto.FromString(model.SerializeToString())
    g = model.graph
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 17)
    mac_operands = _mac_operands(g)
    # constant sources: integer initializers (shapes, indices), scalars and rank <= 1
    # tensors, never weights
    small = {
        t.name: t
        for t in g.initializer
        if t.name not in mac_operands
        and (
            (len(t.dims) <= 1 and math.prod(t.dims) <= 65536)
            or (t.data_type in _INT_TYPES and math.prod(t.dims) <= 4096)
        )
    }
    values: dict[str, np.ndarray] = {}

    def value(name: str) -> np.ndarray | None:
        if name in values:
            return values[name]
        if name in small and (small[name].raw_data or not small[name].data_location):
            try:
                values[name] = numpy_helper.to_array(small[name])
            except Exception:  # noqa: BLE001 - stripped or unreadable data: not constant
                return None
            return values[name]
        return None

    _infer(model, batch, seq, path)  # binds the network inputs of the copy, in place
    # Folding a shape subgraph can make later shapes static: repeat until nothing folds.
    for _ in range(64):
        static = _static_shapes(model, values, path)
        keep: list[onnx.NodeProto] = []
        for node in g.node:
            ins = [t for t in node.input if t]
            if node.op_type == "Constant":
                val = constant_node_value(node)
                if val is not None:
                    values[node.output[0]] = val
                    continue
            elif node.op_type == "Shape" and ins and ins[0] in static:
                attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
                shp = static[ins[0]]
                start, end = attrs.get("start", 0), attrs.get("end", len(shp))
                values[node.output[0]] = np.array(shp[start:end], dtype=np.int64)
                continue
            elif (
                node.domain in ("", "ai.onnx")
                and node.op_type not in _RANDOM
                and ins
                and all(value(t) is not None for t in ins)
            ):
                try:
                    out = ReferenceEvaluator(node, opsets={"": opset}).run(
                        None, {t: values[t] for t in ins}
                    )
                except Exception as exc:  # noqa: BLE001
                    if node.op_type not in _FOLD_ONLY:
                        keep.append(node)  # left to the importer (dropped as a constant op)
                        continue
                    raise OnnxImportError(
                        f"{path.name}: cannot fold constant node "
                        f"{node.name or node.op_type!r}: {exc}"
                    ) from exc
                for name, v in zip(node.output, out, strict=False):
                    values[name] = np.asarray(v)
                continue
            keep.append(node)
        done = len(keep) == len(g.node)
        del g.node[:]
        g.node.extend(keep)
        if done:
            break
    used = {t for n in keep for t in n.input} | {o.name for o in g.output}
    have = {t.name for t in g.initializer}
    new_inits = [
        numpy_helper.from_array(v, name)
        for name, v in values.items()
        if name in used and name not in have
    ]
    g.initializer.extend(new_inits)
    return model, frozenset(t.name for t in new_inits)


def _static_shapes(
    model: onnx.ModelProto,
    values: Mapping[str, np.ndarray],
    path: Path,
) -> dict[str, tuple[int, ...]]:
    """Static shapes of ``model``'s tensors (network inputs already bound) by ONNX shape
    inference on a light copy (large initializers become typed graph inputs; folded values
    are initializers)."""
    light = onnx.ModelProto()
    light.CopyFrom(model)
    g = light.graph
    big = [t for t in g.initializer if math.prod(t.dims) > 4096]
    keep = [t for t in g.initializer if math.prod(t.dims) <= 4096]
    have = {t.name for t in keep}
    del g.initializer[:]
    g.initializer.extend(keep)
    names = {vi.name for vi in g.input}
    for t in big:
        if t.name not in names:
            g.input.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    used = {i for n in g.node for i in n.input}
    g.initializer.extend(
        numpy_helper.from_array(v, k)
        for k, v in values.items()
        if k in used and k not in have and v.size <= 65536
    )
    inferred = _infer(light, None, None, path)
    static: dict[str, tuple[int, ...]] = {}
    for vi in (*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output):
        d = _dims(vi)
        if d is not None and all(isinstance(x, int) and x > 0 for x in d):
            static[vi.name] = tuple(int(x) for x in d)  # type: ignore[arg-type]
    return static


# Secondary outputs that are never the model output (running statistics, masks).
_SIDE_OUTPUTS = {"BatchNormalization", "Dropout", "LayerNormalization"}


def _prune(g: onnx.GraphProto) -> None:
    """Keep only the nodes the model output depends on (in place; module docstring)."""
    if not g.output:
        return
    side = {o for n in g.node if n.op_type in _SIDE_OUTPUTS for o in n.output[1:] if o}
    producers = {o for n in g.node for o in n.output}
    cands = [o for o in g.output if o.name not in side and o.name in producers]
    if not cands:
        return
    target = next((o.name for o in cands if (_rank(o) or 2) >= 2), cands[0].name)
    live = {target}
    keep: list[onnx.NodeProto] = []
    for n in reversed(g.node):
        if any(o in live for o in n.output):
            keep.append(n)
            live.update(t for t in n.input if t)
    if len(keep) == len(g.node):
        return
    keep.reverse()
    del g.node[:]
    g.node.extend(keep)


def _rank(vi: onnx.ValueInfoProto) -> int | None:
    d = _dims(vi)
    return None if d is None else len(d)


def export_notes(path: str | Path) -> list[str]:
    """Hints about how an ONNX file was exported, for users who want a training graph.

    Detects an *eval-mode* export of a CNN: no normalization node at all while every
    ``Conv`` carries a bias (PyTorch's exporter folds BatchNorm into the
    preceding conv in eval mode, leaving a bias); a PyTorch CNN without any normalization
    node and without conv biases (the dynamo exporter drops BatchNorm that way);
    ``BatchNormalization`` nodes in inference mode (``training_mode = 0``); and ``Dropout``
    nodes that are all in inference mode.

    Parameters
    ----------
    path
        ``.onnx`` file (external weight data is not loaded).

    Returns
    -------
    list of str
        One sentence per finding; empty when nothing suggests an eval-mode export.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    OnnxImportError
        If the file cannot be read.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"ONNX file not found: {path}")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001
        raise OnnxImportError(f"{path.name}: cannot read ONNX model: {exc}") from exc
    g = model.graph
    how = (
        "for training, export with torch.onnx.export(..., "
        "training=torch.onnx.TrainingMode.TRAINING) (or call model.train() before "
        "torch.onnx.export(..., dynamo=True))"
    )
    notes: list[str] = []
    convs = [n for n in g.node if n.op_type == "Conv"]
    bns = [n for n in g.node if n.op_type == "BatchNormalization"]
    norms = {"BatchNormalization", "LayerNormalization", "InstanceNormalization"}
    norms |= {"GroupNormalization"}
    has_norm = any(n.op_type in norms for n in g.node)
    if convs and not has_norm and all(len(n.input) > 2 and n.input[2] for n in convs):
        notes.append(
            f"{path.name}: this looks like an eval-mode export: BatchNorm is folded into the "
            f"convolutions (all {len(convs)} Conv nodes carry a bias and there is no "
            f"BatchNormalization node); {how}"
        )
    if (
        model.producer_name == "pytorch"
        and convs
        and not has_norm
        and not any(len(n.input) > 2 and n.input[2] for n in convs)
    ):
        notes.append(
            f"{path.name}: there is no normalization node: if the PyTorch model has "
            "BatchNorm layers, this is an eval-mode export that folded them away (the "
            "dynamo exporter does so); export with torch.onnx.export(..., dynamo=False, "
            "training=torch.onnx.TrainingMode.TRAINING) to keep them"
        )
    eval_bn = [
        n
        for n in bns
        if not any(a.name == "training_mode" and helper.get_attribute_value(a) for a in n.attribute)
    ]
    if eval_bn:
        notes.append(
            f"{path.name}: this looks like an eval-mode export: {len(eval_bn)} "
            "BatchNormalization node(s) use the running statistics (training_mode=0); "
            f"{how}"
        )
    eval_drop = []
    for n in g.node:
        if n.op_type != "Dropout":
            continue
        mode = _constant(g, n.input[2]) if len(n.input) > 2 and n.input[2] else None
        if len(n.input) <= 2 or not n.input[2] or (mode is not None and not np.ravel(mode)[0]):
            eval_drop.append(n)
    if eval_drop and len(eval_drop) == sum(n.op_type == "Dropout" for n in g.node):
        notes.append(
            f"{path.name}: {len(eval_drop)} Dropout node(s) are in inference mode (identity: "
            f"no mask is applied); {how}"
        )
    return notes


def _load_small_external(model: onnx.ModelProto, path: Path) -> None:
    """Read the values of externally stored integer / boolean initializers of up to 4096
    elements (shapes, axes, indices: the importer needs their values; weights stay
    unread), in place, from the files beside ``path``.  A missing file leaves the tensor
    unread (its value is then unknown, as in a stripped model)."""
    from onnx.external_data_helper import load_external_data_for_tensor, uses_external_data

    for t in model.graph.initializer:
        if uses_external_data(t) and t.data_type in _INT_TYPES and math.prod(t.dims) <= 4096:
            try:
                load_external_data_for_tensor(t, str(path.parent))
            except (OSError, ValueError):
                continue
            t.data_location = onnx.TensorProto.DEFAULT
            del t.external_data[:]


def _constant(g: onnx.GraphProto, name: str) -> np.ndarray | None:
    """Value of a tensor given by an initializer or a ``Constant`` node (else ``None``)."""
    for t in g.initializer:
        if t.name == name:
            return numpy_helper.to_array(t)
    for n in g.node:
        if n.op_type == "Constant" and n.output and n.output[0] == name:
            return constant_node_value(n)
    return None


def constant_node_value(node: onnx.NodeProto) -> np.ndarray | None:
    """Value of a ``Constant`` node, whichever attribute holds it (``value``,
    ``value_int(s)``, ``value_float(s)``, ``value_string(s)``; ``sparse_value`` densified),
    evaluated by ONNX's reference evaluator; ``None`` when it cannot be read (external
    data)."""
    for a in node.attribute:
        if a.name == "value":
            try:
                return numpy_helper.to_array(a.t)
            except Exception:  # noqa: BLE001 - external or stripped data
                return None
    from onnx.reference import ReferenceEvaluator

    try:
        (out,) = ReferenceEvaluator(node).run(None, {})
    except Exception:  # noqa: BLE001
        return None
    return np.asarray(out)


def _reduce(
    gb: GraphBuilder,
    g: onnx.GraphProto,
    node: onnx.NodeProto,
    name: str,
    x: str,
    out: str,
    attrs: dict[str, object],
    path: Path,
    shapes: Mapping[str, tuple[int | str | None, ...] | None],
) -> None:
    """ReduceSum / ReduceMean / ReduceMax / ReduceMin (``NORM`` reductions, cost = input
    elements; e.g. LayerNorm / RMSNorm decomposed by the dynamo exporter reduce over the last
    axis).  ``ReduceMean`` over the spatial axes of an ``(N, C, H, W)`` tensor is global
    average pooling, as PyTorch's dynamo exporter (opset 18) writes ``AdaptiveAvgPool2d(1)``
    and ``x.mean((2, 3))``; with ``keepdims=0`` a zero-cost reshape to ``(N, C)`` follows.
    Axes come from the ``axes`` attribute (older opsets) or input 1 (ReduceSum from opset
    13, the others from 18); no axes means all axes, or an ``Identity`` with
    ``noop_with_empty_axes=1``."""
    op = node.op_type
    xs = gb.shape(x)
    rank = len(xs)
    if "axes" in attrs:
        axes = [int(a) for a in attrs["axes"]]  # type: ignore[attr-defined]
    elif len(node.input) > 1 and node.input[1]:
        val = _constant(g, node.input[1])
        if val is None:
            raise OnnxImportError(
                f"{path.name}: {op} {name!r} has axes computed at run time; "
                "only constant axes are supported"
            )
        axes = [int(a) for a in np.ravel(val)]
    else:
        axes = []
    keep = bool(int(attrs.get("keepdims", 1)))  # type: ignore[call-overload]
    if not axes:
        if int(attrs.get("noop_with_empty_axes", 0)):  # type: ignore[call-overload]
            gb.shape_op(name, "Identity", [x], xs, out=out)
            return
        axes = list(range(rank))
    axes = sorted({a % rank for a in axes})
    if op == "ReduceMean" and rank == 4 and axes == [2, 3]:
        if keep:
            gb.global_avg_pool(name, x, out=out)
            return
        pooled = gb.global_avg_pool(name, x, out=f"{out}.keepdims")
        n, c = gb.shape(pooled)[:2]
        gb.shape_op(f"{name}.squeeze", "Reshape", [pooled], (n, c), out=out)
        return
    out_shape = tuple(1 if i in axes else d for i, d in enumerate(xs) if keep or i not in axes)
    inferred = shapes.get(out)
    if inferred is not None and all(isinstance(d, int) for d in inferred):
        if tuple(inferred) != out_shape:
            raise OnnxImportError(
                f"{path.name}: {op} {name!r}: computed shape {out_shape} != ONNX shape {inferred}"
            )
    gb.reduce(name, op, x, out_shape, out=out, attrs={"axes": tuple(axes), "keepdims": keep})


def _static(s: Sequence[int | str | None], name: str, node: str, path: Path) -> tuple[int, ...]:
    """Check that a shape is static (positive ints)."""
    if any(not isinstance(d, int) or d <= 0 for d in s):
        raise OnnxImportError(f"{path.name}: tensor {name!r} (node {node!r}) has dynamic shape {s}")
    return tuple(int(d) for d in s)  # type: ignore[arg-type]


def _expect(y: str, inferred: tuple[int, ...], gb: GraphBuilder, path: Path, node: str) -> None:
    if math.prod(gb.shape(y)) != math.prod(inferred):
        raise OnnxImportError(
            f"{path.name}: node {node!r}: computed shape {gb.shape(y)} != ONNX shape {inferred}"
        )


def _plain(v: object) -> object:
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, list):
        return tuple(v)
    return v


def _mac_operands(g: onnx.GraphProto) -> set[str]:
    """Tensors read as the weight operand of Conv / Gemm / MatMul or as an Einsum operand."""
    return {
        t
        for n in g.node
        for i, t in enumerate(n.input)
        if (n.op_type in _MAC and i == 1) or (n.op_type == "Einsum" and i == 0)
    }


def _is_weight_input(g: onnx.GraphProto, name: str) -> bool:
    """A non-initializer graph input read only as operand I2 of Conv/Gemm/MatMul or as an
    Einsum operand."""
    uses = [(n.op_type, i) for n in g.node for i, t in enumerate(n.input) if t == name]
    return bool(uses) and all(
        (op in _MAC and i == 1) or (op == "Einsum" and i == 0) for op, i in uses
    )
