"""Built-in forward models: op counts, MACs (hand-computed) and parameter counts."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from monet_opt.models import (
    BUILTIN_MODELS,
    GPT2_PRESETS,
    GraphBuilder,
    OpKind,
    Phase,
    TensorRole,
    build_model,
    gpt2,
    gpt2_preset,
    mlp,
    model_options,
    resnet18,
)

RESNET_TYPES = {
    "Conv": 20,
    "Relu": 17,
    "Add": 8,
    "MaxPool": 1,
    "GlobalAveragePool": 1,
    "Flatten": 1,
    "Gemm": 1,
}


def resnet18_macs_by_hand(hw: int, imagenet: bool, classes: int) -> int:
    """Conv + Gemm MACs of one sample (He et al. 2016, Table 1), without BN and biases."""
    if imagenet:
        s = hw // 2  # 7x7/2 conv
        macs = 64 * 3 * s * s * 49
        s //= 2  # 3x3/2 max-pool
    else:
        s = hw
        macs = 64 * 3 * s * s * 9
    c = 64
    for k in (64, 128, 256, 512):
        if k != c:
            s //= 2
            macs += k * c * s * s * 9 + k * c * s * s  # strided 3x3 + 1x1 downsample
            macs += 3 * k * k * s * s * 9
        else:
            macs += 4 * k * k * s * s * 9
        c = k
    return macs + 512 * classes


def test_resnet18_imagenet_matches_stream():
    g = resnet18()
    assert len(g) == 49
    assert Counter(op.op_type for op in g.ops) == RESNET_TYPES
    assert g.total_macs() == resnet18_macs_by_hand(224, True, 1000) == 1_814_073_344
    assert g.total_macs() == pytest.approx(1.8144e9, rel=1e-3)
    assert g.tensors["input"].shape == (1, 3, 224, 224)
    assert g.tensors[g.ops[-1].outputs[0]].shape == (1, 1000)
    # BatchNorm folded, biases dropped: only 4-D conv weights and the 2-D fc weight.
    assert {len(w.shape) for w in g.weights} == {2, 4}
    assert g.parameter_count == 11_678_912


def test_resnet18_cifar_batch4_hand_calc():
    g = resnet18(batch=4, stem="cifar")
    assert len(g) == 48
    assert "MaxPool" not in {op.op_type for op in g.ops}
    per_sample = resnet18_macs_by_hand(32, False, 10)
    assert per_sample == 555_422_720
    assert g.total_macs() == 4 * per_sample == 2_221_690_880
    assert g.tensors[g.ops[-1].outputs[0]].shape == (4, 10)
    stem = g.ops[0]
    assert dict(stem.loop_dims) == {"B": 4, "K": 64, "C": 3, "OY": 32, "OX": 32, "FY": 3, "FX": 3}
    assert build_model("resnet18-cifar", batch=4).total_macs() == g.total_macs()
    assert build_model("resnet18", stem="cifar", batch=4).total_macs() == g.total_macs()


@pytest.mark.parametrize(
    "g",
    [
        resnet18(),
        resnet18(2, "cifar", num_classes=100, precision=8),
        gpt2_preset("mini-lm", batch=2),
        mlp(3, [5, 7, 2]),
    ],
    ids=["resnet", "cifar", "minilm", "mlp"],
)
def test_forward_graph_conventions(g):
    assert all(op.phase == Phase.FORWARD for op in g.ops)
    assert g.checkpoint_candidates == frozenset()
    names = [t for op in g.ops for t in op.outputs]
    assert len(names) == len(set(names))
    for op in g.ops:
        if op.kind in (OpKind.CONV, OpKind.GEMM, OpKind.POOL):
            assert op.macs == math.prod(op.loop_dims.values()), op.name
        if op.kind == OpKind.CONV:
            assert set(op.loop_dims) == {"B", "K", "C", "OY", "OX", "FY", "FX"}
            assert g.tensors[op.inputs[1]].role == TensorRole.WEIGHT
            assert {"stride", "padding", "groups"} <= set(op.attrs)
        elif op.kind == OpKind.GEMM:
            assert set(op.loop_dims) == {"B", "D", "C", "K"}
        elif op.kind in (OpKind.ELEMENTWISE, OpKind.NORM):
            assert set(op.loop_dims) == {"B", "E"}
            assert op.macs >= g.tensors[op.outputs[0]].numel
        elif op.kind == OpKind.POOL:
            assert set(op.loop_dims) == {"B", "K", "OY", "OX", "FY", "FX"}
        elif op.kind == OpKind.SHAPE:
            assert op.macs == 0
    # precision argument reaches activations and weights
    prec = 8 if g.name == "resnet18-cifar" else 16
    for t in g.tensors.values():
        if t.role in (TensorRole.ACTIVATION, TensorRole.WEIGHT):
            assert t.precision == prec


def test_global_average_pool_window():
    g = resnet18()
    gap = next(op for op in g.ops if op.op_type == "GlobalAveragePool")
    assert dict(gap.loop_dims) == {"B": 1, "K": 512, "OY": 1, "OX": 1, "FY": 7, "FX": 7}


def gpt2_params(layers, d, seq, vocab, ffn, tied=True):
    return vocab * d + seq * d + layers * (4 * d * d + 2 * d * ffn) + (0 if tied else d * vocab)


def test_gpt2_small_parameters():
    g = gpt2_preset("gpt2-small")
    expected = gpt2_params(12, 768, 1024, 50257, 3072)
    assert expected == 124_318_464
    assert g.parameter_count == expected  # ~124.4M incl. biases/LN, which MONET drops
    assert g.parameter_count == pytest.approx(124.4e6, rel=2e-3)
    counts = Counter(op.op_type for op in g.ops)
    assert counts["LayerNormalization"] == 2 * 12 + 1
    assert counts["Softmax"] == 12 and counts["Gelu"] == 12
    assert counts["MatMul"] == 24 and counts["Gemm"] == 6 * 12 + 1
    # LM head reads the token-embedding table (tied)
    assert g.ops[-1].inputs[1] == "wte.weight"
    untied = gpt2(**{**GPT2_PRESETS["gpt2-small"], "layers": 1, "tied_embeddings": False})
    assert untied.parameter_count == gpt2_params(1, 768, 1024, 50257, 3072, tied=False)


def test_gpt2_attention_loop_dims_and_macs():
    b, L, h, d, s, v, f = 2, 2, 4, 64, 16, 100, 96
    g = gpt2(L, h, d, s, v, f, batch=b, activation="relu", layernorm=False)
    qk = next(op for op in g.ops if op.name == "h0.attn.qk")
    assert dict(qk.loop_dims) == {"B": b * h, "D": s, "C": d // h, "K": s}
    assert qk.inputs == ("h0.attn.q_split.out", "h0.attn.k_split.out")
    av = next(op for op in g.ops if op.name == "h0.attn.av")
    assert dict(av.loop_dims) == {"B": b * h, "D": s, "C": s, "K": d // h}
    sm = next(op for op in g.ops if op.name == "h0.attn.softmax")
    assert sm.kind == OpKind.NORM and sm.macs == 5 * b * h * s * s
    emb = g.ops[0]
    assert (emb.op_type, emb.kind) == ("Embedding", OpKind.ELEMENTWISE)
    assert g.tensors["wte.weight"].shape == (v, d)
    assert g.tensors["wpe.weight"].shape == (s, d)
    per_layer = b * s * (4 * d * d + 2 * d * f) + 2 * b * s * s * d
    assert g.total_macs() == L * per_layer + b * s * d * v
    assert "LayerNormalization" not in {op.op_type for op in g.ops}
    assert all(op.kind != OpKind.SHAPE or op.macs == 0 for op in g.ops)


def test_mini_lm_presets():
    g = build_model("mini-lm")
    types = Counter(op.op_type for op in g.ops)
    assert types["Relu"] == 1 and "LayerNormalization" not in types and "Gelu" not in types
    assert g.tensors["wte.weight"].shape == (4000, 512)
    assert g.tensors["h0.mlp.up.weight"].shape == (512, 1376)
    assert g.parameter_count == gpt2_params(1, 512, 256, 4000, 1376)
    g2 = build_model("mini-lm-2l", batch=2)
    assert g2.parameter_count == gpt2_params(2, 384, 256, 20000, 1536)
    qk = next(op for op in g2.ops if op.name == "h1.attn.qk")
    assert dict(qk.loop_dims) == {"B": 2 * 6, "D": 256, "C": 64, "K": 256}
    assert build_model("gpt2", preset="mini-lm").total_macs() == g.total_macs()
    small = build_model("gpt2", layers=1, heads=2, d_model=8, seq=4, vocab=10, ffn=16)
    assert small.parameter_count == gpt2_params(1, 8, 4, 10, 16)


def test_mlp():
    g = mlp(batch=3, sizes=[10, 20, 30, 5])
    assert [op.op_type for op in g.ops] == ["Gemm", "Relu", "Gemm", "Relu", "Gemm"]
    assert g.total_macs() == 3 * (10 * 20 + 20 * 30 + 30 * 5)
    assert dict(g.ops[0].loop_dims) == {"B": 1, "D": 3, "C": 10, "K": 20}
    assert g.parameter_count == 10 * 20 + 20 * 30 + 30 * 5
    assert [op.op_type for op in mlp(1, [4, 4], activation="gelu").ops] == ["Gemm"]


def test_registry_builds_every_model():
    small = {
        "gpt2-small": None,  # large but cheap to build
        "gpt2": {"preset": "mini-lm"},
        "mlp": {"sizes": [4, 3]},
    }
    for name in BUILTIN_MODELS:
        g = build_model(name, **(small.get(name) or {}))
        assert len(g) > 0


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda: build_model("vgg16"), "resnet18-cifar"),
        (lambda: build_model("resnet18", stride=2), "stem"),
        (lambda: build_model("mini-lm", layers=2), "batch"),
        (lambda: build_model("gpt2", preset="gpt3"), "gpt2-small"),
        (lambda: build_model("gpt2", preset="mini-lm", layers=3), "either"),
        (lambda: build_model("gpt2", depth=3), "allowed"),
        (lambda: resnet18(stem="tiny"), "cifar"),
        (lambda: resnet18(batch=0), "batch"),
        (lambda: gpt2(1, 5, 64, 8, 10, 16), "divisible"),
        (lambda: gpt2(1, 4, 64, 8, 10, 16, activation="swish"), "gelu"),
        (lambda: mlp(1, [4]), "two"),
        (lambda: mlp(1, [4, 4], precision=0), "precision"),
    ],
)
def test_bad_arguments(call, needle):
    with pytest.raises(ValueError, match=needle):
        call()


def test_builder_grouped_conv():
    gb = GraphBuilder("dw")
    x = gb.input("x", (2, 32, 8, 8))
    w = gb.weight("w", (32, 1, 3, 3))
    gb.conv("dw", x, w, stride=1, padding=1, groups=32)
    op = gb.build().ops[0]
    assert dict(op.loop_dims) == {
        "B": 2,
        "G": 32,
        "K": 1,
        "C": 1,
        "OY": 8,
        "OX": 8,
        "FY": 3,
        "FX": 3,
    }
    # macs = B*K*C*OY*OX*FY*FX / G with total channels K = C = 32
    assert op.macs == 2 * 32 * 32 * 8 * 8 * 9 // 32


def test_build_model_unknown_option_lists_the_model_options():
    # Before: "unknown option(s) ['depth']; allowed options [...]" (Python list reprs).
    with pytest.raises(ValueError) as exc:
        build_model("mlp", depth=3)
    assert str(exc.value) == (
        "model 'mlp': unknown option 'depth'; allowed options: activation, batch, precision, sizes"
    )
    with pytest.raises(ValueError, match=r"^model 'resnet18-cifar': unknown options 'a', 'stem'"):
        build_model("resnet18-cifar", stem="cifar", a=1)
    assert model_options("mini-lm") == ("batch", "precision")
    assert "preset" in model_options("gpt2") and "d_model" in model_options("gpt2")
    with pytest.raises(ValueError, match="unknown model 'vgg'"):
        model_options("vgg")
