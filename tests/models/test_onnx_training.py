"""ONNX training graphs imported as they are (monet_opt.models.onnx_training)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from monet_opt.api.inputs import build_training_graph
from monet_opt.config import config_from_dict
from monet_opt.errors import InputError
from monet_opt.models import (
    OpKind,
    Phase,
    TensorRole,
    build_model,
    derive_training_graph,
    training_summary,
)
from monet_opt.models.onnx_import import OnnxImportError
from monet_opt.models.onnx_training import (
    classify_onnx,
    forward_part,
    graph_evidence,
    load_onnx_training,
)

from .conftest import SHARED_DIR

MONET = SHARED_DIR / "peer-data" / "monet_pr92" / "resnet18_full_training.onnx"
F = TensorProto.FLOAT
MS = "com.microsoft"


def _vi(name: str, shape: tuple[int, ...], dtype: int = F) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, dtype, shape)


def _save(tmp_path: Path, nodes, inputs, outputs, inits=(), name="g") -> Path:
    graph = helper.make_graph(nodes, name, inputs, outputs, list(inits))
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(MS, 1)]
    )
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, str(path))
    return path


# -- a small training graph of our own: MLP, softmax cross-entropy, SGD with momentum ----
B, C, H, K = 8, 32, 64, 10


def _mlp_sgd(tmp_path: Path, *, ms_ops: bool = True, states: bool = True) -> Path:
    """MLP ``X[B,C] -> Gemm(W1^T) -> Relu -> Gemm(W2^T) -> logits[B,K]`` trained by SGD
    with momentum, written as onnxruntime-training writes it (``ms_ops``) or with
    standard ops only (``ReluGrad`` as ``Mul`` by a mask input; no loss-grad op)."""
    n = helper.make_node
    nodes = [
        n("Gemm", ["X", "W1"], ["z"], name="fc1", transB=1),
        n("Relu", ["z"], ["h"], name="relu"),
        n("Gemm", ["h", "W2"], ["logits"], name="fc2", transB=1),
    ]
    inputs = [_vi("X", (B, C)), _vi("W1", (H, C)), _vi("W2", (K, H))]
    if ms_ops:
        nodes += [
            n(
                "SoftmaxCrossEntropyLoss",
                ["logits", "labels"],
                ["loss", "log_prob"],
                name="loss",
                reduction="mean",
            ),
            n(
                "SoftmaxCrossEntropyLossGrad",
                ["loss_grad", "log_prob", "labels"],
                ["logits_grad"],
                name="loss_Grad/SCEGrad",
                domain=MS,
                reduction="mean",
            ),
        ]
        inputs += [_vi("labels", (B,), TensorProto.INT64), _vi("loss_grad", ())]
        dz = [n("ReluGrad", ["h_grad", "h"], ["z_grad"], name="relu_Grad/ReluGrad_0", domain=MS)]
    else:
        inputs += [_vi("logits_grad", (B, K)), _vi("mask", (B, H))]
        dz = [n("Mul", ["h_grad", "mask"], ["z_grad"], name="relu_grad_mask")]
    nodes += [
        n("Gemm", ["logits_grad", "W2"], ["h_grad"], name="fc2_Grad/Gemm_0"),
        n("Gemm", ["logits_grad", "h"], ["W2_grad"], name="fc2_Grad/Gemm_1", transA=1),
        *dz,
        n("Gemm", ["z_grad", "X"], ["W1_grad"], name="fc1_Grad/Gemm_1", transA=1),
    ]
    outputs = []
    inits = [numpy_helper.from_array(np.array([0.9], np.float32), "mu")]
    inits.append(numpy_helper.from_array(np.array([0.01], np.float32), "lr"))
    for w, shape in (("W1", (H, C)), ("W2", (K, H))):
        if states:
            inputs.append(_vi(f"{w}_momentum", shape))
            nodes += [
                n("Mul", [f"{w}_momentum", "mu"], [f"{w}_t1"], name=f"sgd_{w}_mul"),
                n("Add", [f"{w}_t1", f"{w}_grad"], [f"{w}_m"], name=f"sgd_{w}_add"),
                n("Mul", [f"{w}_m", "lr"], [f"{w}_t2"], name=f"sgd_{w}_lr"),
            ]
            step = f"{w}_t2"
        else:
            nodes.append(n("Mul", [f"{w}_grad", "lr"], [f"{w}_t2"], name=f"sgd_{w}_lr"))
            step = f"{w}_t2"
        nodes.append(n("Sub", [w, step], [f"{w}_new"], name=f"sgd_{w}_update"))
        outputs.append(_vi(f"{w}_new", shape))
    return _save(tmp_path, nodes, inputs, outputs, inits, name="mlp_sgd")


def test_own_training_graph_phases_roles_and_macs(tmp_path: Path) -> None:
    path = _mlp_sgd(tmp_path)
    assert classify_onnx(path) == "training"
    g = load_onnx_training(path)
    phases = {op.name: op.phase for op in g.ops}
    assert {n for n, p in phases.items() if p == Phase.FORWARD} == {"fc1", "relu", "fc2", "loss"}
    assert {n for n, p in phases.items() if p == Phase.BACKWARD} == {
        "loss_Grad/SCEGrad",
        "fc2_Grad/Gemm_0",
        "fc2_Grad/Gemm_1",
        "relu_Grad/ReluGrad_0",
        "fc1_Grad/Gemm_1",
    }
    assert sum(p == Phase.OPTIMIZER for p in phases.values()) == 8
    # MACs: forward B*C*H + B*H*K; backward dX of fc2 and both dW (no dX of the input)
    assert g.total_macs(Phase.FORWARD) == B * C * H + B * H * K
    assert g.total_macs(Phase.BACKWARD) == B * H * K + H * K * B + H * C * B
    by = {op.name: op for op in g.ops}
    assert dict(by["fc2_Grad/Gemm_1"].loop_dims) == {"B": 1, "D": K, "C": B, "K": H}
    assert by["fc2_Grad/Gemm_1"].forward_op == "fc2"
    assert by["relu_Grad/ReluGrad_0"].op_type == "ReluGrad"
    assert by["relu_Grad/ReluGrad_0"].macs == B * H
    assert by["loss_Grad/SCEGrad"].op_type == "SoftmaxCrossEntropyGrad"
    assert by["loss"].kind == OpKind.LOSS
    assert by["sgd_W1_update"].forward_op == "W1"
    role = {t: g.tensors[t].role for t in g.tensors}
    assert role["W1"] == role["W2"] == TensorRole.WEIGHT
    assert role["W1_new"] == TensorRole.WEIGHT  # written back
    assert role["W1_momentum"] == TensorRole.OPTIMIZER_STATE
    # the updated momentum is written back; the copy the update reads may be spilled
    assert role["W1_m.writeback"] == TensorRole.OPTIMIZER_STATE
    assert role["W1_m"] == TensorRole.WEIGHT_GRADIENT
    assert by["sgd_W1_add"].outputs == ("W1_m", "W1_m.writeback")
    assert role["W1_grad"] == TensorRole.WEIGHT_GRADIENT
    assert role["h_grad"] == TensorRole.GRADIENT
    assert role["labels"] == TensorRole.LABEL and g.tensors["labels"].precision == 32
    assert role["X"] == TensorRole.INPUT
    assert g.tensors["W1_t2"].precision == 32  # optimizer math at the state precision
    assert g.checkpoint_candidates == {"X", "h", "log_prob"}
    assert g.parameter_count == H * C + K * H
    # scalars (mu, lr, loss_grad) are not modelled
    assert not {"mu", "lr", "loss_grad"} & set(g.tensors)


def test_no_second_backward_through_the_api(tmp_path: Path) -> None:
    """A training graph of standard ops only (recognised by its momentum inputs) is
    scheduled as it is: no derived loss, backward or optimizer op is added."""
    path = _mlp_sgd(tmp_path, ms_ops=False)
    onnx_nodes = len(onnx.load(str(path)).graph.node)
    cfg = config_from_dict(
        {
            "workload": {"onnx": str(path)},
            "accelerator": str(
                Path(__file__).resolve().parents[2] / "examples/hardware/tpu_like_quad_core.yaml"
            ),
        }
    )
    g = build_training_graph(cfg)
    assert len(g.ops) == onnx_nodes
    assert not {op.op_type for op in g.ops} & {"AdamW", "SGD", "SoftmaxCrossEntropy"}
    assert not any(op.name.endswith((".dX", ".dW")) for op in g.ops)
    assert {op.phase for op in g.ops} == set(Phase)
    # mode: inference keeps the forward ops of the training graph
    cfg_inf = cfg.model_copy(
        update={"workload": cfg.workload.model_copy(update={"mode": "inference"})}
    )
    fwd = build_training_graph(cfg_inf)
    assert [op.name for op in fwd.ops] == ["fc1", "relu", "fc2"]


def test_recognizer_weak_evidence_asks_for_the_option(tmp_path: Path) -> None:
    path = _mlp_sgd(tmp_path, ms_ops=False, states=False)
    ev = graph_evidence(onnx.load(str(path)))
    assert ev.kind == "ambiguous" and not ev.strong
    with pytest.raises(OnnxImportError, match="workload.graph: training"):
        classify_onnx(path)
    assert classify_onnx(path, "training") == "training"
    g = load_onnx_training(path)
    assert g.total_macs(Phase.BACKWARD) == B * H * K + H * K * B + H * C * B
    assert classify_onnx(path, "forward") == "forward"


def test_forward_override_on_a_training_graph_is_an_error(tmp_path: Path) -> None:
    path = _mlp_sgd(tmp_path)
    with pytest.raises(OnnxImportError, match="count the backward twice"):
        classify_onnx(path, "forward")
    with pytest.raises(ValueError, match="allowed values"):
        classify_onnx(path, "both")


def test_forward_graph_is_not_a_training_graph(tmp_path: Path) -> None:
    n = helper.make_node
    path = _save(
        tmp_path,
        [n("Gemm", ["X", "W"], ["Y"], transB=1)],
        [_vi("X", (2, 4)), _vi("W", (3, 4))],
        [_vi("Y", (2, 3))],
    )
    assert classify_onnx(path) == "forward"
    with pytest.raises(OnnxImportError, match="no backward op"):
        load_onnx_training(path)


def test_unsupported_op_in_a_training_graph(tmp_path: Path) -> None:
    n = helper.make_node
    path = _save(
        tmp_path,
        [
            n("Gemm", ["X", "W"], ["Y"], transB=1),
            n("NonZero", ["Y"], ["nz"], name="weird"),
            n("ReluGrad", ["Y", "Y"], ["Y_grad"], name="rg", domain=MS),
        ],
        [_vi("X", (2, 4)), _vi("W", (3, 4))],
        [_vi("Y_grad", (2, 3))],
    )
    with pytest.raises(OnnxImportError, match=r"'NonZero'.*'weird'.*supported"):
        load_onnx_training(path)


def test_config_graph_field_needs_an_onnx_workload() -> None:
    with pytest.raises(InputError, match="graph"):
        config_from_dict(
            {"workload": {"model": "mlp", "graph": "training"}, "accelerator": "x.yaml"}
        )


# -- MONET's rewritten op set: im2col dW and ConvTranspose dX ----------------------------
#: im2col column order (C, FY, FX) from ``[B, C, FY, OY, FX, OX]``; MONET's files use
#: ``[0, 3, 5, 4, 1, 2]`` (columns (FX, C, FY)), a permutation of the same dW entries.
TRUE_PERM = [0, 3, 5, 1, 2, 4]
MONET_PERM = [0, 3, 5, 4, 1, 2]


def _im2col_graph(
    tmp_path: Path, perm: list[int] = TRUE_PERM
) -> tuple[Path, dict[str, np.ndarray]]:
    """Conv dW written as MONET writes it (Pad, Gather, Gather, Transpose, Reshape,
    MatMul, ReduceSum over the batch, Reshape), and the dX as a ConvTranspose."""
    n = helper.make_node
    b, c, k, hw, f = 2, 2, 3, 4, 3
    hi = np.array([[i + ky for i in range(hw)] for ky in range(f)], np.int64)  # [FY, OY]
    consts = {
        "pads": np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64),
        "hi": hi,
        "wi": hi.copy(),
        "s_dy": np.array([b, k, hw * hw], np.int64),
        "s_x": np.array([b, hw * hw, c * f * f], np.int64),
        "ax0": np.array([0], np.int64),
        "s_w": np.array([k, c, f, f], np.int64),
    }
    nodes = [
        n("Conv", ["X", "W"], ["Y"], name="conv", pads=[1, 1, 1, 1], kernel_shape=[f, f]),
        n("ReluGrad", ["Y_grad", "Y"], ["dY"], name="conv_relu_Grad/ReluGrad_0", domain=MS),
        n("ConvTranspose", ["dY", "W"], ["X_grad"], pads=[1, 1, 1, 1], kernel_shape=[f, f]),
        n("Reshape", ["dY", "s_dy"], ["dy2"]),
        n("Pad", ["X", "pads"], ["xp"], name="conv_Grad/Pad"),
        n("Gather", ["xp", "hi"], ["g1"], axis=2, name="conv_Grad/G1"),
        n("Gather", ["g1", "wi"], ["g2"], axis=4, name="conv_Grad/G2"),
        n("Transpose", ["g2"], ["tr"], perm=perm, name="conv_Grad/T"),
        n("Reshape", ["tr", "s_x"], ["cols"], name="conv_Grad/R"),
        n("MatMul", ["dy2", "cols"], ["mm"], name="conv_Grad/MatMul"),
        n("ReduceSum", ["mm", "ax0"], ["bs"], keepdims=0, name="conv_Grad/RS"),
        n("Reshape", ["bs", "s_w"], ["W_grad"], name="conv_Grad/R2"),
    ]
    inits = [numpy_helper.from_array(v, name) for name, v in consts.items()]
    path = _save(
        tmp_path,
        nodes,
        [_vi("X", (b, c, hw, hw)), _vi("W", (k, c, f, f)), _vi("Y_grad", (b, k, hw, hw))],
        [_vi("W_grad", (k, c, f, f)), _vi("X_grad", (b, c, hw, hw))],
        inits,
        name="im2col",
    )
    return path, consts


def test_im2col_chain_is_one_conv_weight_gradient(tmp_path: Path) -> None:
    path, _ = _im2col_graph(tmp_path)
    g = load_onnx_training(path)
    dw = [op for op in g.ops if op.op_type == "ConvGradWeight"]
    assert len(dw) == 1 and dw[0].phase == Phase.BACKWARD
    assert dw[0].inputs == ("X", "dY") and dw[0].outputs == ("W_grad",)
    assert dict(dw[0].loop_dims) == {"B": 2, "K": 3, "C": 2, "OY": 4, "OX": 4, "FY": 3, "FX": 3}
    assert dw[0].attrs["reduction"] == ("B", "OY", "OX")
    conv = next(op for op in g.ops if op.op_type == "Conv")
    assert dw[0].macs == conv.macs == 2 * 3 * 2 * 16 * 9
    assert dw[0].forward_op == "conv"
    dx = next(op for op in g.ops if op.op_type == "ConvGradInput")
    assert dx.macs == conv.macs and dx.attrs["transposed"]
    assert dict(dx.loop_dims) == {"B": 2, "K": 2, "C": 3, "OY": 4, "OX": 4, "FY": 3, "FX": 3}
    # the im2col intermediates are not materialised
    assert not {"xp", "g1", "g2", "tr", "cols", "mm", "bs"} & set(g.tensors)
    assert g.tensors["W_grad"].role == TensorRole.WEIGHT_GRADIENT
    assert "X" in g.checkpoint_candidates


@pytest.mark.parametrize("perm", [TRUE_PERM, MONET_PERM])
def test_im2col_chain_computes_the_conv_weight_gradient(tmp_path: Path, perm) -> None:
    """The pattern the importer collapses is a conv dW: checked with ONNX's reference
    evaluator against the definition dW[k,c,i,j] = sum_b,y,x dY[b,k,y,x] Xpad[b,c,y+i,x+j].
    With MONET's transpose the entries come out permuted within each output channel
    (same work, so the same cost)."""
    from onnx.reference import ReferenceEvaluator

    path, consts = _im2col_graph(tmp_path, perm)
    model = onnx.load(str(path))
    keep = [nd for nd in model.graph.node if nd.domain != MS and nd.op_type != "ConvTranspose"]
    keep = [nd for nd in keep if nd.op_type != "Conv"]
    sub = helper.make_graph(
        keep,
        "dw",
        [_vi("X", (2, 2, 4, 4)), _vi("dY", (2, 3, 4, 4))],
        [_vi("W_grad", (3, 2, 3, 3))],
        list(model.graph.initializer),
    )
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, 4, 4)).astype(np.float32)
    dy = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    (got,) = ReferenceEvaluator(helper.make_model(sub)).run(None, {"X": x, "dY": dy})
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    want = np.zeros((3, 2, 3, 3), np.float32)
    for i in range(3):
        for j in range(3):
            want[:, :, i, j] = np.einsum("bkyx,bcyx->kc", dy, xp[:, :, i : i + 4, j : j + 4])
    if perm == TRUE_PERM:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    else:
        assert not np.allclose(got, want, atol=1e-3)
        np.testing.assert_allclose(
            np.sort(got.reshape(3, -1)), np.sort(want.reshape(3, -1)), rtol=1e-5, atol=1e-5
        )


# -- MONET's own ResNet-18 training graph ------------------------------------------------
@pytest.fixture(scope="module")
def monet_graph():
    if not MONET.is_file():
        pytest.skip(f"MONET's training graph not found at {MONET.resolve()}")
    return load_onnx_training(MONET)


def test_monet_resnet18_phase_counts_and_macs(monet_graph) -> None:
    g = monet_graph
    s = training_summary(g)
    # 615 nodes: 49 forward, 69 backward (after removing the bias-gradient dead code and
    # collapsing 20 im2col chains), 315 optimizer (21 weights x 15 AdamW ops)
    assert s["ops_per_phase"] == {"forward": 49, "backward": 69, "optimizer": 315}
    kinds = [op.op_type for op in g.ops]
    assert kinds.count("ConvGradWeight") == 20 and kinds.count("ConvGradInput") == 19
    built = derive_training_graph(build_model("resnet18-cifar", batch=4), optimizer="adamw")
    fwd, bwd = g.total_macs(Phase.FORWARD), g.total_macs(Phase.BACKWARD)
    assert fwd == pytest.approx(built.total_macs(Phase.FORWARD), rel=0.01)
    assert fwd == pytest.approx(2.22e9, rel=0.01)
    assert bwd == pytest.approx(built.total_macs(Phase.BACKWARD), rel=0.05)
    assert g.parameter_count == built.parameter_count
    assert s["optimizer_state_bytes"] == training_summary(built)["optimizer_state_bytes"]
    assert not {"AdamW", "SGD"} & set(kinds)  # no second optimizer
    # every backward / optimizer op knows its forward op (or weight)
    assert all(op.forward_op for op in g.ops if op.phase != Phase.FORWARD)


def test_monet_resnet18_forward_part_matches_the_forward_import(monet_graph) -> None:
    fwd = forward_part(monet_graph)
    assert len(fwd.ops) == 49
    assert fwd.total_macs() == monet_graph.total_macs(Phase.FORWARD)
    assert math.isclose(fwd.total_macs(), 2_221_690_880)


def test_monet_resnet18_solves_within_capacity_on_the_quad_core(monet_graph) -> None:
    """The training graph goes through the API as it is, and the default placement keeps
    every on-chip memory within its capacity (the AdamW chain's updated moments are
    written back and never pinned on chip)."""
    from monet_opt import api
    from monet_opt.schedule.memory import default_placement

    root = Path(__file__).resolve().parents[2]
    inputs = api.load(
        {
            "workload": {"onnx": str(MONET)},
            "accelerator": str(root / "examples/hardware/tpu_like_quad_core.yaml"),
            "fusion": {"mode": "none"},
            "checkpointing": {"mode": "store-all"},
        }
    )
    assert len(inputs.graph.ops) == len(monet_graph.ops)
    pb = inputs.problem
    lat = np.where(np.isfinite(pb.costs.latency), pb.costs.latency, np.inf)
    demand = default_placement(pb, np.argmin(lat, axis=1))
    assert demand.overflow() == []


def test_inputs_note_the_imported_training_graph(tmp_path: Path) -> None:
    from monet_opt import api

    root = Path(__file__).resolve().parents[2]
    inputs = api.load(
        {
            "workload": {"onnx": str(_mlp_sgd(tmp_path)), "options": {"batch": B}},
            "accelerator": str(root / "examples/hardware/tpu_like_quad_core.yaml"),
        }
    )
    assert any("imported as it is" in n and "5 backward" in n for n in inputs.notes)
    with pytest.raises(InputError, match="re-batched"):
        api.load(
            {
                "workload": {"onnx": str(_mlp_sgd(tmp_path)), "options": {"batch": 3}},
                "accelerator": str(root / "examples/hardware/tpu_like_quad_core.yaml"),
            }
        )


def test_onnxruntime_conv_grad_fused_matmul_and_pool_grad(tmp_path: Path) -> None:
    """onnxruntime-training's ops before MONET's rewrite: ConvGrad (dX, dW, dB),
    FusedMatMul with transposes, AveragePoolGrad and GlobalAveragePoolGrad."""
    n = helper.make_node
    nodes = [
        n("Conv", ["X", "W"], ["Y"], name="conv", pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        n("AveragePool", ["Y"], ["P"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        n("Flatten", ["P"], ["F"], name="flat"),
        n("MatMul", ["F", "Wfc"], ["Z"], name="fc"),
        n(
            "FusedMatMul",
            ["Z_grad", "Wfc"],
            ["F_grad"],
            name="fc_Grad/FusedMatMul_0",
            domain=MS,
            transB=1,
        ),
        n(
            "FusedMatMul",
            ["F", "Z_grad"],
            ["Wfc_grad"],
            name="fc_Grad/FusedMatMul_1",
            domain=MS,
            transA=1,
        ),
        n("Reshape", ["F_grad", "pshape"], ["P_grad"], name="flat_Grad/Reshape"),
        n(
            "AveragePoolGrad",
            ["P_grad"],
            ["Y_grad"],
            name="pool_Grad/AveragePoolGrad_0",
            domain=MS,
            kernel_shape=[2, 2],
            strides=[2, 2],
        ),
        n(
            "ConvGrad",
            ["Y_grad", "X", "W"],
            ["", "W_grad", ""],
            name="conv_Grad/ConvGrad_0",
            domain=MS,
            pads=[1, 1, 1, 1],
            kernel_shape=[3, 3],
        ),
    ]
    for w in ("W", "Wfc"):
        nodes += [
            n("Mul", [f"{w}_grad", "lr"], [f"{w}_step"], name=f"{w}_lr"),
            n("Sub", [w, f"{w}_step"], [f"{w}_new"], name=f"{w}_update"),
        ]
    inits = [
        numpy_helper.from_array(np.array([0.1], np.float32), "lr"),
        numpy_helper.from_array(np.array([2, 4, 4, 4], np.int64), "pshape"),
    ]
    path = _save(
        tmp_path,
        nodes,
        [
            _vi("X", (2, 3, 8, 8)),
            _vi("W", (4, 3, 3, 3)),
            _vi("Wfc", (64, 10)),
            _vi("Z_grad", (2, 10)),
            _vi("W_momentum", (4, 3, 3, 3)),
        ],
        [_vi("W_new", (4, 3, 3, 3)), _vi("Wfc_new", (64, 10))],
        inits,
        name="ortgrad",
    )
    g = load_onnx_training(path)
    by = {op.name: op for op in g.ops}
    conv_macs = 2 * 4 * 3 * 8 * 8 * 9
    dw = by["conv_Grad/ConvGrad_0.dW"]
    assert dw.op_type == "ConvGradWeight" and dw.macs == conv_macs
    assert dw.inputs == ("X", "Y_grad") and dw.phase == Phase.BACKWARD
    assert "conv_Grad/ConvGrad_0.dX" not in by  # no dX requested (the network input)
    a = by["fc_Grad/FusedMatMul_0"]
    assert dict(a.loop_dims) == {"B": 1, "D": 2, "C": 10, "K": 64} and a.macs == 2 * 10 * 64
    b = by["fc_Grad/FusedMatMul_1"]
    assert dict(b.loop_dims) == {"B": 1, "D": 64, "C": 2, "K": 10}
    assert b.forward_op == "fc"
    pg = by["pool_Grad/AveragePoolGrad_0"]
    assert pg.kind == OpKind.POOL and pg.macs == by["pool"].macs
    assert g.tensors["Y_grad"].shape == (2, 4, 8, 8)  # completed for the custom op
    assert {op.name for op in g.ops_in(Phase.OPTIMIZER)} == {
        "W_lr",
        "W_update",
        "Wfc_lr",
        "Wfc_update",
    }
    assert g.tensors["W_new"].role == TensorRole.WEIGHT


def test_onnxruntime_embedding_layernorm_softmax_and_accumulator(tmp_path: Path) -> None:
    """onnxruntime-training's GatherGrad (embedding dW), LayerNormalizationGrad (its scale
    and bias gradients, rank 1, are dropped with the ops that update them), SoftmaxGrad_13
    and InPlaceAccumulatorV2 (gradient accumulation: the buffer, not the flag)."""
    n = helper.make_node
    N, V, D, K = 6, 50, 16, 8
    nodes = [
        n("Gather", ["E", "ids"], ["x"], name="emb"),
        n("LayerNormalization", ["x", "g", "b"], ["ln", "mu", "rstd"], name="ln", axis=-1),
        n("MatMul", ["ln", "W"], ["h"], name="proj"),
        n("Softmax", ["h"], ["p"], name="softmax", axis=-1),
        n("SoftmaxGrad_13", ["p_grad", "p"], ["h_grad"], name="softmax_Grad/SG", domain=MS),
        n("FusedMatMul", ["h_grad", "W"], ["ln_grad"], name="proj_Grad/A", domain=MS, transB=1),
        n("FusedMatMul", ["ln", "h_grad"], ["W_grad"], name="proj_Grad/B", domain=MS, transA=1),
        n(
            "LayerNormalizationGrad",
            ["ln_grad", "x", "g", "mu", "rstd"],
            ["x_grad", "g_grad", "b_grad"],
            name="ln_Grad/LNG",
            domain=MS,
        ),
        n("GatherGrad", ["E_shape", "ids", "x_grad"], ["E_grad"], name="emb_Grad/GG", domain=MS),
        n(
            "InPlaceAccumulatorV2",
            ["W_grad.accumulation.buffer", "W_grad", "reset"],
            ["W_acc_flag", "W_acc"],
            name="acc_W",
            domain=MS,
        ),
        n("Mul", ["W_acc", "lr"], ["W_step"], name="W_lr"),
        n("Sub", ["W", "W_step"], ["W_new"], name="W_update"),
        n("Mul", ["g_grad", "lr"], ["g_step"], name="g_lr"),  # rank 1: not modelled
        n("Sub", ["g", "g_step"], ["g_new"], name="g_update"),
        n("Mul", ["E_grad", "lr"], ["E_step"], name="E_lr"),
        n("Sub", ["E", "E_step"], ["E_new"], name="E_update"),
    ]
    inits = [
        numpy_helper.from_array(np.array([0.1], np.float32), "lr"),
        numpy_helper.from_array(np.array([V, D], np.int64), "E_shape"),
        numpy_helper.from_array(np.array([False]), "reset"),
    ]
    path = _save(
        tmp_path,
        nodes,
        [
            _vi("ids", (N,), TensorProto.INT64),
            _vi("E", (V, D)),
            _vi("g", (D,)),
            _vi("b", (D,)),
            _vi("W", (D, K)),
            _vi("p_grad", (N, K)),
            _vi("W_grad.accumulation.buffer", (D, K)),
            _vi("E_optimizer_first_moment", (V, D)),
        ],
        [_vi("W_new", (D, K)), _vi("g_new", (D,)), _vi("E_new", (V, D))],
        inits,
        name="ortlm",
    )
    g = load_onnx_training(path)
    by = {op.name: op for op in g.ops}
    assert {"g_lr", "g_update"}.isdisjoint(by)  # the bias-like update is not modelled
    assert by["softmax_Grad/SG"].op_type == "SoftmaxGrad" and by["softmax_Grad/SG"].kind == (
        OpKind.NORM
    )
    assert by["softmax_Grad/SG"].macs == 5 * N * K
    lng = by["ln_Grad/LNG"]
    assert lng.op_type == "LayerNormGrad" and lng.inputs == ("ln_grad", "x")
    assert lng.outputs == ("x_grad",) and lng.macs == 5 * N * D
    gg = by["emb_Grad/GG"]
    assert gg.op_type == "EmbeddingGrad" and gg.inputs == ("x_grad", "ids")
    assert g.tensors["E_grad"].shape == (V, D) and gg.macs == N * D
    acc = by["acc_W"]
    # the updated buffer persists (written back); the update reads the working copy
    assert acc.op_type == "GradAccumulate" and acc.outputs == ("W_acc", "W_acc.writeback")
    assert g.tensors["W_acc.writeback"].role == TensorRole.OPTIMIZER_STATE
    assert acc.phase == Phase.OPTIMIZER and acc.macs == D * K
    assert by["emb"].op_type == "Embedding" and g.tensors["ids"].role == TensorRole.INPUT
    assert {op.phase for op in g.ops if op.name.startswith(("emb_Grad", "ln_Grad"))} == {
        Phase.BACKWARD
    }
    assert g.tensors["E"].role == g.tensors["W"].role == TensorRole.WEIGHT
    assert g.tensors["W_new"].role == TensorRole.WEIGHT


def _ort_artifact_graph(tmp_path: Path) -> Path:
    """The training model that onnxruntime-training 1.19's ``generate_artifacts`` writes for
    Conv-Relu-GlobalAveragePool-Flatten-Gemm with cross-entropy (node for node, as
    exported: Shape of forward tensors for the gradients' Reshape / Expand, Scale,
    ConvGrad without dX, InPlaceAccumulatorV2 whose only output is its flag; the AdamW
    update lives in a separate optimizer model)."""
    n = helper.make_node
    nodes = [
        n("Conv", ["X", "W1"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        n("Relu", ["c"], ["r"], name="relu"),
        n("Shape", ["r"], ["gap_Grad/x_shape"], name="gap_Grad/Shape_2", start=0),
        n("GlobalAveragePool", ["r"], ["p"], name="gap"),
        n("Shape", ["p"], ["flat_Grad/input_shape"], name="flat_Grad/Shape_0", start=0),
        n("Flatten", ["p"], ["f"], name="flat", axis=1),
        n("Gemm", ["f", "W2"], ["logits"], name="fc", transB=1),
        n(
            "SoftmaxCrossEntropyLoss",
            ["logits", "labels"],
            ["loss", "log_prob"],
            name="sce",
            reduction="mean",
        ),
        n(
            "SoftmaxCrossEntropyLossGrad",
            ["loss_grad", "log_prob", "labels"],
            ["logits_grad"],
            name="sce_Grad/SoftmaxCrossEntropyLossGrad_0",
            domain=MS,
            reduction="mean",
        ),
        n("Gemm", ["logits_grad", "f"], ["W2_grad"], name="fc_Grad/Gemm_1", transA=1),
        n("Gemm", ["logits_grad", "W2"], ["f_grad"], name="fc_Grad/Gemm_0"),
        n("Reshape", ["f_grad", "flat_Grad/input_shape"], ["p_grad"], name="flat_Grad/R"),
        n(
            "Scale",
            ["p_grad", "gap_Grad/Scale"],
            ["scaled_dY"],
            name="gap_Grad/Scale_1",
            domain=MS,
            scale_down=1,
        ),
        n("Expand", ["scaled_dY", "gap_Grad/x_shape"], ["r_grad"], name="gap_Grad/Expand_3"),
        n("ReluGrad", ["r_grad", "r"], ["c_grad"], name="relu_Grad/ReluGrad_0", domain=MS),
        n(
            "ConvGrad",
            ["c_grad", "X", "W1"],
            ["", "W1_grad"],
            name="conv_Grad/ConvGrad_0",
            domain=MS,
            pads=[1, 1, 1, 1],
        ),
        n(
            "InPlaceAccumulatorV2",
            ["W1_grad.accumulation.buffer", "W1_grad", "lazy_reset_grad"],
            ["W1_grad.accumulation.out"],
            name="GradientAccumulator1",
            domain=MS,
        ),
        n(
            "InPlaceAccumulatorV2",
            ["W2_grad.accumulation.buffer", "W2_grad", "lazy_reset_grad"],
            ["W2_grad.accumulation.out"],
            name="GradientAccumulator2",
            domain=MS,
        ),
    ]
    inits = [
        numpy_helper.from_array(np.array(1.0, np.float32), "loss_grad"),
        numpy_helper.from_array(np.array([64.0], np.float32), "gap_Grad/Scale"),
    ]
    return _save(
        tmp_path,
        nodes,
        [
            _vi("X", (4, 3, 8, 8)),
            _vi("labels", (4,), TensorProto.INT64),
            _vi("W1", (8, 3, 3, 3)),
            _vi("W2", (10, 8)),
            _vi("W1_grad.accumulation.buffer", (8, 3, 3, 3)),
            _vi("W2_grad.accumulation.buffer", (10, 8)),
            _vi("lazy_reset_grad", (1,), TensorProto.BOOL),
        ],
        [
            _vi("loss", ()),
            _vi("W1_grad.accumulation.out", (1,), TensorProto.BOOL),
            _vi("W2_grad.accumulation.out", (1,), TensorProto.BOOL),
        ],
        inits,
        name="ort_artifact",
    )


def test_onnxruntime_training_artifact_imports_as_exported(tmp_path: Path) -> None:
    path = _ort_artifact_graph(tmp_path)
    assert classify_onnx(path) == "training"
    g = load_onnx_training(path)
    by = {op.name: op for op in g.ops}
    assert not {"Shape"} & {op.op_type for op in g.ops}  # folded shape arithmetic
    assert by["gap_Grad/Scale_1"].macs == 4 * 8 and by["gap_Grad/Expand_3"].macs == 4 * 8 * 64
    assert by["gap_Grad/Expand_3"].inputs == ("scaled_dY",)
    conv = 4 * 8 * 3 * 64 * 9
    assert g.total_macs(Phase.FORWARD) == conv + 4 * 8 * 10
    assert g.total_macs(Phase.BACKWARD) == conv + 2 * 4 * 8 * 10  # no dX of the input
    acc = by["GradientAccumulator1"]
    assert acc.phase == Phase.OPTIMIZER and acc.outputs == ("W1_grad.accumulation.buffer.updated",)
    out = g.tensors["W1_grad.accumulation.buffer.updated"]
    assert out.role == TensorRole.OPTIMIZER_STATE and out.shape == (8, 3, 3, 3)
    assert g.checkpoint_candidates == {"X", "r", "f", "log_prob"}


def test_validate_notes_a_training_graph_without_weight_update(tmp_path: Path) -> None:
    from monet_opt import api

    root = Path(__file__).resolve().parents[2]
    inputs = api.load(
        {
            "workload": {"onnx": str(_ort_artifact_graph(tmp_path))},
            "accelerator": str(root / "examples/hardware/tpu_like_quad_core.yaml"),
        }
    )
    assert any("updates no weight" in n for n in inputs.notes)
    mlp = api.load(
        {
            "workload": {"onnx": str(_mlp_sgd(tmp_path))},
            "accelerator": str(root / "examples/hardware/tpu_like_quad_core.yaml"),
        }
    )
    assert not any("updates no weight" in n for n in mlp.notes)
