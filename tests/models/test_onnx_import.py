"""ONNX import: Stream's workloads and error handling."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from monet_opt.models import (
    OnnxImportError,
    OpKind,
    TensorRole,
    derive_training_graph,
    load_onnx,
    resnet18,
)
from monet_opt.models.onnx_import import export_notes

V008 = "v0.0.8_b2bc4ac4/stream/inputs"
V113 = "v1.13.14_28fb9011/stream/inputs"
RESNET = f"{V008}/examples/workload/resnet18.onnx"


def _sorted_dims(g, kind):
    return sorted(tuple(sorted(op.loop_dims.items())) for op in g.ops if op.kind == kind)


def test_stream_resnet18_matches_builtin(stream_dir: Path):
    g = load_onnx(stream_dir / RESNET)
    ref = resnet18()
    assert len(g) == len(ref) == 49
    assert g.total_macs() == ref.total_macs() == 1_814_073_344
    assert Counter(op.kind for op in g.ops) == Counter(op.kind for op in ref.ops)
    assert Counter(op.op_type for op in g.ops) == Counter(op.op_type for op in ref.ops)
    for kind in OpKind:
        assert _sorted_dims(g, kind) == _sorted_dims(ref, kind), kind
    assert sorted(op.macs for op in g.ops) == sorted(op.macs for op in ref.ops)
    # biases (rank-1) dropped: same parameters as the built-in model
    assert g.parameter_count == ref.parameter_count
    assert all(op.phase.value == "forward" for op in g.ops)
    # identical copy in v1.13.14
    assert load_onnx(stream_dir / RESNET.replace(V008, V113)).total_macs() == g.total_macs()


def test_stream_resnet18_batch_override(stream_dir: Path):
    g = load_onnx(stream_dir / RESNET, batch=4, precision=8)
    assert g.total_macs() == 4 * 1_814_073_344
    assert g.tensors["input.1"].shape == (4, 3, 224, 224)
    assert {t.precision for t in g.tensors.values()} == {8}
    assert g.total_macs() == resnet18(batch=4).total_macs()


EXPECTED = {
    f"{V008}/examples/workload/fsrcnn.onnx": None,
    f"{V008}/testing/workload/attention_head.onnx": "LpNormalization",
    "last_ga_6be8e0c6/stream/inputs/testing/workload/attention_head.onnx": "LpNormalization",
    f"{V113}/testing/workload/attention_head.onnx": None,
    f"{V113}/examples/workload/fsrcnn.onnx": None,
}


def _other_files(stream_dir: Path) -> list[Path]:
    files = [stream_dir / p for p in EXPECTED]
    files += sorted((stream_dir / V113 / "testing/workload").glob("swiglu_*.onnx"))
    files += sorted((stream_dir / V113 / "aie/workload").glob("swiglu_*.onnx"))
    return files


def test_other_stream_workloads_load_or_name_the_op(stream_dir: Path):
    files = _other_files(stream_dir)
    assert len(files) >= 9
    loaded = 0
    for f in files:
        rel = str(f.relative_to(stream_dir))
        expected_error = EXPECTED.get(rel)
        try:
            g = load_onnx(f)
        except OnnxImportError as exc:
            msg = str(exc)
            assert f.name in msg and "supported" in msg
            assert expected_error is not None and repr(expected_error) in msg, msg
            continue
        assert expected_error is None, f"{rel} should fail on {expected_error}"
        loaded += 1
        assert len(g) > 0 and g.total_macs() > 0
        train = derive_training_graph(g)  # every loadable workload is trainable
        assert train.total_macs() > g.total_macs()
    assert loaded >= len(files) - 2


def test_attention_head_weights_are_graph_inputs(stream_dir: Path):
    g = load_onnx(stream_dir / V113 / "testing/workload/attention_head.onnx")
    assert {w.name for w in g.weights} == {"wQ", "wK", "wV"}
    assert g.tensors["I"].role == TensorRole.INPUT
    kinds = Counter(op.kind for op in g.ops)
    assert kinds == {OpKind.GEMM: 5, OpKind.SHAPE: 1, OpKind.NORM: 1}
    qk = next(op for op in g.ops if op.inputs == ("Q", "Kt"))
    assert dict(qk.loop_dims) == {"B": 1, "D": 128, "C": 64, "K": 128}
    assert g.total_macs() == 3 * 128 * 512 * 64 + 2 * 128 * 128 * 64


def test_swiglu_custom_domain_silu(stream_dir: Path):
    g = load_onnx(stream_dir / V113 / "testing/workload/swiglu_1_16_32.onnx")
    assert [op.op_type for op in g.ops] == ["Gemm", "Gemm", "Silu", "Mul", "Gemm"]
    assert g.total_macs() == 16 * 32 * 2 + 32 * 16
    t = derive_training_graph(g)
    types = Counter(op.op_type for op in t.ops)
    assert types["SiluGrad"] == 1 and types["MulGrad"] == 2
    # the input feeds two Gemms but needs no gradient: no dX for either
    assert types["GemmGradInput"] == 1


def test_fsrcnn_shared_weight_accumulates(stream_dir: Path):
    g = load_onnx(stream_dir / V008 / "examples/workload/fsrcnn.onnx")
    assert len(g) == 8
    # weights_2 is used by two convs, weights_3 is unused (ignored)
    assert "weights_3" not in g.tensors
    t = derive_training_graph(g, optimizer="sgd")
    acc = [op for op in t.ops if op.op_type == "GradAccumulate"]
    assert [op.outputs[0] for op in acc] == ["d[weights_2]"]
    assert len(t.ops_in(t.ops[-1].phase)) == len(g.weights)


def _save(tmp_path: Path, nodes, inputs, outputs, inits=(), name="m.onnx", opset=17) -> Path:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    p = tmp_path / name
    onnx.save(model, p)
    return p


def _vi(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def test_unsupported_op_message(tmp_path: Path):
    nodes = [
        helper.make_node("Relu", ["x"], ["y"], name="r"),
        helper.make_node("LRN", ["y"], ["z"], name="my_lrn", size=3),
    ]
    p = _save(tmp_path, nodes, [_vi("x", [1, 4, 5, 5])], [_vi("z", [1, 4, 5, 5])], name="bad.onnx")
    with pytest.raises(OnnxImportError) as err:
        load_onnx(p)
    msg = str(err.value)
    assert "bad.onnx" in msg and "'LRN'" in msg and "my_lrn" in msg and "Conv" in msg
    assert isinstance(err.value, ValueError)


def test_dynamic_batch_needs_batch_argument(tmp_path: Path):
    w = helper.make_tensor("w", TensorProto.FLOAT, [8, 4], [0.0] * 32)
    b = helper.make_tensor("b", TensorProto.FLOAT, [4], [0.0] * 4)
    nodes = [
        helper.make_node("Gemm", ["x", "w", "b"], ["h"], name="fc"),
        helper.make_node("Sigmoid", ["h"], ["y"], name="sig"),
    ]
    p = _save(tmp_path, nodes, [_vi("x", ["N", 8])], [_vi("y", ["N", 4])], [w, b])
    with pytest.raises(OnnxImportError, match="batch="):
        load_onnx(p)
    g = load_onnx(p, batch=3)
    assert dict(g.ops[0].loop_dims) == {"B": 1, "D": 3, "C": 8, "K": 4}
    assert "b" not in g.tensors  # bias dropped
    assert g.parameter_count == 32
    with pytest.raises(ValueError, match="batch"):
        load_onnx(p, batch=0)
    with pytest.raises(FileNotFoundError):
        load_onnx(tmp_path / "missing.onnx")


def test_gelu_decomposition_and_shape_ops(tmp_path: Path):
    sq = helper.make_tensor("sqrt2", TensorProto.FLOAT, [], [1.4142])
    nodes = [
        helper.make_node(
            "Constant", [], ["one"], value=helper.make_tensor("c", TensorProto.FLOAT, [], [1.0])
        ),
        helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
        helper.make_node("Div", ["h", "sqrt2"], ["h1"]),
        helper.make_node("Erf", ["h1"], ["h2"]),
        helper.make_node("Add", ["h2", "one"], ["h3"]),
        helper.make_node("Mul", ["h", "h3"], ["h4"]),
        helper.make_node("Transpose", ["h4"], ["t"], perm=[0, 2, 1]),
        helper.make_node("Softmax", ["t"], ["y"], axis=-1),
    ]
    w = helper.make_tensor("w", TensorProto.FLOAT, [6, 5], [0.0] * 30)
    p = _save(tmp_path, nodes, [_vi("x", [2, 3, 6])], [_vi("y", [2, 5, 3])], [w, sq])
    g = load_onnx(p)
    assert [op.kind.value for op in g.ops] == [
        "gemm",
        "elementwise",
        "elementwise",
        "elementwise",
        "elementwise",
        "shape",
        "norm",
    ]
    assert dict(g.ops[0].loop_dims) == {"B": 2, "D": 3, "C": 6, "K": 5}
    assert g.ops[0].op_type == "MatMul" and g.tensors["w"].role == TensorRole.WEIGHT
    assert g.ops[1].inputs == ("h",)  # scalar constant dropped
    t = derive_training_graph(g)
    types = Counter(op.op_type for op in t.ops)
    assert types["ErfGrad"] == 1 and types["SoftmaxGrad"] == 1 and types["TransposeGrad"] == 1
    assert types["GradAccumulate"] == 1  # h feeds Div and Mul


def test_conv1d_and_bad_shapes_raise_import_error(tmp_path: Path):
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 2, 3], [0.0] * 24)
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="c1d", kernel_shape=[3])]
    p = _save(tmp_path, nodes, [_vi("x", [1, 2, 8])], [_vi("y", [1, 4, 6])], [w])
    with pytest.raises(OnnxImportError, match="c1d"):
        load_onnx(p)


def test_concat_and_bias_add(tmp_path: Path):
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 4], [0.0] * 16)
    b = helper.make_tensor("b", TensorProto.FLOAT, [4], [0.0] * 4)
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
        helper.make_node("Add", ["h", "b"], ["hb"], name="bias"),
        helper.make_node("Concat", ["hb", "x"], ["y"], name="cat", axis=1),
        helper.make_node("Relu", ["y"], ["z"], name="relu"),
    ]
    p = _save(tmp_path, nodes, [_vi("x", [2, 4])], [_vi("z", [2, 8])], [w, b])
    g = load_onnx(p)
    assert [op.kind.value for op in g.ops] == ["gemm", "elementwise", "shape", "elementwise"]
    assert g.ops[1].inputs == ("h",) and g.ops[2].inputs == ("hb", "x")
    t = derive_training_graph(g)
    types = Counter(op.op_type for op in t.ops)
    assert types["ConcatGrad"] == 1  # only the first Concat input needs a gradient
    assert "mm.dX" not in {op.name for op in t.ops}


def test_load_onnx_unknown_option_lists_allowed_options(tmp_path: Path):
    # Before: Python's "unexpected keyword argument 'batchsize'", without the allowed names.
    with pytest.raises((TypeError, ValueError)) as exc:
        load_onnx(tmp_path / "any.onnx", batchsize=4)  # checked before the file is read
    assert str(exc.value) == "unknown option 'batchsize'; allowed options: batch, seq, precision"
    with pytest.raises(TypeError, match=r"unknown options 'a', 'b'; allowed options: batch"):
        load_onnx(tmp_path / "any.onnx", b=1, a=2)


@pytest.mark.parametrize("precision", [0, True, 8.0, "16"])
def test_load_onnx_rejects_bad_precision(tmp_path: Path, precision: object):
    with pytest.raises(ValueError, match="precision must be a positive int"):
        load_onnx(tmp_path / "any.onnx", precision=precision)  # type: ignore[arg-type]


def _pool_head(tmp_path: Path, pool: str, opset: int, keepdims: int, name: str) -> Path:
    """Conv → Relu → global average pool (as ``pool``) → (Flatten) → Gemm."""
    wc = helper.make_tensor("wc", TensorProto.FLOAT, [8, 3, 3, 3], [0.1] * 216)
    wf = helper.make_tensor("wf", TensorProto.FLOAT, [8, 10], [0.1] * 80)
    inits = [wc, wf]
    nodes = [
        helper.make_node("Conv", ["x", "wc"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
    ]
    if pool == "GlobalAveragePool":
        nodes.append(helper.make_node("GlobalAveragePool", ["r"], ["p"], name="gap"))
    elif opset >= 18:
        inits.append(helper.make_tensor("axes", TensorProto.INT64, [2], [-2, -1]))
        nodes.append(
            helper.make_node("ReduceMean", ["r", "axes"], ["p"], name="gap", keepdims=keepdims)
        )
    else:
        nodes.append(
            helper.make_node("ReduceMean", ["r"], ["p"], name="gap", axes=[2, 3], keepdims=keepdims)
        )
    if keepdims:
        nodes.append(helper.make_node("Flatten", ["p"], ["f"], name="flat"))
        head = "f"
    else:
        head = "p"
    nodes.append(helper.make_node("Gemm", [head, "wf"], ["y"], name="fc"))
    graph = helper.make_graph(nodes, "g", [_vi("x", [2, 3, 6, 6])], [_vi("y", [2, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    p = tmp_path / name
    onnx.save(model, p)
    return p


@pytest.mark.parametrize(("opset", "keepdims"), [(13, 1), (13, 0), (18, 1), (18, 0)])
def test_reduce_mean_over_spatial_axes_is_global_average_pooling(tmp_path: Path, opset, keepdims):
    """PyTorch's dynamo exporter writes global average pooling as ``ReduceMean`` (axes as
    an input from opset 18, as an attribute before).  It imports as the same pool op, with
    the same element count and backward, as ``GlobalAveragePool``."""
    ref = load_onnx(_pool_head(tmp_path, "GlobalAveragePool", 17, 1, "ref.onnx"))
    g = load_onnx(_pool_head(tmp_path, "ReduceMean", opset, keepdims, f"rm{opset}{keepdims}.onnx"))
    pool = [op for op in g.ops if op.kind == OpKind.POOL]
    ref_pool = [op for op in ref.ops if op.kind == OpKind.POOL]
    assert [op.op_type for op in pool] == ["GlobalAveragePool"]
    assert (
        dict(pool[0].loop_dims) == dict(ref_pool[0].loop_dims) and pool[0].macs == ref_pool[0].macs
    )
    assert sum(op.macs for op in g.ops) == sum(op.macs for op in ref.ops)
    t = derive_training_graph(g, optimizer="sgd")
    tr = derive_training_graph(ref, optimizer="sgd")
    assert sum(op.macs for op in t.ops) == sum(op.macs for op in tr.ops)


def test_reduce_mean_over_other_axes_is_a_reduction(tmp_path: Path):
    """Before: an error.  Now a NORM reduction over the input's elements; axes computed at
    run time stay a clear error."""
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 4, 1, 1], [0.1] * 16)
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
        helper.make_node("ReduceMean", ["c"], ["y"], name="rm_c", axes=[1], keepdims=1),
    ]
    p = _save(tmp_path, nodes, [_vi("x", [2, 4, 5, 5])], [_vi("y", [2, 1, 5, 5])], [w])
    op = load_onnx(p).ops[-1]
    assert (op.op_type, op.kind, op.macs) == ("ReduceMean", OpKind.NORM, 2 * 4 * 5 * 5)
    assert dict(op.loop_dims) == {"B": 2, "E": 100} and op.attrs["axes"] == (1,)
    nodes = [helper.make_node("ReduceSum", ["x", "ax"], ["y"], name="rs_dyn")]
    ax = helper.make_tensor_value_info("ax", TensorProto.INT64, [1])
    p = _save(tmp_path, nodes, [_vi("x", [2, 4]), ax], [_vi("y", [1, 4])], name="dyn.onnx")
    with pytest.raises(OnnxImportError, match=r"rs_dyn.*axes computed at run time"):
        load_onnx(p)


def test_mobile_activations_import_with_costs_and_backward(tmp_path: Path):
    """HardSwish, HardSigmoid, Clip (ReLU6), Pow with a constant exponent and Sqrt (the
    ops that stopped MobileNet-V3 and friends): element-wise ops with their per-element
    cost, each with a backward rule that reads the tensor its derivative needs."""
    shape = [2, 4, 3, 3]
    scal = [
        helper.make_tensor("lo", TensorProto.FLOAT, [], [0.0]),
        helper.make_tensor("hi", TensorProto.FLOAT, [], [6.0]),
        helper.make_tensor("two", TensorProto.FLOAT, [], [2.0]),
    ]
    wc = helper.make_tensor("wc", TensorProto.FLOAT, [4, 4, 1, 1], [0.1] * 16)
    nodes = [
        helper.make_node("Conv", ["x", "wc"], ["c"], name="conv"),
        helper.make_node("HardSwish", ["c"], ["a"], name="hswish"),
        helper.make_node("Clip", ["a", "lo", "hi"], ["b"], name="relu6"),
        helper.make_node("Pow", ["b", "two"], ["p"], name="square"),
        helper.make_node("Sqrt", ["p"], ["s"], name="root"),
        helper.make_node("HardSigmoid", ["s"], ["h"], name="hsig"),
        helper.make_node("Cast", ["h"], ["y"], name="cast", to=TensorProto.FLOAT),
    ]
    p = _save(tmp_path, nodes, [_vi("x", shape)], [_vi("y", shape)], [wc, *scal])
    g = load_onnx(p)
    n = 2 * 4 * 3 * 3
    cost = {"HardSwish": 3, "Clip": 1, "Pow": 2, "Sqrt": 2, "HardSigmoid": 2, "Cast": 1}
    ew = {op.op_type: op for op in g.ops if op.kind == OpKind.ELEMENTWISE}
    assert {t: op.macs for t, op in ew.items()} == {t: n * c for t, c in cost.items()}
    assert all(len(op.inputs) == 1 for op in ew.values())  # constants are folded away
    t = derive_training_graph(g, optimizer="sgd")
    grads = {op.op_type: op for op in t.ops if op.op_type.endswith("Grad")}
    reads = {"HardSwish": "X", "Clip": "X", "Pow": "X", "Sqrt": "Y", "HardSigmoid": "X"}
    for fwd_type, which in reads.items():
        fwd = ew[fwd_type]
        bw = grads[f"{fwd_type}Grad"]
        assert bw.inputs[1] == (fwd.outputs[0] if which == "Y" else fwd.inputs[0])
        assert bw.macs == fwd.macs
    assert len(grads["CastGrad"].inputs) == 1  # only dY


def _shape_subgraph_model(tmp_path: Path, batch_dim) -> Path:  # noqa: ANN001
    """Gemm → a reshape whose target is computed by a shape subgraph (Shape → Gather →
    Unsqueeze → Concat, as exporters write ``x.view(x.size(0), 4, 4)``) → Relu → Gemm."""
    w1 = helper.make_tensor("w1", TensorProto.FLOAT, [8, 16], [0.1] * 128)
    w2 = helper.make_tensor("w2", TensorProto.FLOAT, [16, 3], [0.1] * 48)
    inits = [
        w1,
        w2,
        helper.make_tensor("zero", TensorProto.INT64, [], [0]),
        helper.make_tensor("ax0", TensorProto.INT64, [1], [0]),
        helper.make_tensor("tail", TensorProto.INT64, [2], [4, 4]),
        helper.make_tensor("flat", TensorProto.INT64, [2], [0, 16]),
    ]
    nodes = [
        helper.make_node("Gemm", ["x", "w1"], ["h"], name="fc1"),
        helper.make_node("Shape", ["h"], ["sh"], name="shape"),
        helper.make_node("Gather", ["sh", "zero"], ["n"], name="size0", axis=0),
        helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"], name="unsq"),
        helper.make_node("Concat", ["n1", "tail"], ["target"], name="cat", axis=0),
        helper.make_node("Reshape", ["h", "target"], ["h3"], name="view"),
        helper.make_node("Relu", ["h3"], ["r"], name="relu"),
        helper.make_node("Reshape", ["r", "flat"], ["r2"], name="flatten"),
        helper.make_node("Gemm", ["r2", "w2"], ["y"], name="fc2"),
    ]
    graph = helper.make_graph(
        nodes, "g", [_vi("x", [batch_dim, 8])], [_vi("y", [batch_dim, 3])], inits
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    p = tmp_path / f"shape_{batch_dim}.onnx"
    onnx.save(model, p)
    return p


def test_shape_subgraphs_are_folded_before_ops_are_judged(tmp_path: Path):
    """The shape helper ops are evaluated by ONNX's reference evaluator and vanish; the
    data path keeps its MACs and trains.  A symbolic batch is bound by ``batch`` first."""
    for dim, kw in ((2, {}), ("N", {"batch": 2})):
        g = load_onnx(_shape_subgraph_model(tmp_path, dim), **kw)
        types = [op.op_type for op in g.ops]
        assert not {"Shape", "Gather", "Unsqueeze", "Concat"} & set(types)
        assert g.tensors[g.ops[-1].outputs[0]].shape == (2, 3)
        assert sum(op.macs for op in g.ops if op.kind == OpKind.GEMM) == 2 * 8 * 16 + 2 * 16 * 3
        assert any(op.op_type == "Relu" for op in g.ops)
        derive_training_graph(g, optimizer="sgd")


def test_shape_of_an_unbound_dimension_stays_a_clear_error(tmp_path: Path):
    """Without ``batch`` the Shape input is dynamic: nothing folds and the error names
    the option to set, in YAML spelling."""
    with pytest.raises(OnnxImportError, match=r"set workload\.options\.batch \(the batch size\)"):
        load_onnx(_shape_subgraph_model(tmp_path, "N"))


# -- transformer and CNN ops of PyTorch's two exporters (graphs built with onnx.helper) -----


def _t(name, shape, vals=None, dtype=TensorProto.FLOAT):  # noqa: ANN001
    n = 1
    for d in shape:
        n *= d
    return helper.make_tensor(name, dtype, shape, vals if vals is not None else [0.1] * n)


def _ids(name, shape):  # noqa: ANN001
    return helper.make_tensor_value_info(name, TensorProto.INT64, shape)


def _by_type(g):  # noqa: ANN001
    out: dict[str, list] = {}
    for op in g.ops:
        out.setdefault(op.op_type, []).append(op)
    return out


def _gpt_like(tmp_path: Path) -> Path:
    """A one-block GPT-like decoder as the classic exporter writes it: token and position
    embeddings (position ids from Shape/Gather/Range/Mod/Unsqueeze), LayerNorm, a fused
    QKV projection and Split, a causal mask from ConstantOfShape/Trilu/Equal and Where,
    Softmax, training-mode Dropout, last-token Gather and the LM head.  Batch and sequence
    are symbolic."""
    inits = [
        _t("wte", [11, 8]),
        _t("wpe", [16, 8]),
        _t("wqkv", [8, 24]),
        _t("lm", [8, 11]),
        _t("ln_g", [8]),
        _t("ln_b", [8]),
        _t("zero", [], [0], TensorProto.INT64),
        _t("one", [], [1], TensorProto.INT64),
        _t("last", [], [-1], TensorProto.INT64),
        _t("big", [], [16], TensorProto.INT64),
        _t("ax0", [1], [0], TensorProto.INT64),
        _t("sizes", [3], [8, 8, 8], TensorProto.INT64),
        _t("ninf", [], [-1e4]),
        _t("ratio", [], [0.1]),
        _t("train", [], [True], TensorProto.BOOL),
    ]
    one_i = helper.make_tensor("v", TensorProto.INT64, [1], [1])
    nodes = [
        helper.make_node("Shape", ["ids"], ["sh"], name="shape"),
        helper.make_node("Gather", ["sh", "one"], ["s"], name="seq_len", axis=0),
        helper.make_node("Range", ["zero", "s", "one"], ["r"], name="range"),
        helper.make_node("Mod", ["r", "big"], ["rm"], name="mod"),
        helper.make_node("Unsqueeze", ["rm", "ax0"], ["pos"], name="pos_unsq"),
        helper.make_node("Gather", ["wte", "ids"], ["te"], name="wte_lookup"),
        helper.make_node("Gather", ["wpe", "pos"], ["pe"], name="wpe_lookup"),
        helper.make_node("Add", ["te", "pe"], ["h"], name="emb_add"),
        helper.make_node("LayerNormalization", ["h", "ln_g", "ln_b"], ["hn"], name="ln"),
        helper.make_node("MatMul", ["hn", "wqkv"], ["qkv"], name="c_attn"),
        helper.make_node("Split", ["qkv", "sizes"], ["q", "k", "v"], name="split", axis=2),
        helper.make_node("Transpose", ["k"], ["kt"], name="kt", perm=[0, 2, 1]),
        helper.make_node("MatMul", ["q", "kt"], ["sc"], name="qk"),
        helper.make_node("Unsqueeze", ["s", "ax0"], ["s1"], name="s_unsq"),
        helper.make_node("Concat", ["s1", "s1"], ["mshape"], name="mshape", axis=0),
        helper.make_node("ConstantOfShape", ["mshape"], ["ones"], name="ones", value=one_i),
        helper.make_node("Trilu", ["ones"], ["tri"], name="tril", upper=0),
        helper.make_node("Equal", ["tri", "one"], ["cond"], name="is_causal"),
        helper.make_node("Where", ["cond", "sc", "ninf"], ["scm"], name="mask"),
        helper.make_node("Softmax", ["scm"], ["p"], name="softmax", axis=-1),
        helper.make_node("Dropout", ["p", "ratio", "train"], ["pd", "pmask"], name="attn_drop"),
        helper.make_node("MatMul", ["pd", "v"], ["att"], name="av"),
        helper.make_node("Add", ["att", "h"], ["res"], name="residual"),
        helper.make_node("Gather", ["res", "last"], ["tok"], name="last_token", axis=1),
        helper.make_node("MatMul", ["tok", "lm"], ["logits"], name="lm_head"),
    ]
    return _save(
        tmp_path,
        nodes,
        [_ids("ids", ["N", "S"])],
        [_vi("logits", ["N", 11])],
        inits,
        name="gpt_like.onnx",
    )


def test_symbolic_batch_and_sequence_name_the_option_to_set(tmp_path: Path):
    p = _gpt_like(tmp_path)
    with pytest.raises(OnnxImportError) as err:
        load_onnx(p)
    msg = str(err.value)
    assert "set workload.options.batch (the batch size)" in msg
    assert "workload.options.seq (the sequence length)" in msg
    with pytest.raises(OnnxImportError, match=r"set workload\.options\.seq \(the sequence length"):
        load_onnx(p, batch=2)
    with pytest.raises(ValueError, match="seq must be a positive int"):
        load_onnx(p, batch=2, seq=0)


def test_gpt_like_decoder_ops_map_and_train(tmp_path: Path):
    """Embedding lookups (token ids and folded position ids), Split as one zero-cost Slice
    per output, the folded causal mask, Where on data, training-mode Dropout and the
    last-token Gather; each with its backward rule."""
    n, s, d = 2, 5, 8
    g = load_onnx(_gpt_like(tmp_path), batch=n, seq=s)
    types = _by_type(g)
    folded = {"Shape", "Range", "Mod", "ConstantOfShape", "Trilu", "Equal", "Unsqueeze"}
    assert not folded & set(types)
    assert g.tensors["ids"].shape == (n, s) and g.tensors["ids"].precision == 32
    # the position ids were folded to a constant: an index input of the step
    assert g.tensors["pos"].role == TensorRole.INPUT and g.tensors["pos"].shape == (1, s)
    emb = {op.name: op for op in types["Embedding"]}
    assert emb["wte_lookup"].inputs == ("ids", "wte") and emb["wpe_lookup"].inputs == ("pos", "wpe")
    assert emb["wte_lookup"].macs == n * s * d
    split = types["Slice"]
    assert [op.name for op in split] == ["split.0", "split.1", "split.2"]
    assert all(op.kind == OpKind.SHAPE and op.macs == 0 for op in split)
    assert [g.tensors[op.outputs[0]].shape for op in split] == [(n, s, d)] * 3
    where = types["Where"][0]
    assert where.inputs == ("sc",) and where.attrs["operands"] == (1,)
    assert (where.kind, where.macs) == (OpKind.ELEMENTWISE, n * s * s)
    drop = types["Dropout"][0]
    assert (drop.kind, drop.macs, drop.attrs["ratio"]) == (
        OpKind.ELEMENTWISE,
        n * s * s,
        pytest.approx(0.1),
    )
    tok = types["Gather"][0]
    assert tok.inputs == ("res",) and g.tensors["tok"].shape == (n, d)
    assert dict(tok.loop_dims) == {"B": n, "E": d} and tok.macs == n * d
    assert g.ops[-1].name == "lm_head"
    assert g.parameter_count == 11 * 8 + 16 * 8 + 8 * 24 + 8 * 11

    t = derive_training_graph(g, optimizer="sgd")
    ops = {op.name: op for op in t.ops}
    bw = _by_type(t)
    assert {op.forward_op for op in bw["EmbeddingGrad"]} == {"wte_lookup", "wpe_lookup"}
    assert ops["wpe_lookup.grad"].inputs[1] == "pos"
    assert t.tensors["pos"].precision == 32 and t.tensors["ids"].precision == 32
    gg = ops["last_token.grad"]  # scatter-add into zeros of res's shape
    assert (gg.op_type, gg.kind) == ("GatherGrad", OpKind.ELEMENTWISE)
    assert len(gg.inputs) == 1 and gg.macs == n * s * d + n * d
    assert t.tensors[gg.outputs[0]].shape == (n, s, d)
    wg = ops["mask.grad1"]
    assert wg.op_type == "WhereGrad" and len(wg.inputs) == 1 and wg.macs == n * s * s
    dg = ops["attn_drop.grad"]
    assert dg.op_type == "DropoutGrad" and dg.inputs[1] == "pd" and dg.macs == n * s * s
    # the three Split outputs' pad-backs are disjoint: a zero-cost concat, no accumulation
    cat = ops["qkv.grad_concat"]
    assert (cat.op_type, cat.kind, cat.macs, len(cat.inputs)) == ("GradConcat", OpKind.SHAPE, 0, 3)
    assert all(ops[f"split.{i}.grad"].op_type == "SliceGrad" for i in range(3))
    assert "qkv.grad_acc" not in ops


def test_where_with_a_data_condition_reads_it(tmp_path: Path):
    """BERT-style: a mask computed from an integer attention-mask input (Cast, Equal on
    data) selects between two data branches; the comparison passes no gradient."""
    inits = [_t("w1", [4, 4]), _t("w2", [4, 4]), _t("zero", [], [0.0])]
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["a"], name="mm1"),
        helper.make_node("MatMul", ["x", "w2"], ["b"], name="mm2"),
        helper.make_node("Cast", ["mask"], ["mf"], name="cast", to=TensorProto.FLOAT),
        helper.make_node("Equal", ["mf", "zero"], ["c"], name="eq"),
        helper.make_node("Where", ["c", "a", "b"], ["y"], name="sel"),
    ]
    p = _save(
        tmp_path,
        nodes,
        [_vi("x", [2, 3, 4]), _ids("mask", [2, 3, 4])],
        [_vi("y", [2, 3, 4])],
        inits,
    )
    g = load_onnx(p)
    types = _by_type(g)
    assert types["Equal"][0].kind == OpKind.ELEMENTWISE and types["Equal"][0].macs == 24
    assert types["Where"][0].inputs == ("c", "a", "b")
    t = derive_training_graph(g, optimizer="sgd")
    ops = {op.name: op for op in t.ops}
    assert ops["sel.grad1"].inputs == (ops["sel.grad1"].inputs[0], "c")
    assert ops["sel.grad2"].inputs[1] == "c" and ops["sel.grad2"].macs == 24
    assert not any(op.forward_op in ("eq", "cast") for op in t.ops_in(t.ops[-1].phase))
    assert "sel.grad0" not in ops  # the condition gets no gradient


@pytest.mark.parametrize("opset", [13, 18])
def test_reductions_and_decomposed_layer_norm(tmp_path: Path, opset: int):
    """The dynamo exporter's LayerNorm (ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div)
    and ReduceMax / ReduceSum: NORM reductions costing one op per input element, with
    broadcast (Sum, Mean) and arg-max mask (Max, reads X and Y) backward rules.  Axes are
    attributes before opset 18 (inputs for ReduceSum from 13) and inputs from 18."""
    inits = [_t("w", [6, 6]), _t("w2", [6, 3]), _t("two", [], [2.0]), _t("eps", [], [1e-5])]
    inits += [_t("last", [1], [-1], TensorProto.INT64), _t("ax1", [1], [1], TensorProto.INT64)]

    def red(op, x, y, axes, keep, name):  # noqa: ANN001, ANN202
        if opset >= 18 or op == "ReduceSum":
            return helper.make_node(op, [x, axes], [y], name=name, keepdims=keep)
        vals = {"last": [-1], "ax1": [1]}[axes]
        return helper.make_node(op, [x], [y], name=name, keepdims=keep, axes=vals)

    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
        red("ReduceMean", "h", "mu", "last", 1, "mean"),
        helper.make_node("Sub", ["h", "mu"], ["dev"], name="center"),
        helper.make_node("Pow", ["dev", "two"], ["d2"], name="square"),
        red("ReduceMean", "d2", "var", "last", 1, "variance"),
        helper.make_node("Add", ["var", "eps"], ["ve"], name="add_eps"),
        helper.make_node("Sqrt", ["ve"], ["sd"], name="std"),
        helper.make_node("Div", ["dev", "sd"], ["ln"], name="normalize"),
        red("ReduceMax", "ln", "mx", "last", 1, "rmax"),
        helper.make_node("Sub", ["ln", "mx"], ["z"], name="shift"),
        red("ReduceSum", "z", "zs", "ax1", 0, "rsum"),
        helper.make_node("MatMul", ["zs", "w2"], ["y"], name="head"),
    ]
    p = _save(tmp_path, nodes, [_vi("x", [2, 4, 6])], [_vi("y", [2, 3])], inits, opset=opset)
    g = load_onnx(p)
    ops = {op.name: op for op in g.ops}
    for name in ("mean", "variance", "rmax", "rsum"):
        op = ops[name]
        assert (op.kind, op.macs, dict(op.loop_dims)) == (OpKind.NORM, 48, {"B": 2, "E": 24})
    assert g.tensors["mu"].shape == (2, 4, 1) and g.tensors["zs"].shape == (2, 6)
    assert ops["rsum"].attrs == {"axes": (1,), "keepdims": False}
    t = derive_training_graph(g, optimizer="sgd")
    bw = {op.name: op for op in t.ops}
    for name, gtype in (("mean", "ReduceMeanGrad"), ("variance", "ReduceMeanGrad")):
        assert (bw[f"{name}.grad"].op_type, len(bw[f"{name}.grad"].inputs)) == (gtype, 1)
        assert bw[f"{name}.grad"].macs == 48 and bw[f"{name}.grad"].kind == OpKind.ELEMENTWISE
    mg = bw["rmax.grad"]
    assert (mg.op_type, mg.inputs[1:], mg.macs) == ("ReduceMaxGrad", ("ln", "mx"), 96)
    sg = bw["rsum.grad"]
    assert (sg.op_type, len(sg.inputs), sg.macs) == ("ReduceSumGrad", 1, 48)
    assert t.tensors[sg.outputs[0]].shape == (2, 4, 6)
    assert bw["std.grad"].op_type == "SqrtGrad" and bw["square.grad"].op_type == "PowGrad"


def test_einsum_matrix_products(tmp_path: Path):
    """Einsum equations that are (batched) matrix products map to GEMM ops (weight operand
    first is swapped to I2); anything else is a clear error."""
    inits = [_t("wq", [4, 4]), _t("wk", [4, 4]), _t("wv", [3, 5]), _t("wo", [6, 5])]
    nodes = [
        helper.make_node("MatMul", ["x", "wq"], ["q"], name="q"),
        helper.make_node("MatMul", ["x", "wk"], ["k"], name="k"),
        helper.make_node("Einsum", ["q", "k"], ["s"], name="scores", equation="bqd,bkd->bqk"),
        helper.make_node("Einsum", ["s", "wv"], ["v"], name="proj", equation="...ij,jk->...ik"),
        helper.make_node("Einsum", ["wo", "v"], ["y"], name="out", equation="kj,bij->bik"),
    ]
    p = _save(tmp_path, nodes, [_vi("x", [2, 3, 4])], [_vi("y", [2, 3, 6])], inits)
    g = load_onnx(p)
    ops = {op.name: op for op in g.ops}
    assert dict(ops["scores"].loop_dims) == {"B": 2, "D": 3, "C": 4, "K": 3}
    assert dict(ops["proj"].loop_dims) == {"B": 1, "D": 6, "C": 3, "K": 5}
    assert ops["out"].inputs == ("v", "wo")
    assert dict(ops["out"].loop_dims) == {"B": 1, "D": 6, "C": 5, "K": 6}
    assert all(ops[n].kind == OpKind.GEMM for n in ("scores", "proj", "out"))
    assert ops["scores"].macs == 2 * 3 * 4 * 3 and g.tensors["s"].shape == (2, 3, 3)
    t = derive_training_graph(g, optimizer="sgd")
    bw = {op.name: op for op in t.ops}
    assert bw["scores.dX"].op_type == "MatMulGradA" and bw["scores.dX2"].op_type == "MatMulGradB"
    assert bw["proj.dW"].op_type == "GemmGradWeight" and bw["out.dW"].op_type == "GemmGradWeight"
    for name in ("scores", "proj", "out"):
        per = [op.macs for op in t.ops if op.forward_op == name and op.is_mac]
        assert per == [ops[name].macs] * 2
    bad = [helper.make_node("Einsum", ["a", "b"], ["c"], name="odd", equation="ij,jk->i")]
    p = _save(tmp_path, bad, [_vi("a", [2, 3]), _vi("b", [3, 4])], [_vi("c", [2])], name="e.onnx")
    with pytest.raises(OnnxImportError, match=r"Einsum 'odd'.*'ij,jk->i'.*bhqd,bhkd->bhqk"):
        load_onnx(p)


def test_grouped_and_depthwise_conv(tmp_path: Path):
    inits = [_t("wg", [8, 2, 3, 3]), _t("wd", [8, 1, 3, 3]), _t("wf", [8, 3])]
    nodes = [
        helper.make_node("Conv", ["x", "wg"], ["c"], name="grouped", group=2, pads=[1] * 4),
        helper.make_node("Conv", ["c", "wd"], ["d"], name="dw", group=8, pads=[1] * 4),
        helper.make_node("GlobalAveragePool", ["d"], ["p"], name="gap"),
        helper.make_node("Flatten", ["p"], ["f"], name="flat"),
        helper.make_node("Gemm", ["f", "wf"], ["y"], name="fc"),
    ]
    p = _save(tmp_path, nodes, [_vi("x", [2, 4, 6, 6])], [_vi("y", [2, 3])], inits)
    g = load_onnx(p)
    ops = {op.name: op for op in g.ops}
    win = {"OY": 6, "OX": 6, "FY": 3, "FX": 3}
    assert dict(ops["grouped"].loop_dims) == {"B": 2, "G": 2, "K": 4, "C": 2, **win}
    assert ops["grouped"].macs == 2 * 8 * 4 * 36 * 9 // 2
    assert dict(ops["dw"].loop_dims) == {"B": 2, "G": 8, "K": 1, "C": 1, **win}
    assert ops["dw"].macs == 2 * 8 * 36 * 9
    t = derive_training_graph(g, optimizer="sgd")
    bw = {op.name: op for op in t.ops}
    assert "grouped.dX" not in bw  # network input
    assert bw["dw.dX"].macs == bw["dw.dW"].macs == ops["dw"].macs
    assert bw["dw.dX"].loop_dims["G"] == 8 and bw["dw.dX"].attrs["groups"] == 8
    assert bw["grouped.dW"].macs == ops["grouped"].macs
    assert t.tensors[bw["dw.dW"].outputs[0]].shape == (8, 1, 3, 3)


def test_vit_style_expand_concat_slice_pad_and_cls_token(tmp_path: Path):
    """A class token Expanded over the batch (broadcast copy; backward ReduceSum into the
    weight), Concat, a position-embedding weight, Slice and Pad on data (zero-cost shape
    ops whose backward pads / slices dY) and the CLS-token Gather."""
    n, p_, d = 2, 4, 8
    inits = [
        _t("cls", [1, 1, d]),
        _t("pos", [1, p_ + 1, d]),
        _t("w", [d, d]),
        _t("wh", [d, 3]),
        _t("eshape", [3], [n, 1, d], TensorProto.INT64),
        _t("starts", [1], [1], TensorProto.INT64),
        _t("ends", [1], [p_ + 1], TensorProto.INT64),
        _t("axes", [1], [1], TensorProto.INT64),
        _t("pads", [6], [0, 1, 0, 0, 0, 0], TensorProto.INT64),
        _t("zero", [], [0], TensorProto.INT64),
    ]
    nodes = [
        helper.make_node("Expand", ["cls", "eshape"], ["ce"], name="expand_cls"),
        helper.make_node("Concat", ["ce", "x"], ["tk"], name="cat", axis=1),
        helper.make_node("Add", ["tk", "pos"], ["tp"], name="add_pos"),
        helper.make_node("MatMul", ["tp", "w"], ["h"], name="mm"),
        helper.make_node("Slice", ["h", "starts", "ends", "axes"], ["hs"], name="drop_cls"),
        helper.make_node("Pad", ["hs", "pads"], ["hp"], name="pad"),
        helper.make_node("Add", ["hp", "h"], ["hh"], name="res"),
        helper.make_node("Gather", ["hh", "zero"], ["c0"], name="cls_pick", axis=1),
        helper.make_node("Gemm", ["c0", "wh"], ["y"], name="head"),
    ]
    p = _save(tmp_path, nodes, [_vi("x", [n, p_, d])], [_vi("y", [n, 3])], inits)
    g = load_onnx(p)
    ops = {op.name: op for op in g.ops}
    ex = ops["expand_cls"]
    assert (ex.kind, ex.inputs, ex.macs) == (OpKind.ELEMENTWISE, ("cls",), n * d)
    assert g.tensors["cls"].role == TensorRole.WEIGHT and g.tensors["pos"].role == TensorRole.WEIGHT
    assert (ops["drop_cls"].kind, ops["drop_cls"].macs) == (OpKind.SHAPE, 0)
    assert g.tensors["hs"].shape == (n, p_, d) and g.tensors["hp"].shape == (n, p_ + 1, d)
    assert (ops["pad"].kind, ops["pad"].macs) == (OpKind.SHAPE, 0)
    t = derive_training_graph(g, optimizer="sgd")
    bw = {op.name: op for op in t.ops}
    eg = bw["expand_cls.grad"]
    assert (eg.op_type, eg.inputs, eg.macs) == ("ExpandGrad", (eg.inputs[0],), n * d)
    assert t.tensors[eg.outputs[0]].shape == (1, 1, d)
    sg, pg = bw["drop_cls.grad"], bw["pad.grad"]
    assert (sg.op_type, sg.kind, sg.macs) == ("SliceGrad", OpKind.SHAPE, 0)
    assert t.tensors[sg.outputs[0]].shape == (n, p_ + 1, d)
    assert (pg.op_type, pg.macs) == ("PadGrad", 0) and t.tensors[pg.outputs[0]].shape == (n, p_, d)
    assert bw["cat.grad0"].op_type == "ConcatGrad" and "cat.grad1" not in bw
    assert bw["add_pos.grad1"].op_type == "ReduceSum"  # broadcast weight
    assert bw["cls_pick.grad"].macs == n * (p_ + 1) * d + n * d
    assert {op.forward_op for op in t.ops_in(t.ops[-1].phase)} == {"cls", "pos", "w", "wh"}


def test_unary_gather_elements_trilu_and_comparisons(tmp_path: Path):
    """Neg, Exp, Log, Sin, Cos, Abs, Reciprocal, Trilu and GatherElements on data and a
    comparison as a Where condition: per-element costs and the tensors each grad reads."""
    inits = [
        _t("w", [4, 4]),
        _t("w3", [2, 5]),
        _t("zero", [], [0.0]),
        _t("idx", [2, 3, 2], [0, 1] * 6, TensorProto.INT64),
    ]
    chain = ["Neg", "Exp", "Log", "Sin", "Cos", "Abs", "Reciprocal", "Trilu"]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["t0"], name="mm")]
    for i, op in enumerate(chain):
        nodes.append(helper.make_node(op, [f"t{i}"], [f"t{i + 1}"], name=op.lower()))
    nodes += [
        helper.make_node("GatherElements", ["t8", "idx"], ["ge"], name="ge", axis=2),
        helper.make_node("Less", ["ge", "zero"], ["lt"], name="lt"),
        helper.make_node("Where", ["lt", "ge", "zero"], ["wh"], name="where"),
        helper.make_node("MatMul", ["wh", "w3"], ["y"], name="head"),
    ]
    p = _save(tmp_path, nodes, [_vi("x", [2, 3, 4])], [_vi("y", [2, 3, 5])], inits)
    g = load_onnx(p)
    ops = {op.name: op for op in g.ops}
    cost = {"Neg": 1, "Exp": 2, "Log": 2, "Sin": 2, "Cos": 2, "Abs": 1, "Reciprocal": 1}
    cost.update({"Trilu": 1})
    for op, c in cost.items():
        assert (ops[op.lower()].kind, ops[op.lower()].macs) == (OpKind.ELEMENTWISE, 24 * c), op
    assert ops["ge"].inputs == ("t8",) and ops["ge"].macs == 12
    assert g.tensors["ge"].shape == (2, 3, 2)
    assert (ops["lt"].macs, ops["where"].inputs) == (12, ("lt", "ge"))
    t = derive_training_graph(g, optimizer="sgd")
    bw = {op.name: op for op in t.ops}
    reads = {"neg": "", "exp": "Y", "log": "X", "sin": "X", "cos": "X", "abs": "X"}
    reads.update({"reciprocal": "Y", "trilu": ""})
    for name, which in reads.items():
        op, grad = ops[name], bw[f"{name}.grad"]
        assert grad.op_type == f"{op.op_type}Grad" and grad.macs == op.macs
        expect = {"X": op.inputs[:1], "Y": op.outputs[:1], "": ()}[which]
        assert grad.inputs[1:] == expect, name
    geg = bw["ge.grad"]
    assert (geg.op_type, len(geg.inputs), geg.macs) == ("GatherElementsGrad", 1, 24 + 12)
    assert bw["where.grad1"].inputs[1] == "lt" and "lt.grad" not in bw


def _cnn_with_bn(tmp_path: Path, name: str, bn_training: bool, drop_training: bool) -> Path:
    """Conv → BatchNorm → Relu → GAP → Flatten → Dropout → Gemm; a training-mode BN's
    running statistics are graph outputs listed first (as torch.export orders buffer
    mutations)."""
    c = 4
    inits = [_t("w", [c, 3, 3, 3]), _t("wf", [c, 5])]
    inits += [_t(k, [c]) for k in ("scale", "bias", "mean", "var")]
    inits += [_t("ratio", [], [0.2]), _t("train", [], [drop_training], TensorProto.BOOL)]
    bn_out = ["bn", "rm", "rv"] if bn_training else ["bn"]
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1] * 4),
        helper.make_node(
            "BatchNormalization",
            ["c", "scale", "bias", "mean", "var"],
            bn_out,
            name="bn",
            training_mode=int(bn_training),
        ),
        helper.make_node("Relu", ["bn"], ["r"], name="relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["p"], name="gap"),
        helper.make_node("Flatten", ["p"], ["f"], name="flat"),
        helper.make_node("Dropout", ["f", "ratio", "train"], ["fd"], name="drop"),
        helper.make_node("Gemm", ["fd", "wf"], ["y"], name="fc"),
    ]
    outs = [_vi("y", [2, 5])]
    if bn_training:
        outs = [_vi("rm", [c]), _vi("rv", [c]), *outs]
    return _save(tmp_path, nodes, [_vi("x", [2, 3, 6, 6])], outs, inits, name=name, opset=18)


def test_training_mode_batchnorm_and_dropout(tmp_path: Path):
    """Training-mode BatchNorm keeps only Y (the running statistics are pruned although
    they are graph outputs); Dropout with training_mode is a mask multiply, without it an
    Identity."""
    g = load_onnx(_cnn_with_bn(tmp_path, "train.onnx", True, True))
    ops = {op.name: op for op in g.ops}
    assert ops["bn"].outputs == ("bn",) and ops["bn"].attrs["training_mode"] == 1
    assert "rm" not in g.tensors and g.ops[-1].name == "fc"
    assert (ops["drop"].op_type, ops["drop"].kind, ops["drop"].macs) == (
        "Dropout",
        OpKind.ELEMENTWISE,
        2 * 4,
    )
    t = derive_training_graph(g, optimizer="sgd")
    bw = {op.name: op for op in t.ops}
    assert bw["drop.grad"].inputs[1] == "fd" and bw["bn.grad"].op_type == "BatchNormGrad"
    assert t.ops[[op.name for op in t.ops].index("loss")].inputs[0] == "y"
    g_eval = load_onnx(_cnn_with_bn(tmp_path, "evaldrop.onnx", True, False))
    drop = {op.name: op for op in g_eval.ops}["drop"]
    assert (drop.op_type, drop.kind, drop.macs) == ("Identity", OpKind.SHAPE, 0)
    assert export_notes(tmp_path / "train.onnx") == []
    notes = export_notes(tmp_path / "evaldrop.onnx")
    assert len(notes) == 1 and "Dropout" in notes[0] and "inference mode" in notes[0]


def test_export_notes_detect_an_eval_mode_cnn(tmp_path: Path):
    inits = [_t("w1", [4, 3, 3, 3]), _t("b1", [4]), _t("w2", [4, 4, 1, 1]), _t("b2", [4])]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1] * 4),
        helper.make_node("Relu", ["c1"], ["r"], name="relu"),
        helper.make_node("Conv", ["r", "w2", "b2"], ["y"], name="conv2"),
    ]
    p = _save(tmp_path, nodes, [_vi("x", [1, 3, 6, 6])], [_vi("y", [1, 4, 6, 6])], inits)
    notes = export_notes(p)
    assert len(notes) == 1
    assert (
        "eval-mode export" in notes[0] and "BatchNorm is folded into the convolutions" in notes[0]
    )
    assert "training=torch.onnx.TrainingMode.TRAINING" in notes[0]
    notes = export_notes(_cnn_with_bn(tmp_path, "evalbn.onnx", False, True))
    assert len(notes) == 1 and "training_mode=0" in notes[0]
    with pytest.raises(FileNotFoundError):
        export_notes(tmp_path / "missing.onnx")


@pytest.mark.parametrize(
    ("equation", "a", "b", "dims", "out"),
    [
        ("bhqd,bhkd->bhqk", (2, 3, 5, 4), (2, 3, 6, 4), (6, 5, 4, 6), (2, 3, 5, 6)),
        ("bij,bjk->bik", (2, 3, 4), (2, 4, 5), (2, 3, 4, 5), (2, 3, 5)),
        ("...ij,jk->...ik", (2, 7, 3, 4), (4, 5), (1, 42, 4, 5), (2, 7, 3, 5)),
        ("bhqk,bhkd->bhqd", (1, 2, 3, 3), (1, 2, 3, 4), (2, 3, 3, 4), (1, 2, 3, 4)),
        ("ij,jk", (3, 4), (4, 5), (1, 3, 4, 5), (3, 5)),  # implicit output
    ],
)
def test_einsum_gemm_dims(equation, a, b, dims, out):
    from monet_opt.models.builder import einsum_gemm_dims

    got, shape = einsum_gemm_dims(equation, a, b)
    assert tuple(got[k] for k in "BDCK") == dims and shape == out


@pytest.mark.parametrize(
    ("equation", "a", "b"),
    [("ii,ij->ij", (3, 3), (3, 4)), ("ij,jk->i", (2, 3), (3, 4)), ("ij->ji", (2, 3), (3, 2))],
)
def test_einsum_gemm_dims_rejects_other_contractions(equation, a, b):
    from monet_opt.models.builder import einsum_gemm_dims

    with pytest.raises(ValueError, match="einsum"):
        einsum_gemm_dims(equation, a, b)


def test_dynamo_dropout_mask_generation_is_dropped(tmp_path: Path):
    """The dynamo exporter writes dropout as RandomUniformLike → Less → Cast → Div → Mul:
    the random mask is not work; the mask multiply is (one op per element, MulGrad reads
    only dY)."""
    inits = [_t("w", [4, 4]), _t("p", [], [0.9])]
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
        helper.make_node("RandomUniformLike", ["h"], ["r"], name="rand"),
        helper.make_node("Less", ["r", "p"], ["keep"], name="less"),
        helper.make_node("Cast", ["keep"], ["kf"], name="cast", to=TensorProto.FLOAT),
        helper.make_node("Div", ["kf", "p"], ["scale"], name="div"),
        helper.make_node("Mul", ["h", "scale"], ["y"], name="drop"),
    ]
    p = _save(tmp_path, nodes, [_vi("x", [2, 4])], [_vi("y", [2, 4])], inits, opset=18)
    g = load_onnx(p)
    assert [op.name for op in g.ops] == ["mm", "drop"] and g.ops[1].inputs == ("h",)
    t = derive_training_graph(g, optimizer="sgd")
    grad = {op.name: op for op in t.ops}["drop.grad"]
    assert (grad.op_type, len(grad.inputs), grad.macs) == ("MulGrad", 1, 8)


def test_castlike_and_scatter_nd(tmp_path: Path):
    """The dynamo exporter's ``CastLike`` of a constant scale (folded away) and of data
    (a ``Cast``), and Swin's ``ScatterND`` with constant indices and updates (an
    element-wise overwrite whose updates are not weights)."""
    n = helper.make_node
    nodes = [
        n("MatMul", ["X", "W"], ["h"], name="proj"),
        n("CastLike", ["scale", "h"], ["scale_c"], name="castlike_const"),
        n("Mul", ["h", "scale_c"], ["hs"], name="scale"),
        n("CastLike", ["hs", "h"], ["hc"], name="castlike_data"),
        n("ScatterND", ["hc", "idx", "upd"], ["y"], name="scatter"),
    ]
    inits = [
        _t("W", (16, 49)),
        _t("scale", (1,), [0.125]),
        _t("idx", (2, 1), [0, 3], TensorProto.INT64),
        _t("upd", (2, 49)),
    ]
    p = _save(tmp_path, nodes, [_vi("X", (8, 16))], [_vi("y", (8, 49))], inits)
    g = load_onnx(p)
    ops = _by_type(g)
    assert "CastLike" not in ops and len(ops["Cast"]) == 1
    assert ops["Cast"][0].inputs == ("hs",) and ops["Cast"][0].macs == 8 * 49
    assert ops["Mul"][0].inputs == ("h",)  # the folded scale is a constant
    sc = ops["ScatterND"][0]
    assert sc.kind == OpKind.ELEMENTWISE and sc.inputs == ("hc",) and sc.macs == 8 * 49
    assert "upd" not in g.tensors and g.parameter_count == 16 * 49
    t = derive_training_graph(g, optimizer="sgd")
    grads = _by_type(t)
    assert grads["ScatterNDGrad"][0].inputs[0].startswith("d[y]")
    assert grads["ScatterNDGrad"][0].macs == 8 * 49
    assert grads["CastGrad"][0].macs == 8 * 49


def test_scatter_nd_with_computed_updates_has_an_updates_gradient(tmp_path: Path):
    n = helper.make_node
    nodes = [
        n("MatMul", ["X", "W"], ["h"], name="proj"),
        n("MatMul", ["X", "W2"], ["u"], name="proj2"),
        n("Slice", ["u", "s0", "s1"], ["u2"], name="take2"),
        n("ScatterND", ["h", "idx", "u2"], ["y"], name="scatter"),
    ]
    inits = [
        _t("W", (16, 4)),
        _t("W2", (16, 4)),
        _t("s0", (1,), [0], TensorProto.INT64),
        _t("s1", (1,), [2], TensorProto.INT64),
        _t("idx", (2, 1), [1, 5], TensorProto.INT64),
    ]
    p = _save(tmp_path, nodes, [_vi("X", (8, 16))], [_vi("y", (8, 4))], inits)
    g = load_onnx(p)
    assert _by_type(g)["ScatterND"][0].inputs == ("h", "u2")
    t = _by_type(derive_training_graph(g, optimizer="sgd"))
    assert t["ScatterNDGrad"][0].macs == 8 * 4
    assert t["ScatterNDUpdatesGrad"][0].macs == 2 * 4


def test_externally_stored_shape_initializers_are_read(tmp_path: Path):
    """Integer initializers stored as external data (as PyTorch's exporter writes large
    models) are read from the file beside the model: the importer needs their values."""
    n = helper.make_node
    nodes = [
        n("Reshape", ["X", "shape"], ["x2"], name="view"),
        n("MatMul", ["x2", "W"], ["y"], name="fc"),
    ]
    import numpy as np
    from onnx import numpy_helper

    inits = [
        numpy_helper.from_array(np.array([4, 32], np.int64), "shape"),
        numpy_helper.from_array(np.zeros((32, 10), np.float32), "W"),
    ]
    graph = helper.make_graph(nodes, "g", [_vi("X", (4, 2, 16))], [_vi("y", (4, 10))], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    p = tmp_path / "ext.onnx"
    onnx.save_model(
        model,
        str(p),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="ext.onnx.data",
        size_threshold=0,
    )
    assert onnx.load(str(p), load_external_data=False).graph.initializer[0].data_location == 1
    g = load_onnx(p)
    assert g.total_macs() == 4 * 32 * 10
    assert g.tensors["x2"].shape == (4, 32)


def test_constant_nodes_with_value_ints_fold(tmp_path: Path):
    """The dynamo exporter writes ``Constant`` nodes with ``value_ints``; a roll written as
    ``Slice`` / ``Concat`` with ``Shape`` and ``Mod`` on them (Swin's shifted windows)
    folds to static shapes."""
    n = helper.make_node
    nodes = [
        n("MatMul", ["X", "W"], ["h"], name="proj"),
        n("Constant", [], ["ax"], value_ints=[1]),
        n("Constant", [], ["zero"], value_ints=[0]),
        n("Constant", [], ["three"], value_ints=[3]),
        n("Shape", ["h"], ["len"], start=1, end=2),
        n("Mod", ["three", "len"], ["cut"], fmod=0),
        n("Slice", ["h", "cut", "len", "ax"], ["tail"], name="tail"),
        n("Slice", ["h", "zero", "cut", "ax"], ["head"], name="head"),
        n("Concat", ["tail", "head"], ["rolled"], axis=1, name="roll"),
        n("Relu", ["rolled"], ["y"], name="act"),
    ]
    p = _save(tmp_path, nodes, [_vi("X", (2, 7, 8))], [_vi("y", (2, 7, 4))], [_t("W", (8, 4))])
    g = load_onnx(p)
    assert g.tensors["tail"].shape == (2, 4, 4) and g.tensors["head"].shape == (2, 3, 4)
    assert g.tensors["y"].shape == (2, 7, 4)
    assert not {"Shape", "Mod", "Constant"} & {op.op_type for op in g.ops}
