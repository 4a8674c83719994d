"""Import a forward graph from an ONNX model (inference graph, shapes only).

The model is loaded with ``onnx.load(path, load_external_data=False)`` (weights may be
stripped: only their shapes are used) and shapes are taken from
``onnx.shape_inference.infer_shapes``, initializers and graph inputs/outputs.  Nodes are
mapped to the op conventions of :mod:`monet_opt.models.builder`, the same as the built-in
zoo, so Stream's ``resnet18.onnx`` and :func:`monet_opt.models.zoo.resnet18` agree (49 ops,
1.8141e9 MACs).

Mapping rules
-------------
* **Weights**: initializers of rank >= 2, and non-initializer graph inputs that are only
  read as the second operand (``I2``) of Conv / Gemm / MatMul (e.g. ``wQ`` in Stream's
  ``attention_head.onnx``).  Other graph inputs are network inputs.  Unused initializers
  are ignored.
* **Dropped**: bias inputs (Conv ``B``, Gemm ``C``), rank-0/rank-1 initializers (biases,
  scales, scalar constants), ``Constant`` nodes and non-data inputs (Reshape's shape,
  Squeeze/Unsqueeze axes, BatchNorm statistics), as MONET drops bias and rank-1 tensors
  (Morlier et al., arXiv:2603.15002, 2026).  An op whose data inputs are all constants is
  folded away.
* Element precisions come from the ``precision`` argument, not the ONNX dtypes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

from monet_opt.models.builder import GraphBuilder
from monet_opt.models.ir import Graph, TensorRole

__all__ = ["load_onnx", "check_options", "ONNX_OPTIONS", "OnnxImportError", "SUPPORTED_OPS"]

_ELEMENTWISE = {
    *("Relu", "Add", "Sub", "Mul", "Div", "Sigmoid", "Tanh", "Gelu", "Erf", "Silu"),
    *("Clip", "HardSigmoid", "HardSwish", "Sqrt", "Pow", "Cast"),
}
_SHAPE = {"Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Concat", "Identity"}
_NORM = {"Softmax", "LayerNormalization", "BatchNormalization"}
_POOL = {"MaxPool", "AveragePool", "GlobalAveragePool", "ReduceMean"}
_MAC = {"Conv", "Gemm", "MatMul"}
_SKIP = {"Constant"}

#: ONNX op types the importer understands.
SUPPORTED_OPS: frozenset[str] = frozenset(_ELEMENTWISE | _SHAPE | _NORM | _POOL | _MAC | _SKIP)

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
ONNX_OPTIONS: tuple[str, ...] = ("batch", "precision")


def check_options(options: Mapping[str, object]) -> None:
    """Reject option names that :func:`load_onnx` does not take.

    Raises
    ------
    TypeError
        ``unknown option 'x'; allowed options: batch, precision`` (names sorted), as
        Python raises for an unexpected keyword argument.
    """
    unknown = sorted(str(k) for k in options if k not in ONNX_OPTIONS)
    if unknown:
        names = ", ".join(repr(k) for k in unknown)
        raise TypeError(
            f"unknown option{'s' if len(unknown) > 1 else ''} {names}; "
            f"allowed options: {', '.join(ONNX_OPTIONS)}"
        )


def load_onnx(
    path: str | Path,
    batch: int | None = None,
    precision: int = 16,
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
    **unknown
        Any other keyword is an error (see :data:`ONNX_OPTIONS`).

    Returns
    -------
    Graph
        Forward graph named after the file stem, ops in ONNX node order.

    Raises
    ------
    TypeError
        On an unknown option (the message lists :data:`ONNX_OPTIONS`).
    ValueError
        On an invalid ``batch`` / ``precision``.
    OnnxImportError
        If the file cannot be read, a node type is unsupported (message names the file, op
        type, node name and :data:`SUPPORTED_OPS`) or a shape is unknown/dynamic.
    FileNotFoundError
        If ``path`` does not exist.
    """
    check_options(unknown)
    if batch is not None and (not isinstance(batch, int) or isinstance(batch, bool) or batch <= 0):
        raise ValueError(f"batch must be a positive int or None, got {batch!r}")
    if not isinstance(precision, int) or isinstance(precision, bool) or precision <= 0:
        raise ValueError(f"precision must be a positive int (bits), got {precision!r}")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"ONNX file not found: {path}")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - re-raised with context
        raise OnnxImportError(f"{path}: cannot read ONNX model: {exc}") from exc
    g = model.graph
    if any(n.op_type in _FOLD_ONLY - SUPPORTED_OPS for n in g.node):
        model = _fold_constants(model, batch, path)
        g = model.graph

    # Unsupported ops first: the clearest error for the user.
    for i, node in enumerate(g.node):
        if node.op_type not in SUPPORTED_OPS:
            raise OnnxImportError(
                f"{path.name}: unsupported ONNX op type {node.op_type!r} "
                f"(node {node.name or f'#{i}'!r}, domain {node.domain or 'ai.onnx'!r}); "
                f"supported: {sorted(SUPPORTED_OPS)}"
            )

    init_shapes = {t.name: tuple(int(d) for d in t.dims) for t in g.initializer}
    consts = {o for n in g.node if n.op_type in _SKIP for o in n.output}
    graph_inputs = [vi for vi in g.input if vi.name not in init_shapes]

    inferred = _infer(model, batch, path)
    shapes: dict[str, tuple[int | str | None, ...] | None] = {}
    for vi in (*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output):
        s = _dims(vi)
        if s is not None:
            shapes[vi.name] = s
    shapes.update(init_shapes)

    def known(name: str, node: str) -> tuple[int, ...]:
        s = shapes.get(name)
        if s is None or any(not isinstance(d, int) or d <= 0 for d in s):
            hint = " (pass batch=... to fix a symbolic batch dim)" if s else ""
            raise OnnxImportError(
                f"{path.name}: tensor {name!r} (node {node!r}) has an unknown or dynamic "
                f"shape {s}{hint}"
            )
        return s  # type: ignore[return-value]

    gb = GraphBuilder(path.stem, precision)
    for vi in graph_inputs:
        if _is_weight_input(g, vi.name):
            gb.weight(vi.name, known(vi.name, "graph input"))
        else:
            gb.input(vi.name, known(vi.name, "graph input"))

    dropped: set[str] = set(consts)  # constant tensors that are not modelled
    for name, s in init_shapes.items():
        if len(s) <= 1:
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
        for t in data:
            if t not in gb.tensors:
                if t in init_shapes:
                    gb.weight(t, init_shapes[t])
                else:
                    raise OnnxImportError(
                        f"{path.name}: node {name!r} reads tensor {t!r} that no node produces"
                    )
        out = node.output[0]
        if not data:  # all inputs constant: fold away
            dropped.update(node.output)
            continue
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
            elif op in _ELEMENTWISE:
                shp = shapes.get(out)
                if shp is None or not all(isinstance(d, int) and d > 0 for d in shp):
                    shp = tuple(np.broadcast_shapes(*(gb.shape(t) for t in data)))
                gb.elementwise(name, op, data, out=out, out_shape=shp)
            elif op in _NORM:
                if len(data) != 1:
                    raise OnnxImportError(f"{path.name}: {op} {name!r} needs one data input")
                gb.norm(name, op, data[0], out=out, attrs={"axis": attrs.get("axis", -1)})
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
            elif op == "ReduceMean":
                _reduce_mean(gb, g, node, name, data[0], out, attrs, path)
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
                    check=len(data) == len(raw),
                )
        except OnnxImportError:
            raise
        except (ValueError, KeyError) as exc:
            raise OnnxImportError(f"{path.name}: cannot convert {op} node {name!r}: {exc}") from exc
    if not gb.ops:
        raise OnnxImportError(f"{path.name}: no computation nodes")
    return gb.build()


#: Ops that only compute shapes and indices: folded when their inputs are constant (or,
#: for ``Shape``, when the input's shape is static); never modelled as work.
_FOLD_ONLY = frozenset(
    {"Shape", "Gather", "Slice", "Cast", "ConstantOfShape", "Range", "Equal", "Where",
     "Expand", "Mod", "Trilu", "Size", "Concat", "Unsqueeze", "Squeeze", "Reshape",
     "Mul", "Add", "Sub", "Div", "Identity"}
)  # fmt: skip


def _infer(model: onnx.ModelProto, batch: int | None, path: Path) -> onnx.ModelProto:
    """Bind dim 0 of every network input to ``batch`` (in place; weight inputs and
    initializers keep theirs, stale inferred shapes are dropped) and run ONNX shape
    inference."""
    g = model.graph
    if batch is not None:
        inits = {t.name for t in g.initializer}
        for vi in g.input:
            if vi.name in inits or _is_weight_input(g, vi.name):
                continue
            dims = vi.type.tensor_type.shape.dim
            if len(dims):
                dims[0].Clear()
                dims[0].dim_value = batch
        del g.value_info[:]
        for vo in g.output:
            vo.type.tensor_type.ClearField("shape")
    try:
        return shape_inference.infer_shapes(model)
    except Exception as exc:  # noqa: BLE001
        raise OnnxImportError(f"{path.name}: ONNX shape inference failed: {exc}") from exc


_INT_TYPES = frozenset(
    {onnx.TensorProto.INT64, onnx.TensorProto.INT32, onnx.TensorProto.INT8, onnx.TensorProto.BOOL}
)


def _fold_constants(model: onnx.ModelProto, batch: int | None, path: Path) -> onnx.ModelProto:
    """Fold constant and shape subgraphs into initializers, before any op is judged.

    A node is folded when every input is constant (an integer or scalar initializer, a
    ``Constant`` or a folded output; weights never are) and its type is in
    :data:`_FOLD_ONLY`; a ``Shape`` node is folded when
    ONNX shape inference gives its input a static shape.  Values are computed by ONNX's
    own reference evaluator (``onnx.reference.ReferenceEvaluator``), never by us.  The
    model keeps the nodes that compute on data."""
    from onnx.reference import ReferenceEvaluator

    model = onnx.ModelProto.FromString(model.SerializeToString())
    g = model.graph
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 17)
    inferred = _infer(model, batch, path)
    static: dict[str, tuple[int, ...]] = {}
    for vi in (*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output):
        d = _dims(vi)
        if d is not None and all(isinstance(x, int) and x > 0 for x in d):
            static[vi.name] = tuple(int(x) for x in d)  # type: ignore[arg-type]
    # constant sources: integer initializers (shapes, indices) and scalars, never weights
    small = {
        t.name: t
        for t in g.initializer
        if math.prod(t.dims) <= 1 or (t.data_type in _INT_TYPES and math.prod(t.dims) <= 4096)
    }
    values: dict[str, np.ndarray] = {}

    def value(name: str) -> np.ndarray | None:
        if name in values:
            return values[name]
        if name in small and (small[name].raw_data or not small[name].data_location):
            values[name] = numpy_helper.to_array(small[name])
            return values[name]
        return None

    keep: list[onnx.NodeProto] = []
    for node in g.node:
        ins = [t for t in node.input if t]
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    values[node.output[0]] = numpy_helper.to_array(a.t)
            if node.output[0] in values:
                continue
        elif node.op_type == "Shape" and ins and ins[0] in static:
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            shp = static[ins[0]]
            start, end = attrs.get("start", 0), attrs.get("end", len(shp))
            values[node.output[0]] = np.array(shp[start:end], dtype=np.int64)
            continue
        elif node.op_type in _FOLD_ONLY and ins and all(value(t) is not None for t in ins):
            try:
                out = ReferenceEvaluator(node, opsets={"": opset}).run(
                    None, {t: values[t] for t in ins}
                )
            except Exception as exc:  # noqa: BLE001
                raise OnnxImportError(
                    f"{path.name}: cannot fold constant node {node.name or node.op_type!r}: {exc}"
                ) from exc
            for name, v in zip(node.output, out, strict=False):
                values[name] = np.asarray(v)
            continue
        keep.append(node)
    used = {t for n in keep for t in n.input} | {o.name for o in g.output}
    have = {t.name for t in g.initializer}
    new_inits = [
        numpy_helper.from_array(v, name)
        for name, v in values.items()
        if name in used and name not in have
    ]
    del g.node[:]
    g.node.extend(keep)
    g.initializer.extend(new_inits)
    return model


def _constant(g: onnx.GraphProto, name: str) -> np.ndarray | None:
    """Value of a tensor given by an initializer or a ``Constant`` node (else ``None``)."""
    for t in g.initializer:
        if t.name == name:
            return numpy_helper.to_array(t)
    for n in g.node:
        if n.op_type == "Constant" and n.output and n.output[0] == name:
            for a in n.attribute:
                if a.name == "value":
                    return numpy_helper.to_array(a.t)
    return None


def _reduce_mean(
    gb: GraphBuilder,
    g: onnx.GraphProto,
    node: onnx.NodeProto,
    name: str,
    x: str,
    out: str,
    attrs: dict[str, object],
    path: Path,
) -> None:
    """``ReduceMean`` over the spatial axes of an ``(N, C, H, W)`` tensor: global average
    pooling, as PyTorch's dynamo exporter (opset 18) writes ``AdaptiveAvgPool2d(1)`` and
    ``x.mean((2, 3))``.  Axes come from the ``axes`` attribute (opset < 18) or input 1
    (opset 18); ``keepdims=0`` adds a zero-cost reshape to ``(N, C)``."""
    rank = len(gb.shape(x))
    if "axes" in attrs:
        axes = list(attrs["axes"])  # type: ignore[call-overload]
    elif len(node.input) > 1 and node.input[1]:
        val = _constant(g, node.input[1])
        if val is None:
            raise OnnxImportError(
                f"{path.name}: ReduceMean {name!r} has axes computed at run time; "
                "only constant axes are supported"
            )
        axes = [int(a) for a in np.ravel(val)]
    else:
        axes = list(range(rank))
    axes = sorted(a % rank for a in axes)
    if rank != 4 or axes != [2, 3]:
        raise OnnxImportError(
            f"{path.name}: ReduceMean {name!r} over axes {axes} of a rank-{rank} tensor is "
            "not supported; supported: the spatial axes [2, 3] of an (N, C, H, W) tensor "
            "(global average pooling)"
        )
    if int(attrs.get("keepdims", 1)):  # type: ignore[call-overload]
        gb.global_avg_pool(name, x, out=out)
        return
    pooled = gb.global_avg_pool(name, x, out=f"{out}.keepdims")
    n, c = gb.shape(pooled)[:2]
    gb.shape_op(f"{name}.squeeze", "Reshape", [pooled], (n, c), out=out)


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


def _is_weight_input(g: onnx.GraphProto, name: str) -> bool:
    """A non-initializer graph input read only as operand I2 of Conv/Gemm/MatMul."""
    uses = [(n.op_type, i) for n in g.node for i, t in enumerate(n.input) if t == name]
    return bool(uses) and all(op in _MAC and i == 1 for op, i in uses)
