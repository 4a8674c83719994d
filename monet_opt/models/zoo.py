"""Built-in forward models: ResNet-18 (ImageNet / CIFAR stem), GPT-2-style decoders, MLPs,
spiking networks (:mod:`monet_opt.models.snn`).

Every builder returns a forward :class:`~monet_opt.models.ir.Graph` (all ops
``Phase.FORWARD``, no checkpoint candidates) that follows the op conventions documented in
:mod:`monet_opt.models.builder`.  Biases and rank-1 parameters (LayerNorm gamma/beta) are
dropped as in MONET (Morlier et al., arXiv:2603.15002, 2026), and BatchNorm is folded into
the convolutions as in Stream's ``resnet18.onnx``.

Sources
-------
* ResNet-18: He et al., "Deep Residual Learning for Image Recognition", CVPR 2016, Table 1;
  the layout (node order, 49 nodes) of Stream's ``resnet18.onnx`` (github.com/KULeuven-MICAS/
  stream, ``stream/inputs/examples/workload/resnet18.onnx``, identical in stream-dse 0.0.8 and
  1.13.14); the CIFAR stem of MONET's edge workload (input 4x3x32x32, 3x3 stride-1 stem, 10
  classes; Morlier et al., "MONET: Modeling and Optimization of neural NEtwork Training from
  Edge to Data Centers", arXiv:2603.15002, 2026).
* GPT-2: Radford et al. 2019 (GPT-2 small: 12 layers, 12 heads, d 768, context 1024,
  vocabulary 50257, tied input/output embeddings); the mini-LM presets of MONET's
  data-center workload (Morlier et al., arXiv:2603.15002, 2026; ``docs/hardware_sources.md``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence

from monet_opt.models.builder import INDEX_PRECISION, GraphBuilder
from monet_opt.models.ir import Graph
from monet_opt.models.snn import SNN_PRESETS, snn

__all__ = [
    "resnet18",
    "gpt2",
    "gpt2_preset",
    "GPT2_PRESETS",
    "mlp",
    "BUILTIN_MODELS",
    "build_model",
    "model_options",
    "check_model_options",
]

_ACTIVATIONS = {"relu": "Relu", "gelu": "Gelu"}


def _check_positive(**kwargs: object) -> None:
    for k, v in kwargs.items():
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise ValueError(f"{k} must be a positive int, got {v!r}")


def _check_choice(arg: str, value: object, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{arg}={value!r} is not allowed; choose one of {sorted(allowed)}")


# --------------------------------------------------------------------------------------
# ResNet-18
# --------------------------------------------------------------------------------------
def resnet18(
    batch: int = 1,
    stem: str = "imagenet",
    num_classes: int | None = None,
    precision: int = 16,
) -> Graph:
    """ResNet-18 forward graph without BatchNorm (folded) and without biases.

    Parameters
    ----------
    batch
        Samples per step ``N``.
    stem
        ``"imagenet"``: input ``(N, 3, 224, 224)``, 7x7/2 conv (pad 3) + 3x3/2 max-pool
        (pad 1), 1000 classes; 49 ops, 1.8141e9 MACs at batch 1 (Conv + Gemm), identical to
        Stream's ``resnet18.onnx``.  ``"cifar"``: input ``(N, 3, 32, 32)``, 3x3/1 conv (pad 1),
        no max-pool, 10 classes; 48 ops, 5.554e8 MACs per sample.
    num_classes
        Classifier outputs (default 1000 for ImageNet, 10 for CIFAR).
    precision
        Bits per activation and weight element.

    Returns
    -------
    Graph
        Ops: 20 Conv, 17 Relu, 8 Add, [1 MaxPool], 1 GlobalAveragePool, 1 Flatten, 1 Gemm.
        Output logits ``(N, num_classes)``.

    Raises
    ------
    ValueError
        On a non-positive ``batch``/``num_classes``/``precision`` or an unknown ``stem``.
    """
    _check_choice("stem", stem, ("imagenet", "cifar"))
    if num_classes is None:
        num_classes = 1000 if stem == "imagenet" else 10
    _check_positive(batch=batch, num_classes=num_classes, precision=precision)
    gb = GraphBuilder("resnet18" if stem == "imagenet" else "resnet18-cifar", precision)
    hw = 224 if stem == "imagenet" else 32
    x = gb.input("input", (batch, 3, hw, hw))

    def conv(name: str, x: str, k: int, kernel: int, stride: int, pad: int) -> str:
        c = gb.shape(x)[1]
        w = gb.weight(f"{name}.weight", (k, c, kernel, kernel))
        return gb.conv(name, x, w, stride=stride, padding=pad)

    if stem == "imagenet":
        x = conv("conv1", x, 64, 7, 2, 3)
        x = gb.elementwise("relu", "Relu", (x,))
        x = gb.pool("maxpool", "MaxPool", x, kernel=3, stride=2, padding=1)
    else:
        x = conv("conv1", x, 64, 3, 1, 1)
        x = gb.elementwise("relu", "Relu", (x,))

    channels = 64
    for stage, k in enumerate((64, 128, 256, 512), start=1):
        for blk in range(2):
            p = f"layer{stage}.{blk}"
            stride = 2 if (stage > 1 and blk == 0) else 1
            identity = x
            y = conv(f"{p}.conv1", x, k, 3, stride, 1)
            y = gb.elementwise(f"{p}.relu", "Relu", (y,))
            y = conv(f"{p}.conv2", y, k, 3, 1, 1)
            if stride != 1 or channels != k:
                identity = conv(f"{p}.downsample", x, k, 1, stride, 0)
            y = gb.elementwise(f"{p}.add", "Add", (y, identity))
            x = gb.elementwise(f"{p}.relu_1", "Relu", (y,))
            channels = k
    x = gb.global_avg_pool("avgpool", x)
    x = gb.shape_op("flatten", "Flatten", (x,), (batch, channels), attrs={"axis": 1})
    w = gb.weight("fc.weight", (num_classes, channels))
    gb.gemm("fc", x, w, trans_b=True)
    return gb.build()


# --------------------------------------------------------------------------------------
# GPT-2 style decoder
# --------------------------------------------------------------------------------------
def gpt2(
    layers: int,
    heads: int,
    d_model: int,
    seq: int,
    vocab: int,
    ffn: int,
    batch: int = 1,
    activation: str = "gelu",
    layernorm: bool = True,
    tied_embeddings: bool = True,
    precision: int = 16,
    name: str = "gpt2",
) -> Graph:
    """Decoder-only transformer (GPT-2 layout, pre-LayerNorm) forward graph.

    Parameters
    ----------
    layers, heads, d_model, seq, vocab, ffn
        Number of blocks, attention heads, model width, sequence length (tokens), vocabulary
        size and FFN hidden width.  ``d_model`` must be divisible by ``heads``.
    batch
        Sequences per step ``N``.
    activation
        FFN activation, ``"gelu"`` or ``"relu"``.
    layernorm
        Insert LayerNormalization ops (before attention, before FFN, final).  Their rank-1
        gamma/beta parameters are dropped as in MONET.
    tied_embeddings
        LM head reuses the token-embedding table ``wte.weight`` ``(vocab, d_model)``
        (transposed); otherwise it has its own ``lm_head.weight`` ``(d_model, vocab)``.
    precision
        Bits per activation and weight element (token ids are int32).
    name
        Graph name.

    Returns
    -------
    Graph
        Input token ids ``(N, seq)`` (role INPUT, 32-bit), output logits ``(N, seq, vocab)``.
        Per layer: [LN], Q/K/V Gemm (``[d, d]`` weights), head-split SHAPE ops, QK^T MatMul
        (``B = N*heads, D = seq, C = d/heads, K = seq``), Softmax (causal mask implicit, full
        ``seq x seq`` cost), attention·V MatMul, head merge, output projection, residual Add,
        [LN], FFN up Gemm, activation, FFN down Gemm, residual Add.  Biases are dropped;
        the positional embedding ``wpe.weight`` ``(seq, d)`` is added with a broadcast Add.

    Raises
    ------
    ValueError
        On non-positive sizes, ``d_model % heads != 0`` or an unknown activation.
    """
    _check_positive(
        layers=layers,
        heads=heads,
        d_model=d_model,
        seq=seq,
        vocab=vocab,
        ffn=ffn,
        batch=batch,
        precision=precision,
    )
    _check_choice("activation", activation, tuple(_ACTIVATIONS))
    if d_model % heads:
        raise ValueError(f"d_model={d_model} is not divisible by heads={heads}")
    dh = d_model // heads
    n, s, d, h = batch, seq, d_model, heads
    gb = GraphBuilder(name, precision)
    ids = gb.input("input_ids", (n, s), precision=INDEX_PRECISION)
    wte = gb.weight("wte.weight", (vocab, d))
    x = gb.embedding("wte", ids, wte)
    wpe = gb.weight("wpe.weight", (s, d))
    x = gb.elementwise("wpe.add", "Add", (x, wpe))
    act = _ACTIVATIONS[activation]

    def linear(name: str, x: str, c: int, k: int) -> str:
        return gb.gemm(name, x, gb.weight(f"{name}.weight", (c, k)))

    for layer in range(layers):
        p = f"h{layer}"
        a = gb.norm(f"{p}.ln_1", "LayerNormalization", x) if layernorm else x
        q = linear(f"{p}.attn.q", a, d, d)
        k = linear(f"{p}.attn.k", a, d, d)
        v = linear(f"{p}.attn.v", a, d, d)
        qh = gb.shape_op(f"{p}.attn.q_split", "SplitHeads", (q,), (n, h, s, dh))
        kt = gb.shape_op(
            f"{p}.attn.k_split", "SplitHeads", (k,), (n, h, dh, s), attrs={"transpose": True}
        )
        vh = gb.shape_op(f"{p}.attn.v_split", "SplitHeads", (v,), (n, h, s, dh))
        scores = gb.matmul(f"{p}.attn.qk", qh, kt)
        probs = gb.norm(f"{p}.attn.softmax", "Softmax", scores, attrs={"causal": True})
        ctx = gb.matmul(f"{p}.attn.av", probs, vh)
        ctx = gb.shape_op(f"{p}.attn.merge", "MergeHeads", (ctx,), (n, s, d))
        o = linear(f"{p}.attn.proj", ctx, d, d)
        x = gb.elementwise(f"{p}.attn.residual", "Add", (x, o))
        a = gb.norm(f"{p}.ln_2", "LayerNormalization", x) if layernorm else x
        u = linear(f"{p}.mlp.up", a, d, ffn)
        u = gb.elementwise(f"{p}.mlp.act", act, (u,))
        u = linear(f"{p}.mlp.down", u, ffn, d)
        x = gb.elementwise(f"{p}.mlp.residual", "Add", (x, u))
    if layernorm:
        x = gb.norm("ln_f", "LayerNormalization", x)
    if tied_embeddings:
        gb.gemm("lm_head", x, wte, trans_b=True)
    else:
        linear("lm_head", x, d, vocab)
    return gb.build()


#: GPT-2 presets (keyword arguments of :func:`gpt2`); sources in the module docstring.
GPT2_PRESETS: dict[str, dict[str, object]] = {
    "gpt2-small": dict(
        layers=12,
        heads=12,
        d_model=768,
        seq=1024,
        vocab=50257,
        ffn=3072,
        activation="gelu",
        layernorm=True,
        tied_embeddings=True,
    ),
    # MONET's data-center workload "LLaMA-2 / 8" (Morlier et al., arXiv:2603.15002, 2026).
    "mini-lm": dict(
        layers=1,
        heads=4,
        d_model=512,
        seq=256,
        vocab=4000,
        ffn=1376,
        activation="relu",
        layernorm=False,
        tied_embeddings=True,
    ),
    # MONET's other mini-LM preset (Morlier et al., arXiv:2603.15002, 2026).
    "mini-lm-2l": dict(
        layers=2,
        heads=6,
        d_model=384,
        seq=256,
        vocab=20000,
        ffn=1536,
        activation="relu",
        layernorm=False,
        tied_embeddings=True,
    ),
}


def gpt2_preset(name: str, batch: int = 1, precision: int = 16) -> Graph:
    """A :func:`gpt2` graph from :data:`GPT2_PRESETS`.

    Parameters
    ----------
    name
        ``"gpt2-small"``, ``"mini-lm"`` or ``"mini-lm-2l"``.
    batch
        Sequences per step.
    precision
        Bits per activation and weight element.

    Raises
    ------
    ValueError
        On an unknown preset name (the message lists the presets).
    """
    _check_choice("preset", name, tuple(GPT2_PRESETS))
    return gpt2(**GPT2_PRESETS[name], batch=batch, precision=precision, name=name)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# MLP
# --------------------------------------------------------------------------------------
def mlp(
    batch: int = 1,
    sizes: Sequence[int] = (784, 256, 10),
    activation: str = "relu",
    precision: int = 16,
) -> Graph:
    """Multi-layer perceptron: ``Gemm -> act -> ... -> Gemm`` (no activation after the last).

    Parameters
    ----------
    batch
        Samples per step ``N``; input ``(N, sizes[0])``.
    sizes
        Layer widths including input and output (at least two entries); layer ``i`` has the
        weight ``(sizes[i], sizes[i+1])``.
    activation
        ``"relu"`` or ``"gelu"``.
    precision
        Bits per activation and weight element.

    Raises
    ------
    ValueError
        On fewer than two sizes, non-positive sizes or an unknown activation.
    """
    sizes = tuple(sizes)
    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least two widths (input and output), got {sizes}")
    _check_positive(batch=batch, precision=precision)
    for s in sizes:
        _check_positive(size=s)
    _check_choice("activation", activation, tuple(_ACTIVATIONS))
    gb = GraphBuilder("mlp", precision)
    x = gb.input("input", (batch, sizes[0]))
    for i, (c, k) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        x = gb.gemm(f"fc{i}", x, gb.weight(f"fc{i}.weight", (c, k)))
        if i < len(sizes) - 2:
            x = gb.elementwise(f"act{i}", _ACTIVATIONS[activation], (x,))
    return gb.build()


# --------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------
def _resnet18_cifar(batch: int = 1, num_classes: int | None = None, precision: int = 16) -> Graph:
    return resnet18(batch=batch, stem="cifar", num_classes=num_classes, precision=precision)


def _gpt2_entry(
    preset: str | None = None,
    batch: int = 1,
    precision: int = 16,
    **sizes: object,
) -> Graph:
    if preset is not None:
        if sizes:
            raise ValueError(
                f"gpt2: give either preset= or explicit sizes, not both ({sorted(sizes)})"
            )
        return gpt2_preset(preset, batch=batch, precision=precision)
    allowed = set(inspect.signature(gpt2).parameters) - {"batch", "precision"}
    bad = set(sizes) - allowed
    if bad:
        raise ValueError(f"gpt2: unknown option(s) {sorted(bad)}; allowed {sorted(allowed)}")
    return gpt2(batch=batch, precision=precision, **sizes)  # type: ignore[arg-type]


def _preset_entry(preset: str) -> Callable[..., Graph]:
    def build(batch: int = 1, precision: int = 16) -> Graph:
        return gpt2_preset(preset, batch=batch, precision=precision)

    build.__name__ = f"gpt2_{preset.replace('-', '_')}"
    return build


def _snn_entry(preset: str) -> Callable[..., Graph]:
    def build(**options: object) -> Graph:
        return snn(preset, **options)  # type: ignore[arg-type]

    sig = inspect.signature(snn)
    build.__signature__ = sig.replace(  # type: ignore[attr-defined]
        parameters=[p for p in sig.parameters.values() if p.name != "preset"]
    )
    build.__name__ = f"snn_{preset}"
    return build


#: Model name -> builder.  See :func:`build_model` for the options of each.
BUILTIN_MODELS: dict[str, Callable[..., Graph]] = {
    "resnet18": resnet18,
    "resnet18-cifar": _resnet18_cifar,
    "gpt2": _gpt2_entry,
    "gpt2-small": _preset_entry("gpt2-small"),
    "mini-lm": _preset_entry("mini-lm"),
    "mini-lm-2l": _preset_entry("mini-lm-2l"),
    "mlp": mlp,
    "snn": snn,
    **{f"snn-{p}": _snn_entry(p) for p in SNN_PRESETS},
}

_GPT2_OPTIONS = frozenset(inspect.signature(gpt2).parameters) | {"preset"}


def _allowed_options(name: str) -> frozenset[str]:
    if name == "gpt2":
        return _GPT2_OPTIONS
    return frozenset(inspect.signature(BUILTIN_MODELS[name]).parameters)


def build_model(name: str, **options: object) -> Graph:
    """Build a registered forward model by name.

    Parameters
    ----------
    name
        One of :data:`BUILTIN_MODELS`: ``"resnet18"`` (options ``batch, stem, num_classes,
        precision``), ``"resnet18-cifar"`` (``batch, num_classes, precision``), ``"gpt2"``
        (``preset`` or the sizes of :func:`gpt2`, plus ``batch, precision``),
        ``"gpt2-small"``, ``"mini-lm"``, ``"mini-lm-2l"`` (``batch, precision``), ``"mlp"``
        (``batch, sizes, activation, precision``), ``"snn"`` (:func:`monet_opt.models.snn.snn`)
        and its presets ``"snn-nmnist"``, ``"snn-shd"``, ``"snn-dvsgesture"`` (the same
        options without ``preset``; their training graph is built by
        :func:`monet_opt.models.snn.snn_training_graph`).
    **options
        Keyword options of that builder.

    Returns
    -------
    Graph
        The forward graph.

    Raises
    ------
    ValueError
        On an unknown model name or option (the message lists the allowed values), or an
        invalid option value.
    """
    check_model_options(name, options)
    return BUILTIN_MODELS[name](**options)


def model_options(name: str) -> tuple[str, ...]:
    """Sorted option names that :func:`build_model` accepts for model ``name``.

    Raises
    ------
    ValueError
        On an unknown model name (the message lists :data:`BUILTIN_MODELS`).
    """
    if name not in BUILTIN_MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(BUILTIN_MODELS)}")
    return tuple(sorted(_allowed_options(name)))


def check_model_options(name: str, options: Mapping[str, object]) -> None:
    """Reject option names that model ``name`` does not take.

    Raises
    ------
    ValueError
        ``model 'mlp': unknown option 'depth'; allowed options: activation, batch,
        precision, sizes`` (or an unknown model name).
    """
    allowed = model_options(name)
    unknown = sorted(str(k) for k in options if k not in allowed)
    if unknown:
        names = ", ".join(repr(k) for k in unknown)
        raise ValueError(
            f"model {name!r}: unknown option{'s' if len(unknown) > 1 else ''} {names}; "
            f"allowed options: {', '.join(allowed)}"
        )
