r"""Exact neuron-stationary placement on a MIMD tile processor (MILP, HiGHS).

Issue 14 §2.  On an IPU-like chip (``examples/hardware/ipu_like.yaml``, ``docs/mimd_tiles.md``)
a spiking network trained with BPTT keeps every neuron on one tile, with its fan-in
weights, their gradients and optimizer state, and the neuron's state history over the
unrolled sequence (Finkbeiner et al., "Harnessing manycore processors with distributed
memory for accelerated training of sparse and recurrent models", arXiv:2311.04386;
Graphcore IPU documentation).  Only spike ids and gradients travel over the exchange.
This module chooses, per layer, how many neurons share a tile (hence how many tiles
the layer takes) and whether the layer's state history stays on its tiles or is
checkpointed to streaming memory, minimizing the BSP step time.

The layers are taken abstractly (:class:`TileLayer`: fan-in, neurons, T, B, bytes,
cycles), so the formulation does not depend on one workload; :func:`snn_tile_layer`
derives a layer from the spiking-layer quantities and :func:`tile_layers_from_snn` all
layers of an SNN workload (:mod:`monet_opt.models.snn`).

Sets and parameters
-------------------
* Layers :math:`l \in L` with fan-in :math:`F_l`, neurons :math:`N_l`, time steps
  :math:`T_l`, batch :math:`B_l`; bytes per weight of the weight :math:`w_l`, its gradient
  :math:`g_l` and optimizer state :math:`o_l`; state-history bytes per neuron, sample and
  step :math:`h_l` (membrane and spike), of which :math:`h^c_l` is a checkpoint (the
  membrane: the spikes follow from it).
* Chip: :math:`n` tiles of :math:`C` bytes (minus ``reserved_bytes`` for code and
  buffers), sync :math:`\sigma` cycles per superstep, exchange :math:`b_{ex}` bytes per
  cycle into one tile, streaming memory of :math:`S` bytes at :math:`b_s` bytes per cycle
  (chip-wide), an on-tile buffer of :math:`\beta` steps for what goes to streaming memory,
  a recompute segment of :math:`R_l` steps (default :math:`\lceil\sqrt{T_l}\rceil`).
* Superstep time of layer :math:`l` with :math:`k` neurons per tile, per time step
  (forward and backward superstep):
  :math:`\tau_l(k) = k\,u_l + \lceil (e_l + k\,e'_l) / b_{ex} \rceil + 2\sigma`, with
  :math:`u_l` the cycles of one neuron-step on a tile (:math:`u^f_l` of them forward),
  :math:`e_l` the bytes every tile of the layer receives per step (input spike ids) and
  :math:`e'_l` per neuron of the tile (its output gradients).

Decision: where each layer's state history lives
------------------------------------------------
A placement is :math:`(k_l, c_l)`: :math:`k_l \in \{1..N_l\}` neurons per tile (the
layer takes :math:`t_l = \lceil N_l / k_l \rceil` tiles) and a history mode
:math:`c_l` (:data:`HISTORY_MODES`):

* ``keep``: bytes per neuron on its tile :math:`b_l = s_l + T_l B_l h_l`, no extra
  cycles, no streaming memory;
* ``stream``: :math:`b_l = s_l + \beta B_l h_l`, extra cycles
  :math:`x_l = m_l = \lceil 2 T_l B_l N_l h_l / b_s \rceil`, streaming memory
  :math:`T_l B_l N_l h_l` bytes;
* ``recompute``: :math:`b_l = s_l + (R_l + \beta) B_l h_l`, extra cycles
  :math:`x_l(k) = T_l k u^f_l + \lceil 2 \lceil T_l / R_l \rceil B_l N_l h^c_l / b_s \rceil`,
  streaming memory :math:`\lceil T_l / R_l \rceil B_l N_l h^c_l` bytes;

with :math:`s_l = F_l (w_l + g_l + o_l)` the static bytes.  ``stream`` writes the whole
history to streaming memory in the forward pass and reads it back in the backward pass;
``recompute`` writes a membrane checkpoint every :math:`R_l` steps and, in the backward
pass, recomputes each segment's forward on the tile from its checkpoint (double
checkpointing: checkpoints off the tile, one segment on it).  Transfers go through the
one streaming port and are not overlapped with compute (BSP exchange phases).  A
placement is feasible when

.. math::  k_l\, b_l(c_l) \le C \quad \forall l, \qquad \sum_l t_l \le n, \qquad
           \sum_l (\text{streaming bytes})_l \le S

(the tile-capacity formula of issue 14: neurons per tile × (weights + grads + optimizer
state) + T·B·(state history), per neuron, for ``keep``).  Its step time is

* ``schedule="sequential"`` (layers one after another, each in its own supersteps):
  :math:`\sum_l \bigl(T_l\,\tau_l(k_l) + x_l(c_l, k_l)\bigr)`;
* ``schedule="pipelined"`` (every layer computes in every superstep, layer :math:`l` one
  step behind :math:`l-1`: :math:`T + |L| - 1` supersteps, each as long as the slowest
  layer): :math:`(T + |L| - 1)\max_l \tau_l(k_l) + \sum_l x_l(c_l, k_l)`,
  :math:`T = \max_l T_l`.

MILP (``_build``): for each layer the candidate set
:math:`K_l = \{\lceil N_l / t \rceil : t = 1..N_l\}` and binaries :math:`z_{l,k,c}` for
the capacity-feasible pairs,

.. math::  \sum_{k,c} z_{l,k,c} = 1 \;\forall l, \qquad
           \sum_{l,k,c} \lceil N_l / k \rceil\, z_{l,k,c} \le n, \qquad
           \sum_{l,k,c} (\text{streaming bytes})_{l,c}\, z_{l,k,c} \le S,

objective :math:`\sum_{l,k,c} (T_l \tau_l(k) + x_l(c, k))\, z_{l,k,c}` (sequential), or
:math:`(T+|L|-1)\,M + \sum x_l(c, k)\, z_{l,k,c}` with
:math:`M \ge \sum_{k,c} \tau_l(k) z_{l,k,c}\ \forall l` (pipelined).

Why it is exact
---------------
For every mode, every cost and the capacity left-hand side are nondecreasing in
:math:`k`; the tile count :math:`\lceil N/k \rceil` is nonincreasing.  Take any feasible
placement and a layer's :math:`k`, using :math:`t = \lceil N/k \rceil` tiles.  Then
:math:`k^* = \lceil N/t \rceil \le k` (since :math:`N/t \le k`) and
:math:`\lceil N/k^* \rceil \le t` (since :math:`k^* t \ge N`): :math:`k^* \in K_l` with
the same mode uses no more tiles, fits whenever :math:`k` fits, and is no slower.  So
some optimum uses only candidates, and over the candidates the binaries enumerate the
placements exactly (one choice per layer, the tile budget and the streaming memory as
knapsack rows, the costs as constants per choice; the max of the pipelined schedule is
an epigraph variable, tight at the optimum).  HiGHS proves optimality up to
``mip_gap``; :func:`placement_step_cycles` re-evaluates the decoded placement
(``simulated``), and ``tests/formulations/test_tile_placement.py`` checks the optimum
against brute force over every :math:`k_l \in \{1..N_l\}` and every mode on small
instances.

Not modelled: partial-sum reductions of dX across the tiles of the next layer (their
traffic is in :math:`e'_l` as a per-neuron constant), tiles shared by two layers, the
weight update's own superstep (its cycles may be folded into :math:`u_l`), and a
segment length chosen per layer by the formulation (it is a parameter).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from monet_opt.formulations._builder import Affine, ModelBuilder, solve_model
from monet_opt.formulations.options import SolverOptions
from monet_opt.formulations.result import relative_gap
from monet_opt.hardware.model import Accelerator
from monet_opt.models.snn import SnnSpec, spike_id_bits
from monet_opt.models.training import Precision

__all__ = [
    "TileLayer",
    "TileChip",
    "TilePlacement",
    "SCHEDULES",
    "HISTORY_MODES",
    "history_cycles",
    "history_stream_bytes",
    "neuron_bytes",
    "segment_steps",
    "superstep_cycles",
    "stream_cycles",
    "placement_step_cycles",
    "candidate_neurons_per_tile",
    "tile_chip_from_accelerator",
    "snn_tile_layer",
    "tile_layers_from_snn",
    "solve_tile_placement",
]

#: Layer schedules of a training step on the tiles.
SCHEDULES: tuple[str, ...] = ("sequential", "pipelined")
#: Where a layer's state history lives (module docstring).
HISTORY_MODES: tuple[str, ...] = ("keep", "stream", "recompute")


@dataclass(frozen=True)
class TileLayer:
    """One layer as the placement sees it (all quantities per layer).

    Parameters
    ----------
    name
        Layer name.
    fan_in
        :math:`F`: weights per neuron (its fan-in, recurrent inputs included).
    neurons
        :math:`N`: neurons of the layer.
    steps
        :math:`T`: time steps of the unrolled sequence.
    batch
        :math:`B`: samples per step.
    weight_bytes, grad_bytes, opt_bytes
        Bytes per weight of the weight, its gradient and its optimizer state (e.g. 2, 2
        and 8 for FP16 weights and gradients with two FP32 Adam moments).
    state_bytes
        :math:`h`: state-history bytes per neuron, sample and step (e.g. an FP16
        membrane potential and a spike bit: 2.125).
    cycles_per_neuron_step
        :math:`u`: tile cycles of one neuron for one time step, forward and backward,
        all samples.
    exchange_bytes_per_step
        :math:`e`: bytes each tile of the layer receives per step, whatever its neuron
        count (the layer's input spike ids).
    exchange_bytes_per_neuron_step
        :math:`e'`: bytes a tile receives per step for each of its neurons (their output
        gradients).
    forward_cycles_per_neuron_step
        :math:`u^f \\le u`: the forward part of :math:`u` (what ``recompute`` redoes).
    checkpoint_bytes
        :math:`h^c \\le h`: bytes per neuron and sample of a checkpoint (``None``: ``h``).

    Raises
    ------
    ValueError
        If a count is < 1 or a size or cycle figure is negative or not finite.
    """

    name: str
    fan_in: int
    neurons: int
    steps: int
    batch: int
    weight_bytes: float = 2.0
    grad_bytes: float = 2.0
    opt_bytes: float = 8.0
    state_bytes: float = 2.125
    cycles_per_neuron_step: float = 0.0
    exchange_bytes_per_step: float = 0.0
    exchange_bytes_per_neuron_step: float = 0.0
    forward_cycles_per_neuron_step: float = 0.0
    checkpoint_bytes: float | None = None

    def __post_init__(self) -> None:
        if self.forward_cycles_per_neuron_step > self.cycles_per_neuron_step:
            raise ValueError(
                f"layer {self.name!r}: forward_cycles_per_neuron_step "
                f"{self.forward_cycles_per_neuron_step} exceeds cycles_per_neuron_step "
                f"{self.cycles_per_neuron_step}"
            )
        if self.checkpoint_bytes is not None and not 0 <= self.checkpoint_bytes <= self.state_bytes:
            raise ValueError(
                f"layer {self.name!r}: checkpoint_bytes must be in [0, state_bytes], "
                f"got {self.checkpoint_bytes}"
            )
        for k in ("fan_in", "neurons", "steps", "batch"):
            v = getattr(self, k)
            if int(v) != v or v < 1:
                raise ValueError(f"layer {self.name!r}: {k} must be an integer >= 1, got {v}")
        for k in (
            "weight_bytes",
            "grad_bytes",
            "opt_bytes",
            "state_bytes",
            "cycles_per_neuron_step",
            "exchange_bytes_per_step",
            "exchange_bytes_per_neuron_step",
            "forward_cycles_per_neuron_step",
        ):
            v = getattr(self, k)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"layer {self.name!r}: {k} must be finite and >= 0, got {v}")

    @property
    def static_bytes(self) -> float:
        """:math:`s = F (w + g + o)`: bytes per neuron that stay on its tile."""
        return self.fan_in * (self.weight_bytes + self.grad_bytes + self.opt_bytes)

    @property
    def history_bytes(self) -> float:
        """:math:`H = T B h`: the state history of one neuron, bytes."""
        return self.steps * self.batch * self.state_bytes

    @property
    def checkpoint(self) -> float:
        """:math:`h^c`: checkpoint bytes per neuron and sample."""
        return self.state_bytes if self.checkpoint_bytes is None else self.checkpoint_bytes


@dataclass(frozen=True)
class TileChip:
    """The tile processor as the placement sees it.

    Parameters
    ----------
    tiles
        :math:`n`: tiles available to the layers.
    tile_bytes
        :math:`C`: SRAM bytes of one tile (624 KiB = 638,976 on a GC200).
    sync_cycles
        :math:`\\sigma`: cycles of one BSP barrier.
    exchange_bytes_per_cycle
        :math:`b_{ex}`: bytes one tile receives from the exchange per cycle (``inf``: free).
    streaming_bytes_per_cycle
        :math:`b_s`: bytes per cycle between the chip and streaming memory (``0``: no
        streaming memory, no history can be streamed).
    buffer_steps
        :math:`\\beta`: steps of a streamed history kept on the tile (double buffering: 2).
    reserved_bytes
        Bytes of each tile not available to neurons (code, exchange buffers).
    streaming_capacity_bytes
        :math:`S`: bytes of streaming memory for histories and checkpoints (``inf``:
        unbounded).
    segment_steps
        :math:`R`: steps between two checkpoints of a ``recompute`` layer (``None``:
        :math:`\\lceil\\sqrt{T}\\rceil` of each layer; clipped to :math:`T`).

    Raises
    ------
    ValueError
        On a count < 1 or a negative / non-finite size.
    """

    tiles: int
    tile_bytes: float
    sync_cycles: float = 0.0
    exchange_bytes_per_cycle: float = math.inf
    streaming_bytes_per_cycle: float = 0.0
    buffer_steps: int = 2
    reserved_bytes: float = 0.0
    streaming_capacity_bytes: float = math.inf
    segment_steps: int | None = None

    def __post_init__(self) -> None:
        if self.segment_steps is not None and (
            int(self.segment_steps) != self.segment_steps or self.segment_steps < 1
        ):
            raise ValueError(f"segment_steps must be an integer >= 1, got {self.segment_steps}")
        if not self.streaming_capacity_bytes >= 0:
            raise ValueError(
                f"streaming_capacity_bytes must be >= 0, got {self.streaming_capacity_bytes}"
            )
        if int(self.tiles) != self.tiles or self.tiles < 1:
            raise ValueError(f"tiles must be an integer >= 1, got {self.tiles}")
        if int(self.buffer_steps) != self.buffer_steps or self.buffer_steps < 1:
            raise ValueError(f"buffer_steps must be an integer >= 1, got {self.buffer_steps}")
        for k in ("tile_bytes", "sync_cycles", "streaming_bytes_per_cycle", "reserved_bytes"):
            v = getattr(self, k)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{k} must be finite and >= 0, got {v}")
        if not self.exchange_bytes_per_cycle > 0:
            raise ValueError(
                f"exchange_bytes_per_cycle must be > 0, got {self.exchange_bytes_per_cycle}"
            )

    @property
    def usable_bytes(self) -> float:
        """Bytes of one tile available to neurons."""
        return max(0.0, self.tile_bytes - self.reserved_bytes)


@dataclass(frozen=True)
class TilePlacement:
    """The answer of :func:`solve_tile_placement`.

    Attributes
    ----------
    neurons_per_tile, tiles, history
        Per layer (in the given order): :math:`k_l`, :math:`t_l = \\lceil N_l/k_l\\rceil`
        and the history mode :math:`c_l` (:data:`HISTORY_MODES`); empty without an
        answer.  :attr:`streamed` tells which histories leave the tiles.
    tile_bytes
        Per layer, bytes used on its fullest tile.
    status
        ``optimal`` (gap <= the requested MIP gap), ``feasible``, ``infeasible``
        (proven: no placement fits) or ``no_solution``.
    objective, simulated
        Step time in cycles: the MILP's objective and :func:`placement_step_cycles` of the
        decoded placement (equal up to rounding).
    bound, gap
        HiGHS' dual bound (cycles) and ``(simulated - bound) / simulated``.
    schedule
        ``sequential`` or ``pipelined``.
    n_vars, n_cons, n_binaries
        MILP size.
    build_seconds, solve_seconds
        Model build and HiGHS time.
    solver_status
        HiGHS' model status.
    """

    neurons_per_tile: tuple[int, ...]
    tiles: tuple[int, ...]
    history: tuple[str, ...]
    tile_bytes: tuple[float, ...]
    status: str
    objective: float
    simulated: float
    bound: float
    gap: float
    schedule: str
    n_vars: int
    n_cons: int
    n_binaries: int
    build_seconds: float
    solve_seconds: float
    solver_status: str = ""

    @property
    def streamed(self) -> tuple[bool, ...]:
        """Per layer, whether its history (or its checkpoints) goes to streaming memory."""
        return tuple(m != "keep" for m in self.history)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready view."""
        return {
            "neurons_per_tile": list(self.neurons_per_tile),
            "tiles": list(self.tiles),
            "history": list(self.history),
            "tile_bytes": list(self.tile_bytes),
            "status": self.status,
            "objective": self.objective,
            "simulated": self.simulated,
            "bound": self.bound,
            "gap": self.gap,
            "schedule": self.schedule,
            "n_vars": self.n_vars,
            "n_cons": self.n_cons,
            "n_binaries": self.n_binaries,
        }


# ------------------------------------------------------------------ the cost model


def _mode(c: bool | str) -> str:
    """A history mode; ``False`` / ``True`` mean ``keep`` / ``stream``."""
    if isinstance(c, (bool, np.bool_)):
        return "stream" if c else "keep"
    if c not in HISTORY_MODES:
        raise ValueError(f"history mode {c!r} not allowed; allowed: {', '.join(HISTORY_MODES)}")
    return str(c)


def segment_steps(layer: TileLayer, chip: TileChip) -> int:
    """:math:`R`: steps per recompute segment (``chip.segment_steps`` or
    :math:`\\lceil\\sqrt{T}\\rceil`, at most :math:`T`)."""
    r = chip.segment_steps if chip.segment_steps is not None else math.isqrt(layer.steps - 1) + 1
    return max(1, min(int(r), layer.steps))


def neuron_bytes(layer: TileLayer, chip: TileChip, mode: bool | str) -> float:
    """Bytes one neuron of ``layer`` needs on its tile in history ``mode``:
    :math:`s + T B h` (keep), :math:`s + \\beta B h` (stream),
    :math:`s + (R + \\beta) B h` (recompute)."""
    m = _mode(mode)
    per_step = layer.batch * layer.state_bytes
    if m == "keep":
        return layer.static_bytes + layer.history_bytes
    if m == "stream":
        return layer.static_bytes + chip.buffer_steps * per_step
    return layer.static_bytes + (segment_steps(layer, chip) + chip.buffer_steps) * per_step


def superstep_cycles(layer: TileLayer, chip: TileChip, k: int) -> float:
    """:math:`\\tau(k) = k u + \\lceil (e + k e') / b_{ex} \\rceil + 2\\sigma`: cycles of one time
    step of ``layer`` (forward and backward superstep) with ``k`` neurons per tile."""
    ex_bytes = layer.exchange_bytes_per_step + k * layer.exchange_bytes_per_neuron_step
    ex = (
        0.0
        if math.isinf(chip.exchange_bytes_per_cycle)
        else ex_bytes / chip.exchange_bytes_per_cycle
    )
    return k * layer.cycles_per_neuron_step + math.ceil(ex - 1e-9) + 2 * chip.sync_cycles


def history_stream_bytes(layer: TileLayer, chip: TileChip, mode: bool | str) -> float:
    """Bytes of streaming memory the layer's history takes in ``mode``: 0 (keep),
    :math:`T B N h` (stream), :math:`\\lceil T/R \\rceil B N h^c` (recompute)."""
    m = _mode(mode)
    if m == "keep":
        return 0.0
    if m == "stream":
        return layer.neurons * layer.history_bytes
    ckpts = math.ceil(layer.steps / segment_steps(layer, chip))
    return float(ckpts * layer.batch * layer.neurons * layer.checkpoint)


def history_cycles(layer: TileLayer, chip: TileChip, mode: bool | str, k: int) -> float:
    """:math:`x(c, k)`: extra cycles of the history mode (module docstring): 0 (keep),
    :math:`\\lceil 2 T B N h / b_s \\rceil` (stream),
    :math:`T k u^f + \\lceil 2 \\lceil T/R \\rceil B N h^c / b_s \\rceil` (recompute);
    ``inf`` when it needs streaming memory and there is none."""
    m = _mode(mode)
    if m == "keep":
        return 0.0
    if chip.streaming_bytes_per_cycle <= 0:
        return math.inf
    io = math.ceil(2 * history_stream_bytes(layer, chip, m) / chip.streaming_bytes_per_cycle - 1e-9)
    if m == "stream":
        return float(io)
    return float(layer.steps * k * layer.forward_cycles_per_neuron_step + io)


def stream_cycles(layer: TileLayer, chip: TileChip) -> float:
    """:math:`m = \\lceil 2 T B N h / b_s \\rceil`: cycles of streaming the layer's history out
    and back (``inf`` without streaming memory)."""
    return history_cycles(layer, chip, "stream", 1)


def _fits(layer: TileLayer, chip: TileChip, k: int, mode: str) -> bool:
    if mode != "keep" and chip.streaming_bytes_per_cycle <= 0:
        return False
    return k * neuron_bytes(layer, chip, mode) <= chip.usable_bytes * (1 + 1e-12)


def placement_step_cycles(
    layers: Sequence[TileLayer],
    chip: TileChip,
    neurons_per_tile: Sequence[int],
    history: Sequence[bool | str],
    schedule: str = "sequential",
) -> float:
    """Step time of a placement in cycles (module docstring), ``inf`` if it is infeasible
    (a tile over capacity, more tiles than the chip has, more than the streaming memory
    holds, a history sent off the tile without streaming memory).

    Parameters
    ----------
    layers, chip
        The instance.
    neurons_per_tile
        :math:`k_l \\in \\{1..N_l\\}` per layer.
    history
        Mode per layer (:data:`HISTORY_MODES`; ``False`` / ``True`` = keep / stream).
    schedule
        One of :data:`SCHEDULES`.

    Raises
    ------
    ValueError
        On lengths that differ from ``layers``, a :math:`k_l` outside :math:`1..N_l`, an
        unknown mode or schedule.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule {schedule!r} not allowed; allowed: {', '.join(SCHEDULES)}")
    if len(neurons_per_tile) != len(layers) or len(history) != len(layers):
        raise ValueError("one neurons_per_tile and one history entry per layer")
    tiles = 0
    taus, extra, stored = [], 0.0, 0.0
    for layer, k, c in zip(layers, neurons_per_tile, history, strict=True):
        mode = _mode(c)
        if not 1 <= k <= layer.neurons:
            raise ValueError(
                f"layer {layer.name!r}: neurons_per_tile {k} not in 1..{layer.neurons}"
            )
        if not _fits(layer, chip, k, mode):
            return math.inf
        tiles += math.ceil(layer.neurons / k)
        taus.append((layer.steps, superstep_cycles(layer, chip, k)))
        extra += history_cycles(layer, chip, mode, k)
        stored += history_stream_bytes(layer, chip, mode)
    if tiles > chip.tiles or stored > chip.streaming_capacity_bytes * (1 + 1e-12):
        return math.inf
    if schedule == "sequential":
        return float(sum(t * tau for t, tau in taus) + extra)
    steps = max(t for t, _ in taus) + len(layers) - 1
    return float(steps * max(tau for _, tau in taus) + extra)


def candidate_neurons_per_tile(neurons: int) -> tuple[int, ...]:
    """:math:`K = \\{\\lceil N/t \\rceil : t = 1..N\\}`, ascending: the neurons per tile that
    are smallest for their tile count (about :math:`2\\sqrt{N}` values)."""
    out: set[int] = set()
    t = 1
    while t <= neurons:
        k = math.ceil(neurons / t)
        out.add(k)
        # next t with a smaller ceil(N / t): the first t' with N / t' <= k - 1
        t = t + 1 if k == 1 else max(t + 1, math.ceil(neurons / (k - 1)))
    return tuple(sorted(out))


# ------------------------------------------------------------------ adapters


def tile_chip_from_accelerator(
    acc: Accelerator,
    core_id: int | None = None,
    *,
    buffer_steps: int = 2,
    reserved_bytes: float = 0.0,
) -> TileChip:
    """The :class:`TileChip` of a tile-group core of ``acc`` (``examples/hardware/ipu_like.yaml``).

    Parameters
    ----------
    acc
        An accelerator with a core whose ``tiles`` is set.
    core_id
        That core (default: the first tile-group core).
    buffer_steps, reserved_bytes
        As in :class:`TileChip`.

    Raises
    ------
    ValueError
        If the accelerator has no tile-group core (or ``core_id`` is not one).
    """
    groups = [c for c in acc.compute_cores if c.tiles is not None and c.tiles.count > 1]
    if core_id is not None:
        groups = [c for c in groups if c.id == core_id]
    if not groups:
        raise ValueError(f"accelerator {acc.name!r} has no tile-group core (a core with tiles)")
    core = groups[0]
    assert core.tiles is not None
    tops = {id(m): m for x in ("I1", "I2", "O") if (m := core.top_memory(x)) is not None}
    return TileChip(
        tiles=core.tiles.count,
        tile_bytes=sum(m.size_bits for m in tops.values()) / 8,
        sync_cycles=core.tiles.sync_cycles,
        exchange_bytes_per_cycle=core.tiles.exchange_bits_per_cycle / 8,
        streaming_bytes_per_cycle=acc.dram_bandwidth / 8,
        streaming_capacity_bytes=acc.dram.size_bits / 8 if acc.dram is not None else 0.0,
        buffer_steps=buffer_steps,
        reserved_bytes=reserved_bytes,
    )


def snn_tile_layer(
    name: str,
    fan_in: int,
    neurons: int,
    *,
    steps: int,
    batch: int,
    activity_in: float,
    ops_per_cycle: float,
    dx_activity: float | None = None,
    weight_bytes: float = 2.0,
    grad_bytes: float = 2.0,
    opt_bytes: float = 8.0,
    state_bytes: float = 2.125,
    checkpoint_bytes: float | None = None,
    spike_id_bytes: float = 2.0,
) -> TileLayer:
    """A leaky integrate-and-fire layer trained with BPTT as a :class:`TileLayer`.

    Per neuron and time step (all ``batch`` samples; issue 14 §1): the forward synaptic
    op accumulates the :math:`a F` active inputs, dW accumulates over the same
    :math:`a F`, and dX is dense (:math:`F`) unless ``dx_activity`` :math:`g` is given (the
    second-threshold trick: :math:`g F`).  The tile does ``ops_per_cycle`` of them per
    cycle.  Each tile receives the :math:`B a F` input spike ids per step
    (``spike_id_bytes`` each) and the output gradient of each of its neurons
    (``grad_bytes`` per sample).

    Parameters
    ----------
    name, fan_in, neurons, steps, batch
        As in :class:`TileLayer`.
    activity_in
        Fraction of the layer's inputs that spike per step, in (0, 1] (over feed-forward
        and recurrent inputs together).
    ops_per_cycle
        Accumulates one tile does per cycle (> 0).
    dx_activity
        Fraction of the surrogate gradient that is non-zero (``None``: dense dX).
    weight_bytes, grad_bytes, opt_bytes, state_bytes, checkpoint_bytes
        As in :class:`TileLayer`.
    spike_id_bytes
        Bytes of one spike id on the exchange.

    Raises
    ------
    ValueError
        On an activity outside (0, 1] or a non-positive rate.
    """
    if not 0 < activity_in <= 1:
        raise ValueError(f"activity_in must be in (0, 1], got {activity_in}")
    if not ops_per_cycle > 0:
        raise ValueError(f"ops_per_cycle must be > 0, got {ops_per_cycle}")
    active = activity_in * fan_in
    dx = fan_in if dx_activity is None else dx_activity * fan_in
    ops = batch * (active + dx + active)
    return TileLayer(
        name=name,
        fan_in=fan_in,
        neurons=neurons,
        steps=steps,
        batch=batch,
        weight_bytes=weight_bytes,
        grad_bytes=grad_bytes,
        opt_bytes=opt_bytes,
        state_bytes=state_bytes,
        cycles_per_neuron_step=ops / ops_per_cycle,
        exchange_bytes_per_step=batch * active * spike_id_bytes,
        exchange_bytes_per_neuron_step=batch * grad_bytes,
        forward_cycles_per_neuron_step=batch * active / ops_per_cycle,
        checkpoint_bytes=checkpoint_bytes,
    )


def tile_layers_from_snn(
    spec: SnnSpec,
    *,
    ops_per_cycle: float,
    optimizer: str = "adamw",
    precision: Precision | None = None,
) -> tuple[TileLayer, ...]:
    r"""The :class:`TileLayer` of every spiking layer of an SNN workload
    (:class:`monet_opt.models.snn.SnnSpec`, e.g. ``snn_spec("nmnist")``).

    Layer :math:`l` has fan-in :math:`N_{l-1}` (+ :math:`N_l` recurrent weights for a
    recurrent hidden layer) and :math:`N_l` neurons; its input activity is the
    activity of layer :math:`l-1` (mixed with its own for the recurrent inputs); dX is
    dense unless the spec's ``grad_activity`` (second threshold) is set, and the first
    layer computes none for its data inputs (only for its recurrent ones).  Bytes per
    weight follow ``precision``: the weight, its gradient and the optimizer state (AdamW:
    ``m``, ``v`` and the master copy; SGD: the momentum).  The state history per neuron,
    sample and step is the membrane potential (activation precision) and the spike (its
    id, :math:`a \lceil \log_2 N \rceil` bits on average, or one bit with dense spikes); a
    checkpoint is the membrane alone (the spikes follow from it).

    Parameters
    ----------
    spec
        The SNN.
    ops_per_cycle
        Accumulates one tile does per cycle.
    optimizer
        ``adamw`` or ``sgd``.
    precision
        Bits per tensor class (default :class:`monet_opt.models.training.Precision`).

    Raises
    ------
    ValueError
        On an unknown optimizer.
    """
    prec = precision or Precision()
    states = {"adamw": 3, "sgd": 1}
    if optimizer not in states:
        raise ValueError(f"optimizer {optimizer!r} not allowed; allowed: adamw, sgd")
    widths = spec.widths
    out = []
    for i in range(1, len(widths)):
        n_in, n = widths[i - 1], widths[i]
        rec = spec.recurrent and i < len(widths) - 1
        fan_in = n_in + (n if rec else 0)
        active = spec.layer_activity(i - 1) * n_in + (spec.layer_activity(i) * n if rec else 0)
        a = spec.layer_activity(i)
        # dX: the first layer's input gradient (of the data) is not computed, only that
        # of its recurrent inputs (models/snn.py builds no l1 dX node either)
        dx = spec.grad_activity
        if i == 1:
            dx = (n if rec else 0) / fan_in * (1.0 if dx is None else dx)
        spike = a * spike_id_bits(n) if spec.sparse else 1.0
        id_bytes = spike_id_bits(fan_in) / 8 if spec.sparse else 1 / 8
        out.append(
            snn_tile_layer(
                f"layer{i}",
                fan_in,
                n,
                steps=spec.steps,
                batch=spec.batch,
                activity_in=min(1.0, active / fan_in),
                ops_per_cycle=ops_per_cycle,
                dx_activity=dx,
                weight_bytes=prec.weight / 8,
                grad_bytes=prec.gradient / 8,
                opt_bytes=states[optimizer] * prec.optimizer_state / 8,
                state_bytes=(prec.activation + spike) / 8,
                checkpoint_bytes=prec.activation / 8,
                spike_id_bytes=id_bytes,
            )
        )
    return tuple(out)


# ------------------------------------------------------------------ the MILP


@dataclass(frozen=True)
class _Choice:
    layer: int
    k: int
    mode: str
    tiles: int
    tau: float
    extra: float
    stored: float
    col: int


def _build(
    layers: Sequence[TileLayer], chip: TileChip, schedule: str
) -> tuple[ModelBuilder, list[_Choice], int | None]:
    """The MILP of the module docstring; returns the builder, the choice columns and the
    epigraph column :math:`M` (pipelined) or ``None``."""
    mb = ModelBuilder()
    choices: list[_Choice] = []
    t_max = max(layer.steps for layer in layers)
    m_col = None
    if schedule == "pipelined":
        m_col = mb.var("M", 0.0, math.inf, cost=float(t_max + len(layers) - 1))
    per_layer: list[list[_Choice]] = []
    for i, layer in enumerate(layers):
        row: list[_Choice] = []
        for k in candidate_neurons_per_tile(layer.neurons):
            t = math.ceil(layer.neurons / k)
            if t > chip.tiles:
                continue
            tau = superstep_cycles(layer, chip, k)
            for c in HISTORY_MODES:
                if not _fits(layer, chip, k, c):
                    continue
                stored = history_stream_bytes(layer, chip, c)
                if stored > chip.streaming_capacity_bytes * (1 + 1e-12):
                    continue
                x = history_cycles(layer, chip, c, k)
                cost = x + (layer.steps * tau if m_col is None else 0.0)
                col = mb.binary(f"z[{layer.name},{k},{c}]", cost=cost)
                row.append(_Choice(i, k, c, t, tau, x, stored, col))
        per_layer.append(row)
        choices.extend(row)
        mb.eq(Affine.total(Affine.of(ch.col) for ch in row), 1.0)
        if m_col is not None and row:
            mb.ge(Affine.of(m_col) - Affine.total(Affine.of(ch.col, ch.tau) for ch in row), 0.0)
    mb.le(Affine.total(Affine.of(ch.col, ch.tiles) for ch in choices), float(chip.tiles))
    off = [ch for ch in choices if ch.stored > 0]
    if math.isfinite(chip.streaming_capacity_bytes) and off:
        total = Affine.total(Affine.of(ch.col, ch.stored) for ch in off)
        mb.le(total, float(chip.streaming_capacity_bytes))
    return mb, choices, m_col


def solve_tile_placement(
    layers: Sequence[TileLayer],
    chip: TileChip,
    options: SolverOptions | None = None,
    *,
    schedule: str = "sequential",
) -> TilePlacement:
    """The placement of minimum step time (module docstring), solved exactly by HiGHS.

    Parameters
    ----------
    layers
        The layers (at least one), in network order.
    chip
        The tile processor.
    options
        Time limit, MIP gap, threads, seed (default :class:`SolverOptions`).
    schedule
        ``sequential`` or ``pipelined``.

    Returns
    -------
    TilePlacement
        ``status`` ``infeasible`` when no placement fits (a layer whose single neuron
        exceeds a tile in every history mode, more layers' minimum tiles than the chip
        has, or histories beyond the streaming memory).

    Raises
    ------
    ValueError
        On no layers or an unknown schedule.
    """
    if not layers:
        raise ValueError("at least one layer")
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule {schedule!r} not allowed; allowed: {', '.join(SCHEDULES)}")
    opts = options or SolverOptions()
    t0 = time.perf_counter()
    mb, choices, _ = _build(layers, chip, schedule)
    n_bin = len(choices)
    built = time.perf_counter() - t0

    def empty(status: str, solver: str, secs: float) -> TilePlacement:
        return TilePlacement(
            (), (), (), (), status, math.inf, math.inf, -math.inf, math.inf, schedule,
            mb.n_vars, mb.n_cons, n_bin, built, secs, solver,
        )  # fmt: skip

    if any(all(ch.layer != i for ch in choices) for i in range(len(layers))):
        return empty("infeasible", "no_candidate", 0.0)
    st = solve_model(mb.to_highs(opts.highs()))
    if st.values is None:
        status = "infeasible" if st.status == "infeasible" else "no_solution"
        return empty(status, st.status, st.seconds)
    x = np.asarray(st.values)
    pick: dict[int, _Choice] = {}
    for ch in choices:
        if x[ch.col] > 0.5:
            pick[ch.layer] = ch
    ks = tuple(pick[i].k for i in range(len(layers)))
    cs = tuple(pick[i].mode for i in range(len(layers)))
    sim = placement_step_cycles(layers, chip, ks, cs, schedule)
    bound = min(st.bound, sim) if math.isfinite(st.bound) else -math.inf
    gap = relative_gap(sim, bound)
    status = "optimal" if st.status == "optimal" or gap <= opts.mip_gap else "feasible"
    return TilePlacement(
        neurons_per_tile=ks,
        tiles=tuple(math.ceil(layer.neurons / k) for layer, k in zip(layers, ks, strict=True)),
        history=cs,
        tile_bytes=tuple(
            k * neuron_bytes(layer, chip, c) for layer, k, c in zip(layers, ks, cs, strict=True)
        ),
        status=status,
        objective=float(st.objective),
        simulated=float(sim),
        bound=float(bound),
        gap=float(gap),
        schedule=schedule,
        n_vars=mb.n_vars,
        n_cons=mb.n_cons,
        n_binaries=n_bin,
        build_seconds=built,
        solve_seconds=st.seconds,
        solver_status=st.status,
    )
