r"""Spiking neural networks of leaky integrate-and-fire (LIF) layers, trained with BPTT.

A fully connected SNN (optionally with recurrent hidden layers) unrolled over ``T`` time
steps, built directly as a training graph (forward, loss, backpropagation through time,
optimizer): :func:`derive_training_graph` of :mod:`monet_opt.models.training` does not
apply, because every weight is read at every step and its gradient is accumulated over the
steps in place.  ``docs/snn.md`` states the model, its sources and what is simplified.

Per layer :math:`l` (widths :math:`N_0` inputs, hidden layers, :math:`N_L` classes) and
step :math:`t`, with batch :math:`B`:

* **forward**: synaptic op :math:`I_t = S^{l-1}_t W_l` (+ :math:`S^l_{t-1} V_l` for a
  recurrent layer), membrane :math:`U_t = \beta U_{t-1} + I_t - \theta S_{t-1}` and spike
  :math:`S_t = H(U_t - \theta)`;
* **loss**: softmax cross-entropy of the output layer's spike counts
  :math:`\sum_t S^L_t` (B, classes);
* **backward through time**: :math:`dU_t = dS_t\,\sigma'(U_t) + \beta\,dU_{t+1}` with the
  fast-sigmoid surrogate :math:`\sigma'(u) = 1 / (1 + \kappa|u - \theta|)^2`,
  :math:`dI_t = dU_t`, :math:`dS^{l-1}_t = dI_t W_l^T` (dense, :math:`B N_l N_{l-1}`
  MACs) and :math:`dW_l \mathrel{+}= (S^{l-1}_t)^T dI_t`, accumulated over the steps.

**Activity sparsity.**  A fraction ``a`` of the neurons is active per step.  A spike
tensor is stored as a list of spike ids: ``ceil(log2 N)`` bits per active neuron plus a
32-bit row pointer per (sample, step) (:class:`~monet_opt.models.ir.SparseStorage` with
``value_bits = 0``), so every transfer of spikes moves ids, not dense activations.  The
forward synaptic op of a layer with ``s = a_in N_{l-1}`` active inputs is
:math:`B s N_l` accumulates per step and its ``dW`` :math:`B s N_l` per step; both carry
a :class:`~monet_opt.models.sparsity.SparseOpInfo` of kind ``"activity"`` (fan-in loop
kept at ``a_in``, ``accumulate=True``), so the cost model runs them as it runs sparse
layers (:mod:`monet_opt.cost.sparse`): a core with a gather path performs the kept
accumulates, a core without one runs the spikes dense (MACs on 0/1 inputs).  ``dX`` is
dense unless the **second threshold** (``grad_activity``: the fraction of neurons whose
membrane is close enough to the threshold for a non-zero surrogate gradient) sparsifies
:math:`dI`: then ``dI`` is stored as ids + values, ``dX`` keeps ``grad_activity`` of its
reduction and ``dW`` of its output neurons.

**Time-step grouping.**  One graph node covers ``steps_per_node = k`` consecutive steps
of one layer (``ceil(T / k)`` groups, the last one possibly shorter).  Physically a node
is a kernel launch / BSP superstep that processes ``k`` steps of a layer at once: the
feed-forward synaptic op of ``k`` steps is one GEMM over ``B k`` rows (the inputs of all
``k`` steps are known once the previous layer's group has run), the LIF node iterates the
``k`` steps internally and hands the membrane of the last step (``state``, ``(B, N)``) to
the next group.  Work, weights and state sizes are those of ``T`` single steps; what
grouping removes is scheduling freedom inside a group (and, for a recurrent layer, the
recurrent op of group ``g`` reads the spikes of group ``g - 1``: exact for ``k = 1``, a
``k``-step shift of the same work otherwise).

Sources: Finkbeiner, Gmeinder, Pupilli, Titterton, Neftci, "Harnessing manycore
processors with distributed memory for accelerated training of sparse and recurrent
models", AAAI 2024 (arXiv:2311.04386): LIF layers trained with BPTT and a surrogate
gradient, spike ids exchanged between tiles, a second threshold that sparsifies the
backward pass, benchmarks NMNIST (2312 inputs, T = 100), SHD (700, T = 100), DVSGesture
(4608, T = 50) at batch 48, activity 0.5 %-50 % (Finkbeiner et al., arXiv:2311.04386;
``docs/snn.md``).
Fast-sigmoid surrogate: Zenke & Ganguli, "SuperSpike", Neural Computation 30(6), 2018.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from monet_opt.models.builder import INDEX_PRECISION, NORM_OPS_PER_ELEMENT
from monet_opt.models.ir import Graph, Op, OpKind, Phase, SparseStorage, Tensor, TensorRole
from monet_opt.models.sparsity import (
    ACTIVITY_KIND,
    ROW_POINTER_BITS,
    LayerGeometry,
    SparseOpInfo,
    SparsitySpec,
)
from monet_opt.models.training import (
    ADAMW_OPS_PER_ELEMENT,
    OPTIMIZERS,
    SGD_OPS_PER_ELEMENT,
    Precision,
)

__all__ = [
    "SNN_PRESETS",
    "ACTIVITY_RANGE",
    "SPIKE_FORMATS",
    "LIF_OPS_PER_ELEMENT",
    "LIF_GRAD_OPS_PER_ELEMENT",
    "DEFAULT_STEPS_PER_NODE",
    "SnnSpec",
    "snn_spec",
    "snn",
    "snn_training_graph",
    "is_snn",
    "spike_storage",
    "spike_id_bits",
    "snn_note",
]

#: Benchmark shapes of the seed (Finkbeiner et al., arXiv:2311.04386): inputs, steps T,
#: classes.
SNN_PRESETS: Mapping[str, Mapping[str, int]] = {
    "nmnist": {"inputs": 2312, "steps": 100, "classes": 10},
    "shd": {"inputs": 700, "steps": 100, "classes": 20},
    "dvsgesture": {"inputs": 4608, "steps": 50, "classes": 11},
}
#: Allowed fraction of active neurons per step (the seed's sweep).
ACTIVITY_RANGE: tuple[float, float] = (0.005, 0.5)
#: ``ids``: spike-id lists (event-driven); ``dense``: spikes as dense activation tensors
#: (how a dense GEMM on a GPU runs them; no op skips inactive inputs).
SPIKE_FORMATS: tuple[str, ...] = ("ids", "dense")
#: LIF forward element ops per neuron and step: leak and integrate (2), reset (1),
#: threshold compare (1).
LIF_OPS_PER_ELEMENT: int = 4
#: LIF backward element ops per neuron and step: fast-sigmoid surrogate (4: subtract,
#: scaled absolute value, add, reciprocal square) and dU = dS sigma' + beta dU_next (3).
LIF_GRAD_OPS_PER_ELEMENT: int = 7
#: Default time steps per graph node.
DEFAULT_STEPS_PER_NODE: int = 10


def _int(name: str, v: object, lo: int = 1) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    return v


def _fraction(name: str, v: object, lo: float, hi: float, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= float(v) <= hi:
        raise ValueError(f"{name} must be in [{lo:g}, {hi:g}] ({what}), got {v!r}")
    return float(v)


@dataclass(frozen=True)
class SnnSpec:
    """Shape and sparsity of an SNN training workload (module docstring).

    Parameters
    ----------
    name
        Model name (the graph is ``f"{name}-train"``).
    inputs
        Input neurons :math:`N_0` (event channels).
    hidden
        Hidden layer widths.
    classes
        Output neurons (classes).
    steps
        Time steps ``T``.
    batch
        Samples per step ``B``.
    activity
        Fraction of active neurons per step in the hidden and output layers, in
        :data:`ACTIVITY_RANGE`.
    input_activity
        Fraction of active input neurons per step (``None``: ``activity``).
    grad_activity
        The second-threshold option: fraction of neurons with a non-zero surrogate
        gradient per step, in ``(0, 1]`` (``None``: dense surrogate gradient, dense dX).
    recurrent
        Hidden layers have recurrent weights ``V_l`` ``(N_l, N_l)``.
    steps_per_node
        Time steps per graph node ``k`` (module docstring).
    spike_format
        ``"ids"`` or ``"dense"`` (:data:`SPIKE_FORMATS`).

    Raises
    ------
    ValueError
        Naming the field, on a value out of its range.
    """

    name: str
    inputs: int
    hidden: tuple[int, ...]
    classes: int
    steps: int
    batch: int = 48
    activity: float = 0.05
    input_activity: float | None = None
    grad_activity: float | None = None
    recurrent: bool = False
    steps_per_node: int = DEFAULT_STEPS_PER_NODE
    spike_format: str = "ids"

    def __post_init__(self) -> None:
        _int("inputs", self.inputs)
        _int("classes", self.classes)
        _int("steps", self.steps)
        _int("batch", self.batch)
        for w in self.hidden:
            _int("hidden_width", w)
        _int("steps_per_node", self.steps_per_node)
        lo, hi = ACTIVITY_RANGE
        what = "fraction of active neurons per step"
        _fraction("activity", self.activity, lo, hi, what)
        if self.input_activity is not None:
            _fraction("input_activity", self.input_activity, lo, hi, what)
        if self.grad_activity is not None:
            _fraction(
                "grad_activity",
                self.grad_activity,
                1e-6,
                1.0,
                "fraction of neurons with a non-zero surrogate gradient",
            )
        if not isinstance(self.recurrent, bool):
            raise ValueError(f"recurrent must be true or false, got {self.recurrent!r}")
        if self.spike_format not in SPIKE_FORMATS:
            raise ValueError(
                f"spike_format={self.spike_format!r} is not allowed; choose one of "
                f"{list(SPIKE_FORMATS)}"
            )
        if self.spike_format == "dense" and self.grad_activity is not None:
            raise ValueError("grad_activity needs spike_format: ids (dense spikes skip nothing)")

    @property
    def widths(self) -> tuple[int, ...]:
        """``(N_0, hidden..., classes)``."""
        return (self.inputs, *self.hidden, self.classes)

    @property
    def layers(self) -> int:
        """Spiking layers ``L`` (hidden + output)."""
        return len(self.hidden) + 1

    @property
    def groups(self) -> tuple[int, ...]:
        """Steps of each node group (``steps_per_node``, the last one possibly fewer)."""
        k = min(self.steps_per_node, self.steps)
        full, rest = divmod(self.steps, k)
        return (k,) * full + ((rest,) if rest else ())

    @property
    def sparse(self) -> bool:
        """Whether spikes are id lists (event-driven ops)."""
        return self.spike_format == "ids"

    def layer_activity(self, layer: int) -> float:
        """Fraction of active neurons of layer ``layer`` (0 = the input)."""
        if layer == 0 and self.input_activity is not None:
            return self.input_activity
        return self.activity


def spike_id_bits(neurons: int) -> int:
    """Bits of one spike id among ``neurons`` neurons: ``ceil(log2 N)`` (at least 1)."""
    return max(1, math.ceil(math.log2(neurons)))


def spike_storage(rows: int, neurons: int, activity: float) -> SparseStorage:
    """Storage of ``rows`` (samples x steps) spike vectors of ``neurons`` neurons with a
    fraction ``activity`` active: ``round(a rows N)`` ids of ``ceil(log2 N)`` bits, no
    values, and ``rows + 1`` 32-bit row pointers.

    Returns
    -------
    SparseStorage
        ``bits(p) = nnz ceil(log2 N) + (rows + 1) 32`` for any precision ``p``.
    """
    nnz = max(1, round(activity * rows * neurons))
    return SparseStorage(nnz, spike_id_bits(neurons), (rows + 1) * ROW_POINTER_BITS, 0)


def snn_note(spec: SnnSpec) -> str:
    """One sentence on an SNN workload for the run's notes: shape, grouping, activity and
    the stored size of one group's input spikes against dense activations."""
    s = spec
    k = s.groups[0]
    rows = s.batch * k
    layers = "-".join(str(w) for w in s.widths)
    act = f"activity {s.activity:.1%}"
    if s.input_activity is not None:
        act += f" (input {s.input_activity:.1%})"
    if s.grad_activity is not None:
        act += f", second threshold: {s.grad_activity:.1%} of the surrogate gradients kept"
    if s.sparse:
        st = spike_storage(rows, s.inputs, s.layer_activity(0))
        dense = rows * s.inputs * 16
        spikes = (
            f"spikes stored as {spike_id_bits(s.inputs)}-bit ids (an input group: "
            f"{st.bits(0) / 8 / 1024:.1f} KiB vs {dense / 8 / 1024:.1f} KiB dense fp16)"
        )
    else:
        spikes = "spikes as dense tensors (no op skips inactive inputs)"
    return (
        f"SNN {s.name}: LIF layers {layers}{' (recurrent)' if s.recurrent else ''}, "
        f"batch {s.batch}, T = {s.steps} steps in {len(s.groups)} groups of up to {k} steps "
        f"per node, {act}; {spikes}"
    )


def snn_spec(
    preset: str | None = None,
    *,
    inputs: int | None = None,
    steps: int | None = None,
    classes: int | None = None,
    batch: int = 48,
    hidden_layers: int = 2,
    hidden_width: int = 256,
    activity: float = 0.05,
    input_activity: float | None = None,
    grad_activity: float | None = None,
    recurrent: bool = False,
    steps_per_node: int = DEFAULT_STEPS_PER_NODE,
    spike_format: str = "ids",
) -> SnnSpec:
    """An :class:`SnnSpec` from a preset of :data:`SNN_PRESETS` (whose ``inputs``,
    ``steps``, ``classes`` the explicit values override) or from explicit sizes.

    Raises
    ------
    ValueError
        On an unknown preset, a missing size without a preset, or a value out of range
        (the message names the option).
    """
    base: dict[str, int] = {}
    if preset is not None:
        if preset not in SNN_PRESETS:
            raise ValueError(f"preset={preset!r} is not allowed; choose one of {list(SNN_PRESETS)}")
        base = dict(SNN_PRESETS[preset])
    given = {"inputs": inputs, "steps": steps, "classes": classes}
    sizes = {k: v if v is not None else base.get(k) for k, v in given.items()}
    missing = [k for k, v in sizes.items() if v is None]
    if missing:
        raise ValueError(f"{', '.join(missing)} needed (or a preset: {list(SNN_PRESETS)})")
    _int("hidden_layers", hidden_layers, lo=0)
    _int("hidden_width", hidden_width)
    return SnnSpec(
        name=f"snn-{preset}" if preset is not None else "snn",
        inputs=sizes["inputs"],  # type: ignore[arg-type]
        hidden=(hidden_width,) * hidden_layers,
        classes=sizes["classes"],  # type: ignore[arg-type]
        steps=sizes["steps"],  # type: ignore[arg-type]
        batch=batch,
        activity=activity,
        input_activity=input_activity,
        grad_activity=grad_activity,
        recurrent=recurrent,
        steps_per_node=steps_per_node,
        spike_format=spike_format,
    )


def snn(
    preset: str | None = "nmnist",
    inputs: int | None = None,
    steps: int | None = None,
    classes: int | None = None,
    batch: int = 48,
    hidden_layers: int = 2,
    hidden_width: int = 256,
    activity: float = 0.05,
    input_activity: float | None = None,
    grad_activity: float | None = None,
    recurrent: bool = False,
    steps_per_node: int = DEFAULT_STEPS_PER_NODE,
    spike_format: str = "ids",
    precision: int = 16,
) -> Graph:
    """Forward graph (all steps, spike-count readout; no loss) of an SNN.

    Parameters
    ----------
    preset
        ``"nmnist"`` (default), ``"shd"``, ``"dvsgesture"`` or ``None`` (give ``inputs``,
        ``steps``, ``classes``).
    inputs, steps, classes
        Input neurons, time steps ``T`` and classes (override the preset's).
    batch, activity, input_activity, grad_activity, recurrent, steps_per_node, spike_format
        As :class:`SnnSpec`.
    hidden_layers, hidden_width
        Number (>= 0) and width of the hidden layers.
    precision
        Bits per weight and membrane potential.

    Returns
    -------
    Graph
        Every op carries ``attrs["snn"]`` (its :class:`SnnSpec`), which
        :func:`snn_training_graph` reads.

    Raises
    ------
    ValueError
        As :func:`snn_spec` (the message names the option).
    """
    spec = snn_spec(
        preset,
        inputs=inputs,
        steps=steps,
        classes=classes,
        batch=batch,
        hidden_layers=hidden_layers,
        hidden_width=hidden_width,
        activity=activity,
        input_activity=input_activity,
        grad_activity=grad_activity,
        recurrent=recurrent,
        steps_per_node=steps_per_node,
        spike_format=spike_format,
    )
    _int("precision", precision)
    return _Builder(spec, Precision(precision, precision, precision), None).run()


def is_snn(graph: Graph) -> bool:
    """Whether ``graph`` is a forward graph built by :func:`snn`."""
    return bool(graph.ops) and isinstance(graph.ops[0].attrs.get("snn"), SnnSpec)


def snn_training_graph(
    forward: Graph | SnnSpec, optimizer: str = "adamw", precision: Precision | None = None
) -> Graph:
    """The BPTT training graph of an SNN (module docstring).

    Parameters
    ----------
    forward
        A graph from :func:`snn` (its spec is read back) or an :class:`SnnSpec`.
    optimizer
        ``"adamw"`` or ``"sgd"`` (as :func:`~monet_opt.models.training.derive_training_graph`).
    precision
        Bits of membrane potentials and currents (``activation``), weights, gradients and
        optimizer state (default :class:`Precision()`).

    Returns
    -------
    Graph
        Named ``f"{name}-train"``.  Ops (``l`` = layer 1..L, ``g`` = group):
        ``l{l}.g{g}.syn`` (GEMM ``B, D=k, C=N_{l-1}, K=N_l``), ``l{l}.g{g}.rec``
        (recurrent GEMM, groups after the first), ``l{l}.g{g}.lif`` (element-wise, outputs
        membrane history ``(B, k, N)``, spikes ``(B, k, N)``, state ``(B, N)``),
        ``readout`` (spike counts), ``loss``, ``loss.grad``, ``l{l}.g{g}.lif.grad``
        (surrogate gradient through time: ``dI`` and the state gradient to group
        ``g - 1``), ``l{l}.g{g}.syn.dX`` (``l > 1``), ``l{l}.g{g}.syn.dW`` (reads and
        writes the running sum ``d[W]@g{g}``; the last one, of group 0, is ``d[W]``),
        ``rec.dX`` / ``rec.dW`` likewise, and one optimizer op per weight.
        ``checkpoint_candidates``: the membrane histories and spike tensors of every group
        (and the input spikes, spike counts) read by the backward pass.

    Raises
    ------
    ValueError
        On an unknown optimizer, a graph not built by :func:`snn`, or a bad precision.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(
            f"optimizer={optimizer!r} is not allowed; choose one of {list(OPTIMIZERS)}"
        )
    if isinstance(forward, Graph):
        if not is_snn(forward):
            raise ValueError(f"graph {forward.name!r} was not built by monet_opt.models.snn")
        spec = forward.ops[0].attrs["snn"]
        assert isinstance(spec, SnnSpec)
    else:
        spec = forward
    if precision is None:
        precision = Precision()
    return _Builder(spec, precision, optimizer).run()


@dataclass
class _Builder:
    spec: SnnSpec
    prec: Precision
    optimizer: str | None
    tensors: dict[str, Tensor] = field(default_factory=dict)
    ops: list[Op] = field(default_factory=list)

    # -- helpers ---------------------------------------------------------------------
    def tensor(
        self,
        name: str,
        shape: tuple[int, ...],
        role: TensorRole,
        bits: int,
        sparse: SparseStorage | None = None,
    ) -> str:
        assert name not in self.tensors, name
        self.tensors[name] = Tensor(name, shape, bits, role, sparse)
        return name

    def spikes(self, name: str, layer: int, k: int, role: TensorRole) -> str:
        s = self.spec
        n = s.widths[layer]
        storage = spike_storage(s.batch * k, n, s.layer_activity(layer)) if s.sparse else None
        return self.tensor(name, (s.batch, k, n), role, self.prec.activation, storage)

    def emit(
        self,
        name: str,
        op_type: str,
        kind: OpKind,
        phase: Phase,
        loops: Mapping[str, int],
        inputs: tuple[str, ...],
        outputs: tuple[str, ...],
        work: int,
        forward_op: str | None = None,
        info: SparseOpInfo | None = None,
        running_sum: bool = False,
    ) -> None:
        attrs: dict[str, object] = {"snn": self.spec}
        if info is not None:
            attrs["sparsity"] = info
        if running_sum:  # the last input is the dW summed so far (cost.op_cost._groups)
            attrs["running_sum"] = True
        self.ops.append(
            Op(name, op_type, kind, phase, loops, inputs, outputs, int(work), forward_op, attrs)
        )

    def info(
        self,
        role: str,
        layer: str,
        dims: tuple[str, str, str],
        fractions: tuple[float, float],
        geometry: tuple[int, int, int],
        index_bits: int,
        accumulate: bool,
    ) -> SparseOpInfo | None:
        """A :class:`SparseOpInfo` of kind ``activity``, or ``None`` for a dense op
        (``dense`` spike format, or nothing kept out)."""
        if not self.spec.sparse or fractions == (1.0, 1.0):
            return None
        neurons, fan_in, ids = geometry
        density = fractions[0] * fractions[1]
        sspec = SparsitySpec(ACTIVITY_KIND, density, index_bits=index_bits)
        geo = LayerGeometry(neurons, fan_in, neurons, ids, 0)
        return SparseOpInfo(sspec, role, layer, *dims, *fractions, geo, accumulate)

    # -- graph -----------------------------------------------------------------------
    def run(self) -> Graph:
        s, p = self.spec, self.prec
        widths, groups, b = s.widths, s.groups, s.batch
        L = s.layers
        weights = {}
        recw = {}
        for layer in range(1, L + 1):
            w = f"l{layer}.weight"
            weights[layer] = self.tensor(
                w, (widths[layer - 1], widths[layer]), TensorRole.WEIGHT, p.weight
            )
            if s.recurrent and layer < L:
                recw[layer] = self.tensor(
                    f"l{layer}.rec_weight", (widths[layer], widths[layer]), TensorRole.WEIGHT,
                    p.weight,
                )  # fmt: skip
        # -- forward ---------------------------------------------------------------
        spikes: dict[tuple[int, int], str] = {}
        membrane: dict[tuple[int, int], str] = {}
        state: dict[tuple[int, int], str] = {}
        for g, k in enumerate(groups):
            spikes[0, g] = self.spikes(f"input.g{g}", 0, k, TensorRole.INPUT)
            for layer in range(1, L + 1):
                n_in, n = widths[layer - 1], widths[layer]
                a_in = s.layer_activity(layer - 1)
                pre = f"l{layer}.g{g}"
                cur = self.tensor(f"{pre}.current", (b, k, n), TensorRole.ACTIVATION, p.activation)
                ids_in = self._ids(layer - 1, k)
                self.emit(
                    f"{pre}.syn",
                    "SpikeGemm",
                    OpKind.GEMM,
                    Phase.FORWARD,
                    {"B": b, "D": k, "C": n_in, "K": n},
                    (spikes[layer - 1, g], weights[layer]),
                    (cur,),
                    b * k * n_in * n,
                    info=self.info(
                        "forward",
                        f"{pre}.syn",
                        ("C", "K", "I2"),
                        (a_in, 1.0),
                        (n, n_in, ids_in),
                        spike_id_bits(n_in),
                        True,
                    ),
                )
                lif_in = [cur]
                if layer in recw and g > 0:
                    rc = self.tensor(
                        f"{pre}.rec_current", (b, k, n), TensorRole.ACTIVATION, p.activation
                    )
                    self.emit(
                        f"{pre}.rec",
                        "SpikeGemm",
                        OpKind.GEMM,
                        Phase.FORWARD,
                        {"B": b, "D": k, "C": n, "K": n},
                        (spikes[layer, g - 1], recw[layer]),
                        (rc,),
                        b * k * n * n,
                        info=self.info(
                            "forward",
                            f"{pre}.rec",
                            ("C", "K", "I2"),
                            (s.layer_activity(layer), 1.0),
                            (n, n, self._ids(layer, groups[g - 1])),
                            spike_id_bits(n),
                            True,
                        ),
                    )
                    lif_in.append(rc)
                if g > 0:
                    lif_in.append(state[layer, g - 1])
                membrane[layer, g] = self.tensor(
                    f"{pre}.membrane", (b, k, n), TensorRole.ACTIVATION, p.activation
                )
                spikes[layer, g] = self.spikes(f"{pre}.spikes", layer, k, TensorRole.ACTIVATION)
                state[layer, g] = self.tensor(
                    f"{pre}.state", (b, n), TensorRole.ACTIVATION, p.activation
                )
                extra = len(lif_in) - 1 - (g > 0)  # a recurrent current adds one op
                self.emit(
                    f"{pre}.lif",
                    "LIF",
                    OpKind.ELEMENTWISE,
                    Phase.FORWARD,
                    {"B": b, "E": k * n},
                    tuple(lif_in),
                    (membrane[layer, g], spikes[layer, g], state[layer, g]),
                    b * k * n * (LIF_OPS_PER_ELEMENT + extra),
                )
        classes = widths[L]
        counts = self.tensor("readout.counts", (b, classes), TensorRole.ACTIVATION, p.activation)
        self.emit(
            "readout",
            "SpikeCount",
            OpKind.ELEMENTWISE,
            Phase.FORWARD,
            {"B": b, "E": s.steps * classes},
            tuple(spikes[L, g] for g in range(len(groups))),
            (counts,),
            b * s.steps * classes,
        )
        if self.optimizer is None:
            return Graph(s.name, tuple(self.ops), self.tensors)
        self._backward(weights, recw, spikes, membrane, state, counts)
        bw_reads = {t for op in self.ops if op.phase == Phase.BACKWARD for t in op.inputs}
        cands = frozenset(
            t for t in bw_reads if self.tensors[t].role in (TensorRole.ACTIVATION, TensorRole.INPUT)
        )
        return Graph(f"{s.name}-train", tuple(self.ops), self.tensors, cands)

    def _ids(self, layer: int, k: int) -> int:
        """Spike ids of ``layer`` in a group of ``k`` steps."""
        s = self.spec
        return max(1, round(s.layer_activity(layer) * s.batch * k * s.widths[layer]))

    def _backward(
        self,
        weights: dict[int, str],
        recw: dict[int, str],
        spikes: dict[tuple[int, int], str],
        membrane: dict[tuple[int, int], str],
        state: dict[tuple[int, int], str],
        counts: str,
    ) -> None:
        s, p = self.spec, self.prec
        widths, groups, b = s.widths, s.groups, s.batch
        L = s.layers
        classes = widths[L]
        labels = self.tensor("labels", (b,), TensorRole.LABEL, INDEX_PRECISION)
        loss = self.tensor("loss", (), TensorRole.LOSS, 32)
        dims = {"B": b, "E": classes}
        self.emit(
            "loss",
            "SoftmaxCrossEntropy",
            OpKind.LOSS,
            Phase.FORWARD,
            dims,
            (counts, labels),
            (loss,),
            NORM_OPS_PER_ELEMENT * b * classes,
        )
        d_counts = self.tensor(f"d[{counts}]", (b, classes), TensorRole.GRADIENT, p.gradient)
        self.emit(
            "loss.grad",
            "SoftmaxCrossEntropyGrad",
            OpKind.ELEMENTWISE,
            Phase.BACKWARD,
            dims,
            (counts, labels),
            (d_counts,),
            NORM_OPS_PER_ELEMENT * b * classes,
            "loss",
        )
        g_act = s.grad_activity
        ds: dict[tuple[int, int], list[str]] = {}  # gradient contributions to spikes
        d_state: dict[tuple[int, int], str] = {}
        acc: dict[str, str] = {}  # weight -> running dW sum
        for g in range(len(groups) - 1, -1, -1):
            k = groups[g]
            for layer in range(L, 0, -1):
                n_in, n = widths[layer - 1], widths[layer]
                pre = f"l{layer}.g{g}"
                parts = [d_counts] if layer == L else ds.pop((layer, g))
                ins = [*parts, membrane[layer, g]]
                if (layer, g) in d_state:
                    ins.append(d_state.pop((layer, g)))
                g_store = None
                if g_act is not None:
                    nnz = max(1, round(g_act * b * k * n))
                    g_store = SparseStorage(nnz, spike_id_bits(n), (b * k + 1) * ROW_POINTER_BITS)
                di = self.tensor(
                    f"d[{pre}.current]", (b, k, n), TensorRole.GRADIENT, p.gradient, g_store
                )
                outs = [di]
                if g > 0:
                    d_state[layer, g - 1] = self.tensor(
                        f"d[l{layer}.g{g - 1}.state]", (b, n), TensorRole.GRADIENT, p.gradient
                    )
                    outs.append(d_state[layer, g - 1])
                self.emit(
                    f"{pre}.lif.grad",
                    "LIFGrad",
                    OpKind.ELEMENTWISE,
                    Phase.BACKWARD,
                    {"B": b, "E": k * n},
                    tuple(ins),
                    tuple(outs),
                    b * k * n * (LIF_GRAD_OPS_PER_ELEMENT + len(parts) - 1),
                    f"{pre}.lif",
                )
                kept = 1.0 if g_act is None else g_act
                grad_ids = 0 if g_act is None else max(1, round(g_act * b * k * n))
                # synaptic op (and the recurrent one) backward: dX, dW
                syn = [(f"{pre}.syn", weights[layer], layer - 1, g, n_in)]
                if layer in recw and g > 0:
                    syn.append((f"{pre}.rec", recw[layer], layer, g - 1, n))
                for fop, w, src, src_g, fan in syn:
                    if src > 0:
                        dx = self.tensor(
                            f"d[{spikes[src, src_g]}]@{fop}.dX",
                            (b, k, fan),
                            TensorRole.GRADIENT,
                            p.gradient,
                        )
                        self.emit(
                            f"{fop}.dX",
                            "SpikeGemmGradInput",
                            OpKind.GEMM,
                            Phase.BACKWARD,
                            {"B": b, "D": k, "C": n, "K": fan},
                            (di, w),
                            (dx,),
                            b * k * n * fan,
                            fop,
                            self.info(
                                "dX",
                                fop,
                                ("K", "C", "I2"),
                                (1.0, kept),
                                (fan, n, grad_ids),
                                spike_id_bits(n),
                                False,
                            ),
                        )
                        ds.setdefault((src, src_g), []).append(dx)
                    prev = acc.get(w)
                    last = g == (1 if fop.endswith(".rec") else 0)  # the sum is complete
                    name = f"d[{w}]" if last else f"d[{w}]@g{g}"
                    dw = self.tensor(
                        name, self.tensors[w].shape, TensorRole.WEIGHT_GRADIENT, p.gradient
                    )
                    a_src = s.layer_activity(src)
                    ids = self._ids(src, groups[src_g])
                    idx_bits = spike_id_bits(widths[src])
                    total_idx = ids * idx_bits + grad_ids * spike_id_bits(n)
                    self.emit(
                        f"{fop}.dW",
                        "SpikeGemmGradWeight",
                        OpKind.GEMM,
                        Phase.BACKWARD,
                        {"B": 1, "D": fan, "C": b * k, "K": n},
                        (spikes[src, src_g], di, *((prev,) if prev else ())),
                        (dw,),
                        b * k * fan * n,
                        fop,
                        self.info(
                            "dW",
                            fop,
                            ("D", "K", "O"),
                            (a_src, kept),
                            (n, fan, math.ceil(total_idx / idx_bits)),
                            idx_bits,
                            True,
                        ),
                        running_sum=prev is not None,
                    )
                    acc[w] = dw
        for w in [*weights.values(), *recw.values()]:
            self._optimizer_op(w, acc[w])

    def _optimizer_op(self, w: str, dw: str) -> None:
        p = self.prec
        wt = self.tensors[w]
        w_next = self.tensor(f"{w}.next", wt.shape, TensorRole.WEIGHT, p.weight)
        if self.optimizer == "adamw":
            states = ("adam_m", "adam_v", "master")
            op_type, suffix, cost = "AdamW", "adamw", ADAMW_OPS_PER_ELEMENT
        else:
            states = ("momentum",)
            op_type, suffix, cost = "SGD", "sgd", SGD_OPS_PER_ELEMENT
        ins, outs = [dw, w], [w_next]
        for st in states:
            role, bits = TensorRole.OPTIMIZER_STATE, p.optimizer_state
            ins.append(self.tensor(f"{w}.{st}", wt.shape, role, bits))
            outs.append(self.tensor(f"{w}.{st}.next", wt.shape, role, bits))
        self.emit(
            f"{w}.{suffix}",
            op_type,
            OpKind.OPTIMIZER,
            Phase.OPTIMIZER,
            {"B": 1, "E": wt.numel},
            tuple(ins),
            tuple(outs),
            cost * wt.numel,
            w,
        )
