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


def _save(tmp_path: Path, nodes, inputs, outputs, inits=(), name="m.onnx") -> Path:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
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
    assert str(exc.value) == "unknown option 'batchsize'; allowed options: batch, precision"
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


def test_reduce_mean_over_other_axes_is_a_clear_error(tmp_path: Path):
    nodes = [helper.make_node("ReduceMean", ["x"], ["y"], name="rm_c", axes=[1], keepdims=1)]
    p = _save(tmp_path, nodes, [_vi("x", [2, 4, 5, 5])], [_vi("y", [2, 1, 5, 5])], name="rm.onnx")
    with pytest.raises(OnnxImportError, match=r"rm_c.*axes \[1\].*\[2, 3\]"):
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
    the op and node."""
    with pytest.raises(OnnxImportError, match=r"'Shape'.*shape"):
        load_onnx(_shape_subgraph_model(tmp_path, "N"))
