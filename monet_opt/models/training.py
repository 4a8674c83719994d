"""Derive a training graph (forward + loss + backward + optimizer) from a forward graph.

The derivation mirrors what MONET obtains from onnxruntime-training after its rewrite passes
(Morlier et al., "MONET: Modeling and Optimization of neural NEtwork Training from Edge to
Data Centers", arXiv:2603.15002, 2026; its graphs are onnxruntime-training exports rewritten
as listed in ``docs/hardware_sources.md``), at the granularity of one op per layer-level gradient:

* **Loss**: the final forward op's output (the logits) feeds a ``SoftmaxCrossEntropy`` op
  (kind ``LOSS``, phase ``FORWARD``) with a ``LABEL`` tensor of class indices (int32, shape
  ``logits.shape[:-1]``) and a scalar fp32 ``LOSS`` output; ``SoftmaxCrossEntropyGrad``
  (``ELEMENTWISE``, phase ``BACKWARD``) reads logits and labels (it recomputes the softmax)
  and writes ``dLogits``.  Both cost ``5 * elements`` element ops.  ``loss="mse"`` uses
  ``MSELoss`` / ``MSELossGrad`` with a target of the output's shape instead.
* **Conv**: ``ConvGradInput`` (dX, a transposed conv as in MONET: ``OpKind.CONV``, loop dims
  of the forward with ``K`` and ``C`` swapped, so ``OY``/``OX`` still iterate over the
  forward output (``dY``) positions; inputs ``(dY, W)``) and ``ConvGradWeight`` (dW:
  the forward loop dims, inputs ``(X, dY)``, ``attrs["reduction"] = ("B", "OY", "OX")``).
  Both have the forward MACs.  No dX is produced for a tensor that does not require a
  gradient (the network input: the first conv has only dW).
* **Gemm / MatMul with a weight** ``O[B,D,K] += X[B,D,C] W[C,K]``: ``GemmGradInput``
  (loop dims ``B, D, C=K_fwd, K=C_fwd``; inputs ``(dY, W)``) and ``GemmGradWeight``
  (``B=1, D=C_fwd, C=B*D, K=K_fwd``; inputs ``(X, dY)``).  **MatMul of two activations**
  ``A @ Bm``: ``MatMulGradA`` (``(dY, Bm)``, loop dims as GemmGradInput) and
  ``MatMulGradB`` (``(A, dY)``, loop dims ``B, D=C_fwd, C=D_fwd, K=K_fwd``).  All have the
  forward MACs, so backward MACs are 2x forward per conv/GEMM layer.  GEMM gradients are
  re-indexed to the standard ``O[B,D,K] += I1[B,D,C] I2[C,K]`` form, so their reduction
  dimension is ``C`` and they carry no ``reduction`` attribute.
* **Element-wise**: ``ReluGrad`` (``dY``, ``Y``), ``SigmoidGrad``/``TanhGrad`` (``Y``),
  ``GeluGrad``/``ErfGrad``/``SiluGrad``/``ClipGrad``/``HardSigmoidGrad``/
  ``HardSwishGrad``/``PowGrad``/``LogGrad``/``SinGrad``/``CosGrad``/``AbsGrad`` (``X``),
  ``SqrtGrad``/``ExpGrad``/``ReciprocalGrad`` (``Y``), ``CastGrad``/``NegGrad``/
  ``TriluGrad`` (only ``dY``: the same conversion / sign / mask), ``DropoutGrad`` (reads
  ``Y``: the kept positions are where ``Y != 0``, so the mask is recovered from the output
  instead of being stored as an extra output), ``MulGrad`` (the other factor),
  ``DivGrad``; costs equal the forward per-element cost.  **Add**: no op, the gradient of
  each same-shaped input *is* ``dY`` (alias); an input that was broadcast (or is a weight)
  gets a ``ReduceSum`` op.  ``Sub``'s second input gets a ``SubGrad`` (negation).
  Comparisons and logic ops (``Equal``, ``Less``, ``Not``...) pass no gradient.
* **Data movement**: ``ScatterNDGrad`` (``dY`` with the overwritten slices zeroed) and
  ``ScatterNDUpdatesGrad`` (those slices, for computed updates), one op per element;
  ``WhereGrad`` for each data branch of ``Where`` (``dY`` masked by the
  condition: reads ``dY`` and the condition when it is a tensor; 1 op per ``dY`` element;
  the condition gets no gradient).  ``ExpandGrad`` (a ``ReduceSum`` of ``dY`` over the
  broadcast dims: reads ``dY``, 1 op per ``dY`` element).  ``GatherGrad`` /
  ``GatherElementsGrad`` for a gather on activations (a scatter-add of ``dY`` into a zero
  tensor of the input's shape: reads ``dY`` and the index tensor when it is one; cost
  ``numel(X)`` zero writes + ``numel(dY)`` adds, loop dims of ``X``; the indices get no
  gradient).
* **Reductions** (``NORM`` ops ReduceSum / ReduceMean / ReduceMax / ReduceMin): ``dX`` is
  an ``ELEMENTWISE`` op with the loop dims of ``X``: ``ReduceSumGrad`` / ``ReduceMeanGrad``
  broadcast ``dY`` (reads only ``dY``; ``numel(X)`` ops), ``ReduceMaxGrad`` /
  ``ReduceMinGrad`` route ``dY`` to the arg-max positions (reads ``dY``, ``X`` and ``Y``:
  compare and select, ``2 * numel(X)`` ops).
* **Pool**: ``MaxPoolGrad`` (reads ``X``), ``AveragePoolGrad`` / ``GlobalAveragePoolGrad``
  (only ``dY``), forward loop dims and cost.  **Norm**: ``SoftmaxGrad`` (reads ``Y``),
  ``LayerNormGrad`` / ``BatchNormGrad`` (read ``X``), ``LogSoftmaxGrad`` (reads ``Y``),
  forward cost.  **Embedding**:
  ``EmbeddingGrad`` (scatter-add of ``dY`` into the table gradient; reads the token ids,
  a network input, or a constant index tensor such as position ids).  **Shape** ops get
  zero-cost ``<op_type>Grad`` shape ops (``SliceGrad`` pads ``dY`` back to the input's
  shape, ``PadGrad`` slices it, ``ConcatGrad`` slices one input's part).  **Einsum**
  matrix products differentiate as GEMMs (below).
* **Fan-out**: a tensor read by several ops receives several gradient contributions; a
  ``GradAccumulate`` op (``ELEMENTWISE``, ``(n-1) * elements`` adds) sums them.  A weight
  used twice (tied embeddings) gets a ``GradAccumulate`` on its ``dW``.  When all the
  contributions are ``SliceGrad`` of slices that together cover the tensor exactly (the
  outputs of a ``Split``, e.g. the Q/K/V split), they are disjoint: a zero-cost ``SHAPE``
  op ``GradConcat`` assembles them instead.
* **Optimizer** (phase/kind ``OPTIMIZER``), one fused op per weight tensor: ``AdamW``
  reads ``(dW, W, m, v, master)`` and writes ``(W_next, m_next, v_next, master_next)``,
  ``17 * numel`` element ops (MONET's 15 element-wise Adam ops + 2 for weight decay);
  ``m``, ``v`` and the fp32 ``master`` copy are ``OPTIMIZER_STATE`` tensors of the weight's
  shape at ``precision.optimizer_state`` bits.  ``SGD`` (momentum) reads
  ``(dW, W, momentum)`` and writes ``(W_next, momentum_next)``, ``4 * numel`` ops.

Naming: backward ops are ``f"{fwd}.dX"`` (first operand), ``f"{fwd}.dW"`` (weight operand),
``f"{fwd}.dX2"`` (second activation operand of a MatMul), ``f"{fwd}.grad"`` (single-input
element-wise/pool/norm/shape ops) and ``f"{fwd}.grad{i}"`` (input ``i`` of a multi-input
element-wise/shape op); ``f"{tensor}.grad_acc"`` accumulates; optimizer ops are
``f"{w}.adamw"`` / ``f"{w}.sgd"``; all set :attr:`Op.forward_op`.  Gradient tensors are
``f"d[{t}]@{op}"`` (one contribution to ``t``) and ``f"d[{t}]"`` (accumulated).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from monet_opt.models.builder import (
    ELEMENT_OP_COST,
    INDEX_PRECISION,
    NORM_OPS_PER_ELEMENT,
    batch_elements,
)
from monet_opt.models.ir import Graph, Op, OpKind, Phase, Tensor, TensorRole

__all__ = [
    "Precision",
    "OPTIMIZERS",
    "LOSSES",
    "ADAMW_OPS_PER_ELEMENT",
    "SGD_OPS_PER_ELEMENT",
    "derive_training_graph",
    "training_summary",
]

#: Accepted ``optimizer`` values.
OPTIMIZERS: tuple[str, ...] = ("adamw", "sgd")
#: Accepted ``loss`` values.
LOSSES: tuple[str, ...] = ("cross_entropy", "mse")
#: AdamW element ops per parameter: 15 Adam ops + 2 weight decay (MONET's split of the
#: onnxruntime-training AdamW update, Morlier et al., arXiv:2603.15002, 2026).
ADAMW_OPS_PER_ELEMENT: int = 17
#: SGD-momentum element ops per parameter (v = mu*v + g; w = w - lr*v).
SGD_OPS_PER_ELEMENT: int = 4
#: Bits of the scalar loss.
LOSS_PRECISION: int = 32

# Unary element-wise ops: backward op type and which forward tensor it reads ("X" or "Y").
_UNARY_GRAD: dict[str, tuple[str, str]] = {
    "Relu": ("ReluGrad", "Y"),
    "Sigmoid": ("SigmoidGrad", "Y"),
    "Tanh": ("TanhGrad", "Y"),
    "Gelu": ("GeluGrad", "X"),
    "Erf": ("ErfGrad", "X"),
    "Silu": ("SiluGrad", "X"),
    "Clip": ("ClipGrad", "X"),  # dY masked where lo <= x <= hi
    "HardSigmoid": ("HardSigmoidGrad", "X"),
    "HardSwish": ("HardSwishGrad", "X"),
    "Sqrt": ("SqrtGrad", "Y"),  # dY / (2 y)
    "Pow": ("PowGrad", "X"),  # dY * p * x^(p-1), constant exponent p
    "Cast": ("CastGrad", ""),  # dY cast back: reads only dY
    "Neg": ("NegGrad", ""),
    "Abs": ("AbsGrad", "X"),  # dY * sign(x)
    "Reciprocal": ("ReciprocalGrad", "Y"),  # -dY * y^2
    "Exp": ("ExpGrad", "Y"),  # dY * y
    "Log": ("LogGrad", "X"),  # dY / x
    "Sin": ("SinGrad", "X"),  # dY * cos(x)
    "Cos": ("CosGrad", "X"),  # -dY * sin(x)
    "Trilu": ("TriluGrad", ""),  # the same triangle mask applied to dY
    "Dropout": ("DropoutGrad", "Y"),  # dY * (y != 0) / (1 - p)
}
# Ops whose outputs carry no gradient (comparisons, logic).
_NO_GRAD = frozenset(
    {"Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "Not", "And", "Or", "Xor"}
    | {"IsNaN", "IsInf"}
)
# Reductions: backward op type, whether it reads X and Y, ops per input element.
_REDUCE_GRAD: dict[str, tuple[str, bool, int]] = {
    "ReduceSum": ("ReduceSumGrad", False, 1),
    "ReduceMean": ("ReduceMeanGrad", False, 1),
    "ReduceMax": ("ReduceMaxGrad", True, 2),
    "ReduceMin": ("ReduceMinGrad", True, 2),
}
# Norm ops: backward op type and forward tensor read.
_NORM_GRAD: dict[str, tuple[str, str]] = {
    "Softmax": ("SoftmaxGrad", "Y"),
    "LayerNormalization": ("LayerNormGrad", "X"),
    "BatchNormalization": ("BatchNormGrad", "X"),
    "LogSoftmax": ("LogSoftmaxGrad", "Y"),
}
# Pool ops: backward op type and whether it reads X.
_POOL_GRAD: dict[str, tuple[str, bool]] = {
    "MaxPool": ("MaxPoolGrad", True),
    "AveragePool": ("AveragePoolGrad", False),
    "GlobalAveragePool": ("GlobalAveragePoolGrad", False),
}


@dataclass(frozen=True)
class Precision:
    """Bits per element of each tensor class in a training step.

    Parameters
    ----------
    activation
        Forward activations and network inputs (integer token ids keep 32 bits).
    weight
        Trainable weights (and the updated weights).
    gradient
        Activation gradients and weight gradients.
    optimizer_state
        Momentum / Adam moments / master weights (fp32 in mixed-precision training).
    """

    activation: int = 16
    weight: int = 16
    gradient: int = 16
    optimizer_state: int = 32

    def __post_init__(self) -> None:
        for k in ("activation", "weight", "gradient", "optimizer_state"):
            v = getattr(self, k)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"Precision.{k} must be a positive number of bits, got {v!r}")


def derive_training_graph(
    forward: Graph,
    optimizer: str = "adamw",
    precision: Precision | None = None,
    loss: str = "cross_entropy",
) -> Graph:
    """Training graph of one step (forward, loss, backward, optimizer) of ``forward``.

    Parameters
    ----------
    forward
        A forward graph (all ops ``Phase.FORWARD``, single-output ops).  The output of its
        last op is the model output (logits).
    optimizer
        ``"adamw"`` or ``"sgd"`` (momentum).
    precision
        Bits per element of activations, weights, gradients and optimizer state
        (default :class:`Precision()`: 16/16/16/32).
    loss
        ``"cross_entropy"`` (softmax cross-entropy over the last axis) or ``"mse"``.

    Returns
    -------
    Graph
        Named ``f"{forward.name}-train"``; ops in a topological order: forward ops, loss,
        backward ops, optimizer ops.  ``checkpoint_candidates`` are the forward activations
        (and network inputs) read by backward ops.

    Raises
    ------
    ValueError
        On an unknown optimizer/loss (message lists the allowed values), a graph that is not
        a forward graph, or a model output that no trainable weight influences.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(
            f"optimizer={optimizer!r} is not allowed; choose one of {list(OPTIMIZERS)}"
        )
    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r} is not allowed; choose one of {list(LOSSES)}")
    if precision is None:
        precision = Precision()
    if not isinstance(precision, Precision):
        raise ValueError(f"precision must be a Precision, got {type(precision).__name__}")
    if not isinstance(forward, Graph) or not forward.ops:
        raise ValueError("forward must be a non-empty Graph")
    return _Deriver(forward, optimizer, precision, loss).run()


class _Deriver:
    def __init__(self, fwd: Graph, optimizer: str, prec: Precision, loss: str) -> None:
        self.fwd = fwd
        self.optimizer = optimizer
        self.prec = prec
        self.loss = loss
        self.tensors: dict[str, Tensor] = {}
        self.ops: list[Op] = []
        self.contrib: dict[str, list[str]] = {}
        self.final: dict[str, str] = {}
        self.grad_of: dict[str, Op] = {}  # gradient contribution -> forward op

    # -- helpers -----------------------------------------------------------------------
    def _retype(self) -> None:
        for op in self.fwd.ops:
            if op.phase != Phase.FORWARD:
                raise ValueError(
                    f"graph {self.fwd.name!r} is not a forward graph: op {op.name!r} is {op.phase}"
                )
            if len(op.outputs) != 1:
                raise ValueError(f"forward op {op.name!r} must have exactly one output")
        p = self.prec
        for t in self.fwd.tensors.values():
            if t.role == TensorRole.WEIGHT:
                bits = p.weight
            elif t.role == TensorRole.ACTIVATION:
                bits = p.activation
            elif t.role == TensorRole.INPUT:
                consumers = self.fwd.consumers.get(t.name, ())
                ids = consumers and all(
                    _is_index_use(self.fwd.ops[self.fwd.op_index[c]], t.name) for c in consumers
                )
                bits = t.precision if ids else p.activation
            else:
                raise ValueError(
                    f"graph {self.fwd.name!r} is not a forward graph: tensor {t.name!r} has "
                    f"role {t.role}"
                )
            self.tensors[t.name] = Tensor(t.name, t.shape, bits, t.role)

    def _new_tensor(self, name: str, shape: tuple[int, ...], role: TensorRole, bits: int) -> str:
        if name in self.tensors:
            raise ValueError(f"tensor name clash while deriving the training graph: {name!r}")
        self.tensors[name] = Tensor(name, tuple(shape), bits, role)
        return name

    def _grad_tensor(self, target: str, op_name: str) -> str:
        """New tensor for one gradient contribution to ``target`` made by ``op_name``."""
        t = self.fwd.tensors[target]
        role = TensorRole.WEIGHT_GRADIENT if t.role == TensorRole.WEIGHT else TensorRole.GRADIENT
        return self._new_tensor(f"d[{target}]@{op_name}", t.shape, role, self.prec.gradient)

    def _emit(
        self,
        name: str,
        op_type: str,
        kind: OpKind,
        loop_dims: Mapping[str, int],
        inputs: tuple[str, ...],
        outputs: tuple[str, ...],
        macs: int,
        forward_op: str | None,
        phase: Phase = Phase.BACKWARD,
        attrs: Mapping[str, object] | None = None,
    ) -> None:
        self.ops.append(
            Op(
                name,
                op_type,
                kind,
                phase,
                dict(loop_dims),
                inputs,
                outputs,
                int(macs),
                forward_op,
                dict(attrs or {}),
            )
        )

    def _bw(
        self,
        fop: Op,
        suffix: str,
        op_type: str,
        kind: OpKind,
        loop_dims: Mapping[str, int],
        inputs: tuple[str, ...],
        target: str,
        macs: int,
        attrs: Mapping[str, object] | None = None,
    ) -> None:
        """Emit a backward op of ``fop`` producing a gradient contribution to ``target``."""
        name = f"{fop.name}.{suffix}"
        g = self._grad_tensor(target, name)
        self._emit(name, op_type, kind, loop_dims, inputs, (g,), macs, fop.name, attrs=attrs)
        self.contrib.setdefault(target, []).append(g)
        self.grad_of[g] = fop

    def _finalize(self, t: str, forward_op: str | None) -> str | None:
        """Gradient of ``t`` (summing several contributions with a GradAccumulate op)."""
        if t in self.final:
            return self.final[t]
        parts = self.contrib.get(t)
        if not parts:
            return None
        if len(parts) == 1:
            g = parts[0]
        elif self._disjoint_slices(t, parts):
            src = self.fwd.tensors[t]
            g = self._new_tensor(f"d[{t}]", src.shape, TensorRole.GRADIENT, self.prec.gradient)
            self._emit(
                f"{t}.grad_concat",
                "GradConcat",
                OpKind.SHAPE,
                batch_elements(src.shape),
                tuple(parts),
                (g,),
                0,
                forward_op,
                attrs={"contributions": len(parts)},
            )
        else:
            src = self.fwd.tensors[t]
            role = (
                TensorRole.WEIGHT_GRADIENT if src.role == TensorRole.WEIGHT else TensorRole.GRADIENT
            )
            g = self._new_tensor(f"d[{t}]", src.shape, role, self.prec.gradient)
            dims = (
                {"B": 1, "E": src.numel}
                if src.role == TensorRole.WEIGHT
                else batch_elements(src.shape)
            )
            self._emit(
                f"{t}.grad_acc",
                "GradAccumulate",
                OpKind.ELEMENTWISE,
                dims,
                tuple(parts),
                (g,),
                (len(parts) - 1) * src.numel,
                forward_op,
                attrs={"contributions": len(parts)},
            )
        self.final[t] = g
        return g

    def _disjoint_slices(self, t: str, parts: list[str]) -> bool:
        """Whether all contributions are pad-backs of slices that exactly cover ``t``."""
        fops = [self.grad_of.get(p) for p in parts]
        if any(f is None or f.op_type != "Slice" or f.kind != OpKind.SHAPE for f in fops):
            return False
        covered = sum(self.fwd.tensors[f.outputs[0]].numel for f in fops)  # type: ignore[union-attr]
        return covered == self.fwd.tensors[t].numel

    # -- main --------------------------------------------------------------------------
    def run(self) -> Graph:
        fwd = self.fwd
        self._retype()
        self.ops.extend(fwd.ops)
        needs = {w.name for w in fwd.weights}
        for op in fwd.ops:
            if any(t in needs for t in op.inputs):
                needs.update(op.outputs)
        self.needs = needs
        logits = fwd.ops[-1].outputs[0]
        if logits not in needs:
            raise ValueError(
                f"graph {fwd.name!r}: the output {logits!r} does not depend on any trainable "
                "weight; nothing to train"
            )
        self._loss(logits)

        first_use = {}
        for i, op in enumerate(fwd.ops):
            for t in op.inputs:
                if fwd.tensors[t].role == TensorRole.WEIGHT:
                    first_use.setdefault(t, i)
        weights_done: list[str] = []
        for i in range(len(fwd.ops) - 1, -1, -1):
            op = fwd.ops[i]
            dy = self._finalize(op.outputs[0], op.name)
            if dy is not None:
                self._backward(op, dy)
            for w in dict.fromkeys(op.inputs):
                if first_use.get(w) == i:
                    if self._finalize(w, w) is not None:
                        weights_done.append(w)
        for w in weights_done:
            self._optimizer_op(w)

        bw_reads = {t for op in self.ops if op.phase == Phase.BACKWARD for t in op.inputs}
        cands = frozenset(
            t
            for t in bw_reads
            if t in fwd.tensors and fwd.tensors[t].role in (TensorRole.ACTIVATION, TensorRole.INPUT)
        )
        return Graph(f"{fwd.name}-train", tuple(self.ops), self.tensors, cands)

    def _loss(self, logits: str) -> None:
        lt = self.fwd.tensors[logits]
        if self.loss == "cross_entropy":
            labels = self._new_tensor("labels", lt.shape[:-1], TensorRole.LABEL, INDEX_PRECISION)
            names = ("SoftmaxCrossEntropy", "SoftmaxCrossEntropyGrad")
            costs = (NORM_OPS_PER_ELEMENT, NORM_OPS_PER_ELEMENT)
        else:
            labels = self._new_tensor("labels", lt.shape, TensorRole.LABEL, self.prec.activation)
            names = ("MSELoss", "MSELossGrad")
            costs = (3, 2)
        out = self._new_tensor("loss", (), TensorRole.LOSS, LOSS_PRECISION)
        dims = batch_elements(lt.shape)
        self._emit(
            "loss",
            names[0],
            OpKind.LOSS,
            dims,
            (logits, labels),
            (out,),
            costs[0] * lt.numel,
            None,
            phase=Phase.FORWARD,
        )
        g = self._new_tensor(
            f"d[{logits}]@loss.grad", lt.shape, TensorRole.GRADIENT, self.prec.gradient
        )
        self._emit(
            "loss.grad",
            names[1],
            OpKind.ELEMENTWISE,
            dims,
            (logits, labels),
            (g,),
            costs[1] * lt.numel,
            "loss",
        )
        self.contrib[logits] = [g]

    def _backward(self, op: Op, dy: str) -> None:
        need = [t in self.needs for t in op.inputs]
        kind = op.kind
        if kind == OpKind.CONV:
            self._conv(op, dy, need)
        elif kind == OpKind.GEMM:
            self._gemm(op, dy, need)
        elif kind == OpKind.ELEMENTWISE:
            self._elementwise(op, dy, need)
        elif kind == OpKind.POOL:
            gtype, reads_x = _POOL_GRAD.get(op.op_type, (f"{op.op_type}Grad", True))
            ins = (dy, op.inputs[0]) if reads_x else (dy,)
            if need[0]:
                self._bw(op, "grad", gtype, OpKind.POOL, op.loop_dims, ins, op.inputs[0], op.macs)
        elif kind == OpKind.NORM and op.op_type in _REDUCE_GRAD:
            gtype, reads_xy, cost = _REDUCE_GRAD[op.op_type]
            x = op.inputs[0]
            xt = self.fwd.tensors[x]
            ins = (dy, x, op.outputs[0]) if reads_xy else (dy,)
            if need[0]:
                self._bw(
                    op,
                    "grad",
                    gtype,
                    OpKind.ELEMENTWISE,
                    batch_elements(xt.shape),
                    ins,
                    x,
                    cost * xt.numel,
                    {k: op.attrs[k] for k in ("axes", "keepdims") if k in op.attrs},
                )
        elif kind == OpKind.NORM:
            gtype, reads = _NORM_GRAD.get(op.op_type, (f"{op.op_type}Grad", "X"))
            fwd_t = op.outputs[0] if reads == "Y" else op.inputs[0]
            if need[0]:
                self._bw(
                    op, "grad", gtype, OpKind.NORM, op.loop_dims, (dy, fwd_t), op.inputs[0], op.macs
                )
        elif kind == OpKind.SHAPE:
            multi = len(op.inputs) > 1
            for i, t in enumerate(op.inputs):
                if need[i]:
                    shp = self.fwd.tensors[t].shape
                    self._bw(
                        op,
                        f"grad{i}" if multi else "grad",
                        f"{op.op_type}Grad",
                        OpKind.SHAPE,
                        batch_elements(shp),
                        (dy,),
                        t,
                        0,
                    )
        else:
            raise ValueError(f"cannot differentiate op {op.name!r} of kind {kind}")

    def _conv(self, op: Op, dy: str, need: list[bool]) -> None:
        x, w = op.inputs[0], op.inputs[1]
        ld = dict(op.loop_dims)
        attrs = {
            k: op.attrs[k] for k in ("stride", "padding", "groups", "dilation") if k in op.attrs
        }
        if need[0]:
            dxd = dict(ld)
            dxd["K"], dxd["C"] = ld["C"], ld["K"]
            self._bw(
                op,
                "dX",
                "ConvGradInput",
                OpKind.CONV,
                dxd,
                (dy, w),
                x,
                op.macs,
                {**attrs, "transposed": True},
            )
        if need[1]:
            self._bw(
                op,
                "dW",
                "ConvGradWeight",
                OpKind.CONV,
                ld,
                (x, dy),
                w,
                op.macs,
                {**attrs, "reduction": ("B", "OY", "OX")},
            )

    def _gemm(self, op: Op, dy: str, need: list[bool]) -> None:
        a, b = op.inputs[0], op.inputs[1]
        ld = op.loop_dims
        bb, d, c, k = ld["B"], ld["D"], ld["C"], ld["K"]
        is_w = self.fwd.tensors[b].role == TensorRole.WEIGHT
        attrs = {"trans_b": op.attrs["trans_b"]} if "trans_b" in op.attrs else {}
        if need[0]:
            self._bw(
                op,
                "dX",
                "GemmGradInput" if is_w else "MatMulGradA",
                OpKind.GEMM,
                {"B": bb, "D": d, "C": k, "K": c},
                (dy, b),
                a,
                op.macs,
                attrs,
            )
        if need[1]:
            shared = self.fwd.tensors[b].numel == c * k
            dims = (
                {"B": 1, "D": c, "C": bb * d, "K": k}
                if shared
                else {"B": bb, "D": c, "C": d, "K": k}
            )
            self._bw(
                op,
                "dW" if is_w else "dX2",
                "GemmGradWeight" if is_w else "MatMulGradB",
                OpKind.GEMM,
                dims,
                (a, dy),
                b,
                op.macs,
                attrs,
            )

    def _elementwise(self, op: Op, dy: str, need: list[bool]) -> None:
        ins, y = op.inputs, op.outputs[0]
        dyt = self.tensors[dy]
        dims = batch_elements(dyt.shape)
        n = dyt.numel
        cost = ELEMENT_OP_COST.get(op.op_type, 1)
        t = op.op_type
        if t == "Embedding":
            if need[1]:
                self._bw(
                    op,
                    "grad",
                    "EmbeddingGrad",
                    OpKind.ELEMENTWISE,
                    dims,
                    (dy, ins[0]),
                    ins[1],
                    n,
                    {"scatter_add": True},
                )
            return
        if t in _NO_GRAD:
            return  # boolean outputs: no gradient flows
        if t in ("Gather", "GatherElements", "Where"):
            self._select(op, dy, need)
            return
        if t == "ScatterND":
            self._scatter_nd(op, dy, need)
            return
        if t == "Expand":
            if need[0]:
                self._bw(op, "grad", "ExpandGrad", OpKind.ELEMENTWISE, dims, (dy,), ins[0], n)
            return
        if t in _UNARY_GRAD and len(ins) == 1:
            gtype, reads = _UNARY_GRAD[t]
            if need[0]:
                self._bw(
                    op,
                    "grad",
                    gtype,
                    OpKind.ELEMENTWISE,
                    dims,
                    (dy, *((y,) if reads == "Y" else (ins[0],) if reads == "X" else ())),
                    ins[0],
                    n * cost,
                )
            return
        multi = len(ins) > 1
        for i, x in enumerate(ins):
            if not need[i]:
                continue
            xt = self.fwd.tensors[x]
            suffix = f"grad{i}" if multi else "grad"
            same = xt.numel == n and xt.role != TensorRole.WEIGHT
            if t in ("Add", "Sub") and (t == "Add" or i == 0):
                if same:
                    self.contrib.setdefault(x, []).append(dy)  # alias: dX is dY
                else:
                    self._bw(op, suffix, "ReduceSum", OpKind.ELEMENTWISE, dims, (dy,), x, n)
            elif t == "Sub":
                self._bw(op, suffix, "SubGrad", OpKind.ELEMENTWISE, dims, (dy,), x, n)
            elif t == "Mul":
                others = tuple(o for j, o in enumerate(ins) if j != i)
                self._bw(op, suffix, "MulGrad", OpKind.ELEMENTWISE, dims, (dy, *others), x, n)
            elif t == "Div":
                if i == 0:
                    self._bw(op, suffix, "DivGrad", OpKind.ELEMENTWISE, dims, (dy, *ins[1:]), x, n)
                else:
                    self._bw(op, suffix, "DivGrad", OpKind.ELEMENTWISE, dims, (dy, y, x), x, 2 * n)
            else:
                raise ValueError(
                    f"cannot differentiate element-wise op {op.name!r} of type {t!r} "
                    f"with {len(ins)} inputs"
                )

    def _select(self, op: Op, dy: str, need: list[bool]) -> None:
        """Backward of Where (masked dY per data branch) and of Gather / GatherElements on
        activations (scatter-add of dY into zeros of the input's shape)."""
        pos = tuple(op.attrs.get("operands", range(len(op.inputs))))  # ONNX input positions
        n = self.tensors[dy].numel
        if op.op_type == "Where":
            cond = tuple(x for x, p in zip(op.inputs, pos, strict=True) if p == 0)
            for i, (x, p) in enumerate(zip(op.inputs, pos, strict=True)):
                if p != 0 and need[i]:
                    self._bw(
                        op,
                        f"grad{p}",
                        "WhereGrad",
                        OpKind.ELEMENTWISE,
                        batch_elements(self.tensors[dy].shape),
                        (dy, *cond),
                        x,
                        n,
                    )
            return
        index = tuple(x for x, p in zip(op.inputs, pos, strict=True) if p == 1)
        for i, (x, p) in enumerate(zip(op.inputs, pos, strict=True)):
            if p == 0 and need[i]:
                xt = self.fwd.tensors[x]
                self._bw(
                    op,
                    "grad",
                    f"{op.op_type}Grad",
                    OpKind.ELEMENTWISE,
                    batch_elements(xt.shape),
                    (dy, *index),
                    x,
                    xt.numel + n,
                    {"scatter_add": True, "axis": op.attrs.get("axis", 0)},
                )

    def _scatter_nd(self, op: Op, dy: str, need: list[bool]) -> None:
        """Backward of ScatterND: the data gets ``dY`` with the overwritten slices zeroed
        (``ScatterNDGrad``), computed updates get those slices of ``dY``
        (``ScatterNDUpdatesGrad``, a gather); one element op per element written."""
        pos = tuple(op.attrs.get("operands", range(len(op.inputs))))
        n = self.tensors[dy].numel
        for i, (x, p) in enumerate(zip(op.inputs, pos, strict=True)):
            if not need[i]:
                continue
            xt = self.fwd.tensors[x]
            gtype, cnt = ("ScatterNDGrad", n) if p == 0 else ("ScatterNDUpdatesGrad", xt.numel)
            self._bw(
                op,
                "grad" if p == 0 else f"grad{p}",
                gtype,
                OpKind.ELEMENTWISE,
                batch_elements(xt.shape),
                (dy,),
                x,
                cnt,
            )

    def _optimizer_op(self, w: str) -> None:
        wt = self.fwd.tensors[w]
        dw = self.final[w]
        p = self.prec
        s = p.optimizer_state
        dims = {"B": 1, "E": wt.numel}
        w_next = self._new_tensor(f"{w}.next", wt.shape, TensorRole.WEIGHT, p.weight)
        if self.optimizer == "adamw":
            states = ("adam_m", "adam_v", "master")
            op_type, suffix, cost = "AdamW", "adamw", ADAMW_OPS_PER_ELEMENT
        else:
            states = ("momentum",)
            op_type, suffix, cost = "SGD", "sgd", SGD_OPS_PER_ELEMENT
        ins = [dw, w]
        outs = [w_next]
        for st in states:
            ins.append(self._new_tensor(f"{w}.{st}", wt.shape, TensorRole.OPTIMIZER_STATE, s))
            outs.append(self._new_tensor(f"{w}.{st}.next", wt.shape, TensorRole.OPTIMIZER_STATE, s))
        self._emit(
            f"{w}.{suffix}",
            op_type,
            OpKind.OPTIMIZER,
            dims,
            tuple(ins),
            tuple(outs),
            cost * wt.numel,
            w,
            phase=Phase.OPTIMIZER,
        )


def _is_index_use(op: Op, t: str) -> bool:
    """Whether ``op`` reads ``t`` only as integer indices (token ids, gather indices)."""
    if op.op_type == "Embedding":
        return op.inputs[0] == t
    if op.op_type in ("Gather", "GatherElements"):
        pos = tuple(op.attrs.get("operands", range(len(op.inputs))))
        return all(p == 1 for x, p in zip(op.inputs, pos, strict=True) if x == t)
    return False


def training_summary(graph: Graph) -> dict[str, object]:
    """Key figures of a (training) graph, for reports.

    Parameters
    ----------
    graph
        Typically the output of :func:`derive_training_graph` (a forward graph works too).

    Returns
    -------
    dict
        ``ops_per_phase`` ({phase: count}), ``ops_per_kind`` ({kind: count}),
        ``macs_per_phase`` ({phase: MACs of CONV/GEMM ops}), ``element_ops_per_phase``
        ({phase: element ops of the other kinds}), ``parameters`` (trainable elements),
        ``weight_bytes``, ``optimizer_state_bytes`` (state read by the optimizer, i.e. held
        across steps), ``checkpoint_candidates`` (count) and ``checkpoint_candidate_bytes``.
        Byte figures use each tensor's own precision.
    """
    phases = [p.value for p in Phase]
    ops_per_phase = {p: 0 for p in phases}
    macs = {p: 0 for p in phases}
    elem = {p: 0 for p in phases}
    for op in graph.ops:
        ops_per_phase[op.phase.value] += 1
        if op.is_mac:
            macs[op.phase.value] += op.macs
        else:
            elem[op.phase.value] += op.macs
    # Tensors held across steps are those no op writes (W_next / state_next are the copies
    # for the next step and are not counted again).
    weights = [t for t in graph.weights if t.name not in graph.producer]
    state = [
        t
        for t in graph.tensors.values()
        if t.role == TensorRole.OPTIMIZER_STATE and t.name not in graph.producer
    ]
    return {
        "name": graph.name,
        "ops": len(graph.ops),
        "ops_per_phase": ops_per_phase,
        "ops_per_kind": dict(Counter(op.kind.value for op in graph.ops)),
        "macs_per_phase": macs,
        "element_ops_per_phase": elem,
        "parameters": sum(t.numel for t in weights),
        "weight_bytes": sum(t.bytes for t in weights),
        "optimizer_state_bytes": sum(t.bytes for t in state),
        "checkpoint_candidates": len(graph.checkpoint_candidates),
        "checkpoint_candidate_bytes": sum(
            graph.tensors[t].bytes for t in graph.checkpoint_candidates
        ),
    }
