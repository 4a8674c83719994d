"""Helpers that build forward :class:`~monet_opt.models.ir.Graph` objects op by op.

Shared by the built-in model zoo (:mod:`monet_opt.models.zoo`) and the ONNX importer
(:mod:`monet_opt.models.onnx_import`) so that both follow exactly the same op conventions,
which the cost model relies on:

* **Conv** (``OpKind.CONV``): loop dims ``B, [G], K, C, OY, OX, FY, FX`` in ZigZag style, i.e.
  ``K`` and ``C`` are *per group* (``K_total / G`` and ``C_total / G``) and ``G`` is present only
  when ``groups > 1``; hence ``macs = prod(loop_dims) = B*K_tot*C_tot*OY*OX*FY*FX / G``.
  Inputs ``(x, w)`` (``I1`` = activation, ``I2`` = weight ``(K_tot, C_tot/G, FY, FX)``).
* **Gemm / MatMul** (``OpKind.GEMM``): ``O[B, D, K] += I1[B, D, C] * I2[C, K]``, loop dims
  ``B, D, C, K``, ``macs = B*D*C*K``.  ``B`` is the product of the leading (batch-like) dims
  of ``I1`` beyond the last two, ``D`` its rows; a 2-D input ``[N, C]`` thus has ``B = 1``,
  ``D = N``.
* **Element-wise** (``OpKind.ELEMENTWISE``): loop dims ``B`` (= leading dim of the output) and
  ``E`` (elements per sample); ``macs = B*E*cost`` with the per-element cost of
  :data:`ELEMENT_OP_COST` (1 for arithmetic/select, 2 for ops based on a transcendental
  function such as Gelu, Sigmoid, Tanh, Erf, Silu, Sqrt, Pow, Exp, Log, Sin and Cos; 2 for
  HardSigmoid's multiply-add and clip, 3 for HardSwish's extra multiply).  Data-movement ops
  that write every output element are element-wise ops of cost 1 per output element:
  ``Where`` (select), ``Gather`` / ``GatherElements`` on activations (index-select copy),
  ``Expand`` (broadcast copy), ``Dropout`` in training mode (mask multiply), ``Trilu`` on
  data (mask), and the comparisons (``Equal``, ``Less``, ...: one compare per element).
* **Embedding** (``Gather`` on a 2-D weight along axis 0): an element-wise op ``Embedding``
  reading ``(ids, table)``, one copy per output element.
* **Reduction** (``OpKind.NORM``: ReduceSum, ReduceMean other than global average pooling,
  ReduceMax, ReduceMin): loop dims ``B, E`` of the *input* (the iteration space),
  ``macs = numel(input)`` (one add / compare per input element).
* **Einsum** that is a (batched) matrix product (``OpKind.GEMM``): the equation's letters
  are grouped into batch (both operands and output), rows ``D`` (first operand and output),
  columns ``K`` (second operand and output) and contraction ``C`` (both operands, not the
  output); ``macs = B*D*C*K``; see :func:`einsum_gemm_dims`.
* **Pool** (``OpKind.POOL``): loop dims ``B, K, OY, OX, FY, FX`` (``K`` = channels),
  ``macs = output elements * window``.
* **Norm** (``OpKind.NORM``: Softmax, LayerNormalization, BatchNormalization): loop dims
  ``B, E``, ``macs = NORM_OPS_PER_ELEMENT (5) * elements`` (max/mean, subtract, exp/square,
  sum, divide/scale: an estimate, not an exact count).
* **Shape** (``OpKind.SHAPE``: Flatten, Reshape, Transpose, Squeeze, Unsqueeze, Concat,
  Identity, Slice, Pad, the per-output slices of Split, head split/merge): ``macs = 0``;
  they are treated as free re-indexing (a layout change that the consumer's access pattern
  absorbs).  Each writes a new tensor name because tensors are written once.

Biases and other rank-0/rank-1 parameters are **dropped**, as MONET's training-graph passes
drop bias and rank-1 tensors (Morlier et al., "MONET: Modeling and Optimization of neural
NEtwork Training from Edge to Data Centers", arXiv:2603.15002, 2026; see
``docs/hardware_sources.md``); LayerNorm gamma/beta are therefore not modelled.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from monet_opt.models.ir import Graph, Op, OpKind, Phase, Tensor, TensorRole

__all__ = [
    "ELEMENT_OP_COST",
    "INDEX_PRECISION",
    "NORM_OPS_PER_ELEMENT",
    "einsum_gemm_dims",
    "GraphBuilder",
    "conv_output_hw",
    "batch_elements",
]

#: Element operations per output element for element-wise op types (default 1).
ELEMENT_OP_COST: Mapping[str, int] = {
    "Relu": 1,
    "Add": 1,
    "Sub": 1,
    "Mul": 1,
    "Div": 1,
    "Embedding": 1,
    "Gelu": 2,
    "Erf": 2,
    "Sigmoid": 2,
    "Tanh": 2,
    "Silu": 2,
    "Clip": 1,  # min(max(x, lo), hi): one select pair
    "HardSigmoid": 2,  # alpha * x + beta, clipped
    "HardSwish": 3,  # x * hardsigmoid(x)
    "Sqrt": 2,
    "Pow": 2,  # constant exponent
    "Cast": 1,  # one conversion per element (the tensor keeps its modelled precision)
    "Neg": 1,
    "Abs": 1,
    "Reciprocal": 1,  # one division
    "Exp": 2,
    "Log": 2,
    "Sin": 2,
    "Cos": 2,
    "Where": 1,  # select
    "Gather": 1,  # index-select copy, per output element
    "GatherElements": 1,
    "Expand": 1,  # broadcast copy, per output element
    "Dropout": 1,  # multiply by the (pre-generated, scaled) mask
    "Trilu": 1,  # keep / zero per element
}

#: Element operations per element for NORM ops (Softmax, LayerNorm, BatchNorm) and the loss.
NORM_OPS_PER_ELEMENT: int = 5

#: Bits of integer index tensors (token ids, class labels).
INDEX_PRECISION: int = 32


def conv_output_hw(
    h: int,
    w: int,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    pads: tuple[int, int, int, int],
    dilation: tuple[int, int] = (1, 1),
) -> tuple[int, int]:
    """Output rows/columns of a convolution or pooling window.

    Parameters
    ----------
    h, w
        Input rows/columns.
    kernel, stride, dilation
        ``(FY, FX)``, ``(SY, SX)``, ``(DY, DX)``.
    pads
        ONNX order ``(top, left, bottom, right)``.

    Returns
    -------
    tuple of int
        ``(OY, OX)``, floor mode (ONNX ``ceil_mode = 0``).
    """
    oy = (h + pads[0] + pads[2] - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
    ox = (w + pads[1] + pads[3] - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
    if oy <= 0 or ox <= 0:
        raise ValueError(f"convolution/pool window {kernel} larger than padded input {(h, w)}")
    return oy, ox


def batch_elements(shape: Sequence[int]) -> dict[str, int]:
    """Element-wise loop dims ``{"B": shape[0], "E": numel / shape[0]}`` (B = 1 if rank <= 1)."""
    shape = tuple(shape)
    if len(shape) <= 1:
        return {"B": 1, "E": math.prod(shape) if shape else 1}
    return {"B": shape[0], "E": math.prod(shape[1:])}


def einsum_gemm_dims(
    equation: str, a_shape: Sequence[int], b_shape: Sequence[int]
) -> tuple[dict[str, int], tuple[int, ...]]:
    """GEMM loop dims and output shape of a two-operand einsum that is a matrix product.

    Letters are classified as batch (in both operands and the output), rows ``D`` (first
    operand and output only), columns ``K`` (second operand and output only) and contraction
    ``C`` (both operands, not the output).  ``...`` stands for broadcast leading dims
    (right-aligned, as in NumPy); an implicit output (no ``->``) is the letters that occur
    once, sorted, after the ellipsis.  Examples: ``"bhqd,bhkd->bhqk"`` (attention scores),
    ``"bij,bjk->bik"``, ``"...ij,jk->...ik"`` (a linear layer).

    Parameters
    ----------
    equation
        The ``Einsum`` equation.
    a_shape, b_shape
        Operand shapes in elements.

    Returns
    -------
    tuple
        ``({"B", "D", "C", "K"} sizes, output shape)``; ``B*D*C*K`` is the MAC count.

    Raises
    ------
    ValueError
        For anything else: not two operands, a repeated letter (diagonal), a letter summed
        away from a single operand, an output letter no operand has, or a size mismatch.
    """
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != 2:
        raise ValueError(f"einsum {equation!r}: only two-operand matrix products are supported")
    shapes = (tuple(a_shape), tuple(b_shape))
    n_ell = max(
        (len(s) - (len(t) - 3) for t, s in zip(terms, shapes, strict=True) if "..." in t),
        default=0,
    )
    ph = [chr(0x391 + i) for i in range(n_ell)]  # placeholder letters for ``...`` dims

    def expand(term: str, rank: int | None) -> list[str]:
        if "..." not in term:
            return list(term)
        head, tail = term.split("...")
        n = n_ell if rank is None else rank - len(head) - len(tail)
        return [*head, *ph[n_ell - n :], *tail]

    ops = [expand(t, len(s)) for t, s in zip(terms, shapes, strict=True)]
    sizes: dict[str, int] = {}
    for letters, shp in zip(ops, shapes, strict=True):
        if len(letters) != len(shp) or len(set(letters)) != len(letters):
            raise ValueError(f"einsum {equation!r}: term does not match shape {shp} or repeats")
        for ch, d in zip(letters, shp, strict=True):
            old = sizes.get(ch, 1)
            if old != 1 and d != 1 and old != d:
                raise ValueError(f"einsum {equation!r}: size mismatch for {ch!r}: {old} vs {d}")
            sizes[ch] = max(old, int(d))
    if arrow:
        out = expand(rhs, None)
    else:
        once = [c for c in sorted(sizes) if c not in ph and (ops[0] + ops[1]).count(c) == 1]
        out = [c for c in ph if c in sizes] + once
    a, b, o = set(ops[0]), set(ops[1]), set(out)
    if len(o) != len(out) or not o <= a | b:
        raise ValueError(f"einsum {equation!r}: bad output term")
    lone = (a ^ b) - o
    if lone:
        raise ValueError(
            f"einsum {equation!r}: letters {sorted(lone)} are summed within one operand; "
            "only (batched) matrix products are supported"
        )
    groups = {"B": a & b & o, "D": (a & o) - b, "C": (a & b) - o, "K": (b & o) - a}
    dims = {k: math.prod(sizes[c] for c in v) for k, v in groups.items()}
    return dims, tuple(sizes[c] for c in out)


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    v = tuple(int(x) for x in v)
    if len(v) != 2:
        raise ValueError(f"expected an int or a pair, got {v}")
    return v  # type: ignore[return-value]


def _pads(p: int | Sequence[int]) -> tuple[int, int, int, int]:
    if isinstance(p, int):
        return (p, p, p, p)
    p = tuple(int(x) for x in p)
    if len(p) == 2:
        return (p[0], p[1], p[0], p[1])
    if len(p) != 4:
        raise ValueError(f"padding must be an int, a pair or 4 values, got {p}")
    return p  # type: ignore[return-value]


class GraphBuilder:
    """Accumulates tensors and forward ops and builds a :class:`Graph`.

    Parameters
    ----------
    name
        Graph name.
    precision
        Bits per element of activations and weights.

    Notes
    -----
    Every op method takes the op ``name`` and an optional output tensor name ``out``
    (default ``f"{name}.out"``) and returns the output tensor name.  Shapes are in elements,
    activations NCHW (convolutional models) or ``[batch, seq, features]`` (transformers).
    """

    def __init__(self, name: str, precision: int = 16) -> None:
        if not isinstance(precision, int) or isinstance(precision, bool) or precision <= 0:
            raise ValueError(f"precision must be a positive number of bits, got {precision!r}")
        self.name = name
        self.precision = precision
        self.tensors: dict[str, Tensor] = {}
        self.ops: list[Op] = []
        self._op_names: set[str] = set()

    # -- tensors ---------------------------------------------------------------------
    def tensor(
        self,
        name: str,
        shape: Sequence[int],
        role: TensorRole = TensorRole.ACTIVATION,
        precision: int | None = None,
    ) -> str:
        """Register a tensor; error if the name exists or a dim is not a positive int."""
        if name in self.tensors:
            raise ValueError(f"graph {self.name!r}: tensor {name!r} defined twice")
        shape = tuple(int(d) for d in shape)
        if any(d <= 0 for d in shape):
            raise ValueError(f"graph {self.name!r}: tensor {name!r} has a non-positive dim {shape}")
        self.tensors[name] = Tensor(name, shape, precision or self.precision, role)
        return name

    def input(self, name: str, shape: Sequence[int], precision: int | None = None) -> str:
        """Register a network input (role ``INPUT``)."""
        return self.tensor(name, shape, TensorRole.INPUT, precision)

    def weight(self, name: str, shape: Sequence[int]) -> str:
        """Register a trainable weight (role ``WEIGHT``); reuse it if it already exists."""
        if name in self.tensors:
            if self.tensors[name].shape != tuple(shape):
                raise ValueError(f"weight {name!r} reused with a different shape {tuple(shape)}")
            return name
        return self.tensor(name, shape, TensorRole.WEIGHT)

    def shape(self, name: str) -> tuple[int, ...]:
        """Shape of a registered tensor."""
        return self.tensors[name].shape

    # -- ops -------------------------------------------------------------------------
    def add_op(
        self,
        name: str,
        op_type: str,
        kind: OpKind,
        loop_dims: Mapping[str, int],
        inputs: Sequence[str],
        outputs: Sequence[str],
        macs: int,
        attrs: Mapping[str, object] | None = None,
    ) -> None:
        """Append a forward op (inputs must exist)."""
        if name in self._op_names:
            raise ValueError(f"graph {self.name!r}: op name {name!r} used twice")
        for t in inputs:
            if t not in self.tensors:
                raise ValueError(f"graph {self.name!r}: op {name!r} reads unknown tensor {t!r}")
        self._op_names.add(name)
        self.ops.append(
            Op(
                name=name,
                op_type=op_type,
                kind=kind,
                phase=Phase.FORWARD,
                loop_dims=dict(loop_dims),
                inputs=tuple(inputs),
                outputs=tuple(outputs),
                macs=int(macs),
                attrs=dict(attrs or {}),
            )
        )

    def conv(
        self,
        name: str,
        x: str,
        w: str,
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] = 0,
        groups: int = 1,
        dilation: int | Sequence[int] = 1,
        out: str | None = None,
        out_shape: Sequence[int] | None = None,
    ) -> str:
        """2-D convolution ``y = conv(x, w)``, ``x (N, C, H, W)``, ``w (K, C/G, FY, FX)``.

        ``padding`` is an int, a pair ``(py, px)`` or ONNX ``(top, left, bottom, right)``.
        ``out_shape`` (e.g. from ONNX shape inference) overrides the computed output shape.
        """
        xs, ws = self.shape(x), self.shape(w)
        if len(xs) != 4 or len(ws) != 4:
            raise ValueError(f"conv {name!r}: need 4-D x and w, got {xs} and {ws}")
        n, c, h, wd = xs
        k, cg, fy, fx = ws
        if c % groups or k % groups or cg * groups != c:
            raise ValueError(f"conv {name!r}: channels {c}->{k} incompatible with groups {groups}")
        s, d, p = _pair(stride), _pair(dilation), _pads(padding)
        if out_shape is None:
            oy, ox = conv_output_hw(h, wd, (fy, fx), s, p, d)
            out_shape = (n, k, oy, ox)
        out_shape = tuple(out_shape)
        oy, ox = out_shape[2], out_shape[3]
        dims = {"B": n}
        if groups > 1:
            dims["G"] = groups
        dims.update({"K": k // groups, "C": c // groups, "OY": oy, "OX": ox, "FY": fy, "FX": fx})
        y = self.tensor(out or f"{name}.out", out_shape)
        self.add_op(
            name,
            "Conv",
            OpKind.CONV,
            dims,
            (x, w),
            (y,),
            math.prod(dims.values()),
            {"stride": s, "padding": p, "groups": groups, "dilation": d},
        )
        return y

    def gemm(
        self,
        name: str,
        x: str,
        w: str,
        trans_b: bool = False,
        out: str | None = None,
        op_type: str = "Gemm",
    ) -> str:
        """Linear layer ``y = x @ w`` (``w`` is ``(C, K)``, or ``(K, C)`` when ``trans_b``).

        ``x`` is ``(..., D, C)``; the output is ``(..., D, K)``.
        """
        xs, ws = self.shape(x), self.shape(w)
        if len(ws) != 2 or len(xs) < 2:
            raise ValueError(f"gemm {name!r}: need x of rank >= 2 and 2-D w, got {xs}, {ws}")
        c, k = (ws[1], ws[0]) if trans_b else ws
        if xs[-1] != c:
            raise ValueError(
                f"gemm {name!r}: inner dims differ: x {xs} vs w {ws} (trans_b={trans_b})"
            )
        dims = {"B": math.prod(xs[:-2]), "D": xs[-2], "C": c, "K": k}
        y = self.tensor(out or f"{name}.out", (*xs[:-1], k))
        self.add_op(
            name,
            op_type,
            OpKind.GEMM,
            dims,
            (x, w),
            (y,),
            math.prod(dims.values()),
            {"trans_b": trans_b},
        )
        return y

    def matmul(self, name: str, a: str, b: str, out: str | None = None) -> str:
        """Batched product of two activations ``a (..., D, C) @ b (..., C, K)``."""
        as_, bs = self.shape(a), self.shape(b)
        if len(as_) < 2 or len(bs) < 2 or as_[-1] != bs[-2]:
            raise ValueError(f"matmul {name!r}: incompatible shapes {as_} @ {bs}")
        batch = tuple(np.broadcast_shapes(as_[:-2], bs[:-2]))
        dims = {"B": math.prod(batch), "D": as_[-2], "C": as_[-1], "K": bs[-1]}
        y = self.tensor(out or f"{name}.out", (*batch, as_[-2], bs[-1]))
        self.add_op(name, "MatMul", OpKind.GEMM, dims, (a, b), (y,), math.prod(dims.values()))
        return y

    def elementwise(
        self,
        name: str,
        op_type: str,
        inputs: Sequence[str],
        out: str | None = None,
        out_shape: Sequence[int] | None = None,
        attrs: Mapping[str, object] | None = None,
    ) -> str:
        """Element-wise op over broadcast inputs; ``macs = numel(out) * ELEMENT_OP_COST``."""
        if out_shape is None:
            out_shape = tuple(np.broadcast_shapes(*(self.shape(t) for t in inputs)))
        y = self.tensor(out or f"{name}.out", out_shape)
        dims = batch_elements(self.shape(y))
        cost = ELEMENT_OP_COST.get(op_type, 1)
        self.add_op(
            name,
            op_type,
            OpKind.ELEMENTWISE,
            dims,
            inputs,
            (y,),
            self.tensors[y].numel * cost,
            attrs,
        )
        return y

    def embedding(self, name: str, ids: str, w: str, out: str | None = None) -> str:
        """Table lookup ``y[..., :] = w[ids[...], :]`` (``w`` is ``(vocab, d)``)."""
        d = self.shape(w)[1]
        return self.elementwise(name, "Embedding", (ids, w), out, (*self.shape(ids), d))

    def pool(
        self,
        name: str,
        op_type: str,
        x: str,
        kernel: int | Sequence[int],
        stride: int | Sequence[int] | None = None,
        padding: int | Sequence[int] = 0,
        out: str | None = None,
        out_shape: Sequence[int] | None = None,
    ) -> str:
        """MaxPool / AveragePool over an NCHW tensor (``macs = out elements * window``)."""
        n, c, h, w = self.shape(x)
        k = _pair(kernel)
        s = _pair(stride if stride is not None else kernel)
        p = _pads(padding)
        if out_shape is None:
            out_shape = (n, c, *conv_output_hw(h, w, k, s, p))
        out_shape = tuple(out_shape)
        dims = {"B": n, "K": c, "OY": out_shape[2], "OX": out_shape[3], "FY": k[0], "FX": k[1]}
        y = self.tensor(out or f"{name}.out", out_shape)
        self.add_op(
            name,
            op_type,
            OpKind.POOL,
            dims,
            (x,),
            (y,),
            math.prod(dims.values()),
            {"kernel": k, "stride": s, "padding": p},
        )
        return y

    def global_avg_pool(self, name: str, x: str, out: str | None = None) -> str:
        """GlobalAveragePool ``(N, C, H, W) -> (N, C, 1, 1)`` with ``FY = H``, ``FX = W``."""
        n, c, h, w = self.shape(x)
        dims = {"B": n, "K": c, "OY": 1, "OX": 1, "FY": h, "FX": w}
        y = self.tensor(out or f"{name}.out", (n, c, 1, 1))
        self.add_op(
            name, "GlobalAveragePool", OpKind.POOL, dims, (x,), (y,), math.prod(dims.values())
        )
        return y

    def norm(
        self,
        name: str,
        op_type: str,
        x: str,
        out: str | None = None,
        attrs: Mapping[str, object] | None = None,
    ) -> str:
        """Softmax / LayerNormalization / BatchNormalization (``macs = 5 * elements``)."""
        y = self.tensor(out or f"{name}.out", self.shape(x))
        dims = batch_elements(self.shape(y))
        self.add_op(
            name,
            op_type,
            OpKind.NORM,
            dims,
            (x,),
            (y,),
            NORM_OPS_PER_ELEMENT * self.tensors[y].numel,
            attrs,
        )
        return y

    def reduce(
        self,
        name: str,
        op_type: str,
        x: str,
        out_shape: Sequence[int],
        out: str | None = None,
        attrs: Mapping[str, object] | None = None,
    ) -> str:
        """ReduceSum / ReduceMean / ReduceMax / ReduceMin of ``x`` to ``out_shape``.

        Kind ``NORM`` (a reduction), loop dims ``B, E`` of the input, ``macs = numel(x)``.
        """
        y = self.tensor(out or f"{name}.out", out_shape)
        xt = self.tensors[x]
        self.add_op(
            name, op_type, OpKind.NORM, batch_elements(xt.shape), (x,), (y,), xt.numel, attrs
        )
        return y

    def einsum(self, name: str, a: str, b: str, equation: str, out: str | None = None) -> str:
        """Two-operand ``Einsum`` that is a (batched) matrix product, as a GEMM op.

        If ``a`` is a weight and ``b`` is not, the operands are swapped so that ``I2`` is the
        weight (the loop dims are symmetric in the operands).  Raises ``ValueError`` for any
        other contraction (see :func:`einsum_gemm_dims`).
        """
        terms = equation.replace(" ", "")
        if (
            self.tensors[a].role == TensorRole.WEIGHT
            and self.tensors[b].role != TensorRole.WEIGHT
            and "->" in terms
        ):
            lhs, rhs = terms.split("->")
            parts = lhs.split(",")
            if len(parts) == 2:
                a, b = b, a
                terms = f"{parts[1]},{parts[0]}->{rhs}"
        dims, out_shape = einsum_gemm_dims(terms, self.shape(a), self.shape(b))
        y = self.tensor(out or f"{name}.out", out_shape)
        self.add_op(
            name,
            "Einsum",
            OpKind.GEMM,
            dims,
            (a, b),
            (y,),
            math.prod(dims.values()),
            {"equation": terms},
        )
        return y

    def shape_op(
        self,
        name: str,
        op_type: str,
        inputs: Sequence[str],
        out_shape: Sequence[int],
        out: str | None = None,
        attrs: Mapping[str, object] | None = None,
        check: bool = True,
    ) -> str:
        """Zero-cost re-indexing op (Flatten, Reshape, Transpose, Concat, head split...).

        With ``check`` the output must have as many elements as the inputs together
        (disable it when constant inputs of a Concat were dropped).
        """
        y = self.tensor(out or f"{name}.out", out_shape)
        total_in = sum(self.tensors[t].numel for t in inputs)
        if check and total_in != self.tensors[y].numel:
            raise ValueError(
                f"shape op {name!r}: {total_in} input elements but output {tuple(out_shape)}"
            )
        self.add_op(name, op_type, OpKind.SHAPE, batch_elements(out_shape), inputs, (y,), 0, attrs)
        return y

    # -- result ----------------------------------------------------------------------
    def build(self) -> Graph:
        """The forward graph with only the tensors that ops read or write."""
        used = {t for op in self.ops for t in op.inputs + op.outputs}
        tensors = {k: v for k, v in self.tensors.items() if k in used}
        return Graph(self.name, tuple(self.ops), tensors)
