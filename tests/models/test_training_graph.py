"""Training-graph derivation: backward MACs, optimizer state, fan-out, checkpoint candidates."""

from __future__ import annotations

from collections import Counter, defaultdict

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monet_opt.models import (
    Graph,
    GraphBuilder,
    OpKind,
    Phase,
    Precision,
    TensorRole,
    build_model,
    derive_training_graph,
    gpt2,
    gpt2_preset,
    mlp,
    resnet18,
    training_summary,
)


@pytest.fixture(scope="module")
def cifar() -> tuple[Graph, Graph]:
    fwd = resnet18(batch=4, stem="cifar")
    return fwd, derive_training_graph(fwd, optimizer="adamw")


@pytest.fixture(scope="module")
def minilm() -> tuple[Graph, Graph]:
    fwd = gpt2_preset("mini-lm")
    return fwd, derive_training_graph(fwd)


def _bw_macs_per_layer(train: Graph) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for op in train.ops_in(Phase.BACKWARD):
        if op.is_mac:
            out[op.forward_op] += op.macs
    return out


def test_backward_macs_twice_forward_per_layer(cifar):
    fwd, train = cifar
    per = _bw_macs_per_layer(train)
    first = fwd.ops[0]
    for op in fwd.ops:
        if not op.is_mac:
            continue
        expected = op.macs if op.name == first.name else 2 * op.macs
        assert per[op.name] == expected, op.name
    total_fwd = train.total_macs(Phase.FORWARD)
    assert total_fwd == fwd.total_macs() == 4 * 555_422_720
    assert train.total_macs(Phase.BACKWARD) == 2 * total_fwd - first.macs
    assert train.total_macs(Phase.BACKWARD) == pytest.approx(2 * total_fwd, rel=2e-3)


def test_conv_gradient_ops(cifar):
    fwd, train = cifar
    ops = {op.name: op for op in train.ops}
    assert "conv1.dX" not in ops  # network input needs no gradient
    conv = ops["layer2.0.conv1"]
    dx, dw = ops["layer2.0.conv1.dX"], ops["layer2.0.conv1.dW"]
    assert (dx.op_type, dx.kind, dx.forward_op) == ("ConvGradInput", OpKind.CONV, conv.name)
    assert dx.loop_dims["K"] == conv.loop_dims["C"] and dx.loop_dims["C"] == conv.loop_dims["K"]
    assert dx.inputs[1] == conv.inputs[1]  # (dY, W)
    assert train.tensors[dx.outputs[0]].shape == fwd.tensors[conv.inputs[0]].shape
    assert dict(dw.loop_dims) == dict(conv.loop_dims)
    assert dw.inputs[0] == conv.inputs[0]  # (X, dY)
    assert tuple(dw.attrs["reduction"]) == ("B", "OY", "OX")
    dwt = train.tensors[dw.outputs[0]]
    assert dwt.role == TensorRole.WEIGHT_GRADIENT
    assert dwt.shape == fwd.tensors[conv.inputs[1]].shape
    assert dx.macs == dw.macs == conv.macs


def test_gemm_gradient_ops(cifar):
    _, train = cifar
    ops = {op.name: op for op in train.ops}
    fc = ops["fc"]
    b, d, c, k = (fc.loop_dims[x] for x in "BDCK")
    assert dict(ops["fc.dX"].loop_dims) == {"B": b, "D": d, "C": k, "K": c}
    assert dict(ops["fc.dW"].loop_dims) == {"B": 1, "D": c, "C": b * d, "K": k}
    assert ops["fc.dW"].inputs[0] == fc.inputs[0]
    assert ops["fc.dX"].inputs[1] == fc.inputs[1]


def test_activation_matmul_has_two_gemm_grads(minilm):
    fwd, train = minilm
    per = _bw_macs_per_layer(train)
    for op in fwd.ops:
        if op.is_mac:
            assert per[op.name] == 2 * op.macs, op.name
    ops = {op.name: op for op in train.ops}
    assert ops["h0.attn.qk.dX"].op_type == "MatMulGradA"
    assert ops["h0.attn.qk.dX2"].op_type == "MatMulGradB"
    assert train.tensors[ops["h0.attn.qk.dX2"].outputs[0]].shape == (1, 4, 128, 256)
    assert ops["h0.attn.softmax.grad"].inputs[1] == "h0.attn.softmax.out"  # reads Y


def test_relu_grad_reads_output(cifar):
    fwd, train = cifar
    relus = {op.name: op for op in fwd.ops if op.op_type == "Relu"}
    grads = [op for op in train.ops if op.op_type == "ReluGrad"]
    assert len(grads) == len(relus) == 17
    for g in grads:
        r = relus[g.forward_op]
        assert g.inputs[1] == r.outputs[0] and r.inputs[0] not in g.inputs
        assert g.kind == OpKind.ELEMENTWISE and g.macs == fwd.tensors[r.outputs[0]].numel


def test_residual_fanout_accumulates(cifar):
    fwd, train = cifar
    acc = [op for op in train.ops if op.op_type == "GradAccumulate"]
    fanout = {t for t, c in fwd.consumers.items() if len(c) >= 2}
    assert len(fanout) == 8  # the input of each residual block
    assert {train.tensors[op.outputs[0]].name for op in acc} == {f"d[{t}]" for t in fanout}
    for op in acc:
        assert len(op.inputs) == 2 and op.kind == OpKind.ELEMENTWISE
    # Add passes dY through unchanged (alias): no Add backward op
    assert not [op for op in train.ops if op.forward_op and op.forward_op.endswith(".add")]


def test_adamw_state_bytes(cifar):
    fwd, train = cifar
    opt = train.ops_in(Phase.OPTIMIZER)
    assert len(opt) == len(fwd.weights) == 21
    state_bytes = 0
    for op in opt:
        w = fwd.tensors[op.forward_op]
        assert op.name == f"{w.name}.adamw" and op.op_type == "AdamW"
        assert op.macs == 17 * w.numel
        dw, wi, m, v, master = (train.tensors[t] for t in op.inputs)
        assert dw.role == TensorRole.WEIGHT_GRADIENT and wi.name == w.name
        for s in (m, v, master):
            assert s.role == TensorRole.OPTIMIZER_STATE and s.shape == w.shape
            assert s.precision == 32
            state_bytes += s.bytes
        assert m.name == f"{w.name}.adam_m"
        outs = [train.tensors[t] for t in op.outputs]
        assert [o.role for o in outs] == [TensorRole.WEIGHT] + [TensorRole.OPTIMIZER_STATE] * 3
        assert outs[0].precision == 16
    params = 11_164_352
    assert fwd.parameter_count == params
    assert state_bytes == 3 * 4 * params == 133_972_224
    summary = training_summary(train)
    assert summary["optimizer_state_bytes"] == state_bytes
    assert summary["parameters"] == params
    assert summary["weight_bytes"] == 2 * params


def test_sgd_state():
    fwd = mlp(2, [6, 5, 3])
    train = derive_training_graph(fwd, optimizer="sgd")
    opt = train.ops_in(Phase.OPTIMIZER)
    assert [op.op_type for op in opt] == ["SGD", "SGD"]
    for op in opt:
        w = fwd.tensors[op.forward_op]
        assert len(op.inputs) == 3 and len(op.outputs) == 2
        mom = train.tensors[op.inputs[2]]
        assert mom.name == f"{w.name}.momentum" and mom.bytes == 4 * w.numel
        assert op.macs == 4 * w.numel
    assert training_summary(train)["optimizer_state_bytes"] == 4 * (6 * 5 + 5 * 3)
    ops = {op.name for op in train.ops}
    assert "fc0.dX" not in ops and {"fc0.dW", "fc1.dX", "fc1.dW", "act0.grad"} <= ops


def test_checkpoint_candidates_are_forward_activations_read_by_backward(cifar, minilm):
    for fwd, train in (cifar, minilm):
        read = {t for op in train.ops_in(Phase.BACKWARD) for t in op.inputs}
        expected = {
            t
            for t in read
            if t in fwd.tensors and fwd.tensors[t].role in (TensorRole.ACTIVATION, TensorRole.INPUT)
        }
        assert train.checkpoint_candidates == expected
    fwd, train = cifar
    # 17 ReLU outputs, the network input (conv1.dW), the flattened features (fc.dW), logits
    assert len(train.checkpoint_candidates) == 20
    assert "input" in train.checkpoint_candidates
    assert not any(
        op.outputs[0] in train.checkpoint_candidates for op in fwd.ops if op.op_type == "Conv"
    )


def test_topology_and_phases(cifar):
    _, train = cifar
    g = train.to_networkx()
    assert nx.is_directed_acyclic_graph(g)
    order = [op.phase for op in train.ops]
    assert order == sorted(order, key=[Phase.FORWARD, Phase.BACKWARD, Phase.OPTIMIZER].index)
    loss = next(op for op in train.ops if op.kind == OpKind.LOSS)
    assert (loss.op_type, loss.phase) == ("SoftmaxCrossEntropy", Phase.FORWARD)
    assert train.tensors[loss.inputs[1]].role == TensorRole.LABEL
    assert train.tensors[loss.outputs[0]].shape == ()
    lg = next(op for op in train.ops if op.op_type == "SoftmaxCrossEntropyGrad")
    assert lg.phase == Phase.BACKWARD and lg.inputs == loss.inputs
    # every backward op is downstream of the loss gradient or reads only forward tensors
    desc = nx.descendants(g, lg.name)
    assert all(op.name in desc for op in train.ops_in(Phase.OPTIMIZER))
    for op in train.ops:
        for t in op.outputs:
            role = train.tensors[t].role
            if op.phase == Phase.BACKWARD:
                assert role in (TensorRole.GRADIENT, TensorRole.WEIGHT_GRADIENT)


def test_phase_and_kind_counts(cifar):
    _, train = cifar
    s = training_summary(train)
    assert s["ops_per_phase"] == {"forward": 49, "backward": 69, "optimizer": 21}
    assert s["ops_per_kind"] == {
        "conv": 59,
        "elementwise": 51,
        "pool": 2,
        "shape": 2,
        "gemm": 3,
        "loss": 1,
        "optimizer": 21,
    }
    assert s["macs_per_phase"]["backward"] == 2 * s["macs_per_phase"]["forward"] - 4 * 1_769_472


def test_tied_embeddings_accumulate_weight_gradient():
    kw = dict(layers=1, heads=2, d_model=8, seq=4, vocab=11, ffn=16, batch=2)
    tied = derive_training_graph(gpt2(**kw))
    acc = [
        op for op in tied.ops if op.op_type == "GradAccumulate" and op.forward_op == "wte.weight"
    ]
    assert len(acc) == 1 and len(acc[0].inputs) == 2
    assert tied.tensors[acc[0].outputs[0]].role == TensorRole.WEIGHT_GRADIENT
    assert {tied.ops[tied.op_index[tied.producer[t]]].op_type for t in acc[0].inputs} == {
        "GemmGradWeight",
        "EmbeddingGrad",
    }
    emb = next(op for op in tied.ops if op.op_type == "EmbeddingGrad")
    assert emb.inputs[1] == "input_ids" and tied.tensors["input_ids"].precision == 32
    untied = derive_training_graph(gpt2(**kw, tied_embeddings=False))
    assert not [
        op for op in untied.ops if op.forward_op == "wte.weight" and op.op_type == "GradAccumulate"
    ]
    # positional embedding: broadcast Add -> ReduceSum into dW of wpe
    red = next(op for op in tied.ops if op.op_type == "ReduceSum")
    assert tied.tensors[red.outputs[0]].shape == (4, 8)
    lns = [op for op in tied.ops if op.op_type == "LayerNormGrad"]
    assert len(lns) == 3 and all(op.kind == OpKind.NORM for op in lns)


def test_precision_retyping():
    p = Precision(activation=8, weight=4, gradient=12, optimizer_state=16)
    t = derive_training_graph(mlp(2, [4, 3, 2]), precision=p)
    bits = {
        role: {x.precision for x in t.tensors.values() if x.role == role} for role in TensorRole
    }
    assert bits[TensorRole.ACTIVATION] == {8} and bits[TensorRole.INPUT] == {8}
    assert bits[TensorRole.WEIGHT] == {4}
    assert bits[TensorRole.GRADIENT] == {12} and bits[TensorRole.WEIGHT_GRADIENT] == {12}
    assert bits[TensorRole.OPTIMIZER_STATE] == {16}


def test_mse_loss_and_gelu():
    fwd = mlp(2, [4, 3, 2], activation="gelu")
    t = derive_training_graph(fwd, loss="mse")
    types = [op.op_type for op in t.ops]
    assert "MSELoss" in types and "MSELossGrad" in types
    gg = next(op for op in t.ops if op.op_type == "GeluGrad")
    assert gg.inputs[1] == "fc0.out"  # GeluGrad reads X


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"optimizer": "adam"}, "adamw"),
        ({"optimizer": "adam"}, "sgd"),
        ({"loss": "hinge"}, "cross_entropy"),
        ({"precision": 16}, "Precision"),
    ],
)
def test_bad_arguments(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        derive_training_graph(mlp(1, [2, 2]), **kwargs)


def test_bad_inputs():
    with pytest.raises(ValueError, match="positive"):
        Precision(activation=0)
    train = derive_training_graph(mlp(1, [2, 2]))
    with pytest.raises(ValueError, match="forward graph"):
        derive_training_graph(train)


@settings(max_examples=25, deadline=None)
@given(
    batch=st.integers(1, 4),
    sizes=st.lists(st.integers(1, 9), min_size=2, max_size=5),
    optimizer=st.sampled_from(["adamw", "sgd"]),
)
def test_mlp_property(batch, sizes, optimizer):
    fwd = mlp(batch, sizes)
    t = derive_training_graph(fwd, optimizer=optimizer)
    first = fwd.ops[0].macs
    assert t.total_macs(Phase.BACKWARD) == 2 * fwd.total_macs() - first
    assert len(t.ops_in(Phase.OPTIMIZER)) == len(sizes) - 1
    per_w = 3 if optimizer == "adamw" else 1
    assert training_summary(t)["optimizer_state_bytes"] == 4 * per_w * fwd.parameter_count
    assert Counter(op.phase for op in t.ops)[Phase.FORWARD] == len(fwd) + 1


def test_gpt2_small_training_builds_quickly():
    t = derive_training_graph(build_model("gpt2-small"))
    s = training_summary(t)
    assert s["parameters"] == 124_318_464
    assert s["macs_per_phase"]["backward"] == 2 * s["macs_per_phase"]["forward"]


# -- backward rules of the data-movement and reduction ops (graphs built op by op) -----------


def _sliced(overlap: bool) -> Graph:
    """x -> Gemm -> two slices of h (disjoint halves, or overlapping) -> Mul -> Gemm."""
    gb = GraphBuilder("slices")
    gb.input("x", (2, 6))
    gb.weight("w", (6, 6))
    gb.weight("w2", (4 if overlap else 3, 2))
    h = gb.gemm("fc", "x", "w")
    cols = (4, 4) if overlap else (3, 3)
    a = gb.shape_op("sa", "Slice", [h], (2, cols[0]), check=False, attrs={"split": "sp"})
    b = gb.shape_op("sb", "Slice", [h], (2, cols[1]), check=False, attrs={"split": "sp"})
    m = gb.elementwise("mul", "Mul", [a, b])
    gb.gemm("head", m, "w2")
    return gb.build()


def test_split_slices_assemble_their_gradient_without_adds():
    t = derive_training_graph(_sliced(overlap=False), optimizer="sgd")
    ops = {op.name: op for op in t.ops}
    cat = ops["fc.out.grad_concat"]
    assert (cat.op_type, cat.kind, cat.macs) == ("GradConcat", OpKind.SHAPE, 0)
    assert cat.inputs == (ops["sb.grad"].outputs[0], ops["sa.grad"].outputs[0])
    assert ops["sa.grad"].op_type == "SliceGrad" and ops["sa.grad"].macs == 0
    assert t.tensors[ops["sa.grad"].outputs[0]].shape == (2, 6)
    assert ops["fc.dW"].inputs[1] == cat.outputs[0]
    # overlapping slices are summed element by element
    t = derive_training_graph(_sliced(overlap=True), optimizer="sgd")
    acc = {op.name: op for op in t.ops}["fc.out.grad_acc"]
    assert (acc.op_type, acc.macs) == ("GradAccumulate", 12)


def test_reduction_where_gather_expand_backward_rules():
    gb = GraphBuilder("moves")
    gb.input("x", (2, 3, 4))
    gb.input("idx", (2,), precision=32)
    gb.weight("w", (4, 4))
    h = gb.gemm("fc", "x", "w")  # (2, 3, 4)
    s = gb.reduce("rsum", "ReduceSum", h, (2, 3, 1), attrs={"axes": (2,), "keepdims": True})
    mx = gb.reduce("rmax", "ReduceMax", h, (2, 3, 1))
    e = gb.elementwise("exp", "Expand", [s], out_shape=(2, 3, 4))
    wh = gb.elementwise("sel", "Where", [e, h], out_shape=(2, 3, 4), attrs={"operands": (1, 2)})
    d = gb.elementwise("sub", "Sub", [wh, mx])
    g = gb.elementwise(
        "pick", "Gather", [d, "idx"], out_shape=(2, 2, 4), attrs={"operands": (0, 1), "axis": 1}
    )
    gb.norm("sm", "Softmax", g)
    fwd = gb.build()
    assert fwd.ops[1].kind == OpKind.NORM and fwd.ops[1].macs == 24
    t = derive_training_graph(fwd, optimizer="sgd")
    ops = {op.name: op for op in t.ops}
    rs, rm = ops["rsum.grad"], ops["rmax.grad"]
    assert (rs.op_type, rs.kind, rs.macs, len(rs.inputs)) == (
        "ReduceSumGrad",
        OpKind.ELEMENTWISE,
        24,
        1,
    )
    assert rs.attrs == {"axes": (2,), "keepdims": True}
    assert (rm.op_type, rm.inputs[1:], rm.macs) == ("ReduceMaxGrad", ("fc.out", mx), 48)
    assert ops["exp.grad"].op_type == "ExpandGrad" and ops["exp.grad"].macs == 24
    assert t.tensors[ops["exp.grad"].outputs[0]].shape == (2, 3, 1)
    # no condition tensor (a constant): both branches get dY masked, reading only dY
    assert ops["sel.grad1"].op_type == ops["sel.grad2"].op_type == "WhereGrad"
    assert len(ops["sel.grad1"].inputs) == 1
    pick = ops["pick.grad"]
    assert (pick.op_type, pick.inputs[1], pick.macs) == ("GatherGrad", "idx", 24 + 16)
    assert pick.attrs["scatter_add"] is True
    assert "pick.grad1" not in ops  # indices get no gradient
    # integer indices read only as indices keep their precision in the training graph
    assert t.tensors["idx"].precision == 32
    assert ops["fc.out.grad_acc"].attrs["contributions"] == 3  # rsum, rmax, sel
