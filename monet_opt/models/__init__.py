"""Workload models: the training-graph IR, built-in models, ONNX import, training derivation.

Typical use::

    from monet_opt.models import build_model, derive_training_graph, Precision
    fwd = build_model("resnet18-cifar", batch=4)
    train = derive_training_graph(fwd, optimizer="adamw", precision=Precision())
"""

from monet_opt.models.builder import ELEMENT_OP_COST, NORM_OPS_PER_ELEMENT, GraphBuilder
from monet_opt.models.ir import (
    LOOP_DIMS,
    MAC_KINDS,
    Graph,
    Op,
    OpKind,
    Phase,
    Tensor,
    TensorRole,
)
from monet_opt.models.onnx_import import (
    ONNX_OPTIONS,
    SUPPORTED_OPS,
    OnnxImportError,
    export_notes,
    load_onnx,
)
from monet_opt.models.onnx_training import classify_onnx, load_onnx_training

# torch is imported only when from_torch is called (optional extra "torch")
from monet_opt.models.torch_import import from_torch
from monet_opt.models.training import (
    ADAMW_OPS_PER_ELEMENT,
    LOSSES,
    OPTIMIZERS,
    SGD_OPS_PER_ELEMENT,
    Precision,
    derive_training_graph,
    training_summary,
)
from monet_opt.models.zoo import (
    BUILTIN_MODELS,
    GPT2_PRESETS,
    build_model,
    check_model_options,
    gpt2,
    gpt2_preset,
    mlp,
    model_options,
    resnet18,
)

__all__ = [
    "ADAMW_OPS_PER_ELEMENT",
    "BUILTIN_MODELS",
    "ELEMENT_OP_COST",
    "GPT2_PRESETS",
    "LOOP_DIMS",
    "LOSSES",
    "MAC_KINDS",
    "NORM_OPS_PER_ELEMENT",
    "ONNX_OPTIONS",
    "OPTIMIZERS",
    "SGD_OPS_PER_ELEMENT",
    "SUPPORTED_OPS",
    "Graph",
    "GraphBuilder",
    "OnnxImportError",
    "Op",
    "OpKind",
    "Phase",
    "Precision",
    "Tensor",
    "TensorRole",
    "build_model",
    "check_model_options",
    "derive_training_graph",
    "export_notes",
    "from_torch",
    "gpt2",
    "gpt2_preset",
    "load_onnx",
    "load_onnx_training",
    "classify_onnx",
    "mlp",
    "model_options",
    "resnet18",
    "training_summary",
]
