r"""Cost of sparse layers on each core kind (``docs/sparsity.md``).

An op of a sparse layer carries a :class:`~monet_opt.models.sparsity.SparseOpInfo`
(``op.attrs["sparsity"]``, set by :func:`~monet_opt.models.sparsity.apply_sparsity`); its
operand sizes already are the condensed ones (:attr:`Tensor.bits`).  How a core runs it
depends on the core's :class:`~monet_opt.hardware.model.SparseSupport`
(:func:`sparse_mode`):

* ``dense`` (no sparse support, or an N:M core on a pattern it does not run and no
  gather path): the core **decompresses** the condensed weight between its top memory
  and the array (scatter into the weight registers; zeros are multiplied).  DRAM traffic
  and the top-memory footprint stay condensed (the operand bits), the MACs, the array's
  operand reads and the compute cycles are the dense ones.  The decompressor is assumed
  to keep up with the array (its own throughput and energy are not modelled), and so is
  the compressor that keeps only the masked entries of a dense-computed ``dW``.
* ``gather`` (an input-gather path): the op runs as the dense op with its fan-in loop
  cut to the kept fan-in ``f`` and its neuron loop to the ``N_a`` live neurons
  (:func:`sparse_node_spec`: work :math:`W_s = B\cdot nnz` MACs, the mapping search of
  :mod:`monet_opt.cost.mapping` on the reduced loops and the condensed operands), and
  on top of the roofline two bounds of the gather path (:func:`sparse_bounds`):

  .. math::  T = \max\bigl(T_{map}(W_s),\ W_s\,p_g / BW_{gather},\
             nnz\cdot b_{idx} / BW_{idx}\bigr)

  One gathered element per MAC: in a weight-stationary array every PE holds a different
  neuron's weight, so no input broadcast is left; :math:`p_g` is the precision of the
  gathered operand (the input ``X`` for forward and ``dW``, the ``dX`` partial sums the
  scatter-add writes for ``dX``).  The indices are read once per node (they stay with the
  weights in the PE registers).  For ``unstructured`` (CSR) weights the row lengths
  vary, and neurons processed in lockstep wait for the longest: a third bound,
  ``lockstep``, stretches the array's compute cycles by
  :math:`1 + \sqrt{(1-d)/f}\,\sqrt{2 \ln u}` (the expected maximum of :math:`u`
  binomial row lengths, :math:`u` = PEs along the widest array dimension); energy
  counts the true MACs.  The mapping search takes these bounds as a floor
  (``NodeSpec.floor``): among the mappings under it, the least energy wins.
* ``n_m`` (the pattern is in the core's ``n_m`` list, forward op only): the array runs at
  the ``n / m`` rate (sparse tensor cores: the 2-bit metadata drives a multiplexer in
  the PE, no gather path, no extra bound); NVIDIA's 2:4 tensor cores accelerate
  ``Y = X W`` only, so ``dX`` and ``dW`` (not N:M along their reduction) run ``dense``
  there unless the core also gathers.

**MIMD tile processors** (hook): a tile that gathers locally from its own SRAM is a core
with ``gather_bits_per_cycle`` = its local SRAM read bandwidth (``examples/hardware/
ipu_like.yaml``); a tile group runs one tile's slice (:mod:`monet_opt.cost.tiles`), so
nothing else is needed here.

**Activity sparsity** (SNN spikes, ``docs/snn.md``): the ops of a spiking layer carry a
``SparseOpInfo`` of kind ``"activity"`` whose fan-in loop is cut to the active inputs
(the spike-id list) and whose ``nnz`` is the number of ids decoded; the same three modes
apply (a core without a gather path runs the spikes dense, as MACs on 0/1 inputs).  In
``gather`` mode the kept work of a spike-driven op (forward synaptic op, ``dW``) is
accumulates: its compute energy is :data:`ACCUMULATE_ENERGY_FRACTION` of a MAC's
(:func:`compute_energy_factor`).  At high activity the gather path (one weight per
accumulate) can be slower than the dense array; a core then decodes the ids into 0/1
inputs and runs the op dense, whichever is faster (:func:`dense_fallback`; a weight's
sparse format, by contrast, is fixed by the layer and always runs in its mode).

Not modelled: gather/decompression energy, bank conflicts of the gather path, index
re-reads when a weight tile is re-streamed, the dense-gradient step's peak memory.
"""

from __future__ import annotations

import math
from dataclasses import replace

from monet_opt.cost.mapping import OPERAND_NAMES, CoreSpec, NodeSpec
from monet_opt.hardware.model import Core
from monet_opt.models.ir import Op
from monet_opt.models.sparsity import ACTIVITY_KIND, SparseOpInfo, sparse_info

__all__ = [
    "SPARSE_MODES",
    "ACCUMULATE_ENERGY_FRACTION",
    "sparse_mode",
    "sparse_node_spec",
    "sparse_bounds",
    "imbalance",
    "compute_energy_factor",
    "dense_fallback",
]

#: How a core executes a sparse op.
SPARSE_MODES: tuple[str, ...] = ("dense", "gather", "n_m")

#: Energy of an accumulate relative to a MAC: a 16-bit floating-point add (0.4 pJ)
#: against an add plus a multiply (0.4 + 1.1 pJ), 45 nm (M. Horowitz, "Computing's
#: energy problem (and what we can do about it)", ISSCC 2014, Fig. 1.1.9).
ACCUMULATE_ENERGY_FRACTION: float = 0.4 / (0.4 + 1.1)


def dense_fallback(op: Op) -> bool:
    """Whether a gather-capable core may run ``op`` dense when that is faster: ops of
    activity sparsity (spike ids decode into a dense 0/1 operand at no loss)."""
    info = sparse_info(op)
    return info is not None and info.spec.kind == ACTIVITY_KIND


def compute_energy_factor(op: Op, mode: str) -> float:
    """Compute energy of ``op`` in ``mode`` relative to its MACs' energy:
    :data:`ACCUMULATE_ENERGY_FRACTION` for a spike-driven op
    (:attr:`SparseOpInfo.accumulate`) that a core runs in ``gather`` mode, else 1.

    Parameters
    ----------
    op
        The op.
    mode
        From :func:`sparse_mode`.
    """
    info = sparse_info(op)
    if info is not None and info.accumulate and mode == "gather":
        return ACCUMULATE_ENERGY_FRACTION
    return 1.0


def sparse_mode(op: Op, core: Core) -> str:
    """``"dense"``, ``"gather"`` or ``"n_m"``: how ``core`` runs ``op`` (module docstring).

    Dense ops always give ``"dense"``.
    """
    info = sparse_info(op)
    sp = core.sparse
    if info is None or sp is None:
        return "dense"
    spec = info.spec
    if spec.kind == "n_m" and info.role == "forward" and (spec.n, spec.m) in sp.n_m:
        return "n_m"
    return "gather" if sp.gathers else "dense"


def imbalance(info: SparseOpInfo, lanes: int) -> float:
    r"""Lockstep stretch of an ``unstructured`` layer's fan-in loop over ``lanes`` rows:
    :math:`1 + \sqrt{(1-d)/f}\sqrt{2\ln u}` (1 for structured kinds or one lane).

    Parameters
    ----------
    info
        The op's sparse info (``d`` = density, ``f`` = mean kept fan-in).
    lanes
        Neurons processed in lockstep ``u``.
    """
    if info.spec.kind != "unstructured" or lanes <= 1:
        return 1.0
    d = info.spec.density
    f = max(info.geometry.fan_in_kept, 1.0)
    return 1.0 + math.sqrt(max(1.0 - d, 0.0) / f) * math.sqrt(2.0 * math.log(lanes))


def sparse_node_spec(spec: NodeSpec, op: Op, mode: str, cs: CoreSpec) -> NodeSpec:
    """The :class:`NodeSpec` a core running ``op`` in ``mode`` executes.

    ``dense``: ``spec`` unchanged.  ``gather`` / ``n_m``: the fan-in loop scaled by
    :attr:`SparseOpInfo.fan_in_fraction` (``n / m`` for ``n_m``), the neuron loop by
    :attr:`SparseOpInfo.neuron_fraction` (rounded up, at least 1), and the work by the
    same fractions.

    Parameters
    ----------
    spec
        The op's dense-execution spec (:func:`monet_opt.cost.op_cost.node_spec`).
    op
        The op (its ``attrs["sparsity"]``).
    mode
        From :func:`sparse_mode`.
    cs
        The core.

    Returns
    -------
    NodeSpec
    """
    info = sparse_info(op)
    if info is None or mode == "dense":
        return spec
    fan = info.fan_in_fraction
    loops = dict(spec.loops)
    for dim, frac in ((info.fan_in_dim, fan), (info.neuron_dim, info.neuron_fraction)):
        if dim in loops:
            loops[dim] = max(1, math.ceil(loops[dim] * frac - 1e-9))
    work = max(1, round(spec.work * fan * info.neuron_fraction))
    new = tuple(sorted((d, s) for d, s in loops.items() if s > 1))
    return replace(spec, loops=new, work=work)


def sparse_bounds(
    op: Op, mode: str, spec: NodeSpec, core: Core, compute_cycles: float = 0.0
) -> tuple[tuple[str, float], ...]:
    """Gather-path cycle bounds of ``op`` on ``core`` in ``mode`` (module docstring):
    ``("gather", W_s p_g / BW_gather)``, ``("index", nnz b_idx / BW_idx)`` and for CSR
    ``("lockstep", compute_cycles * imbalance)``; empty unless ``mode == "gather"``.

    Parameters
    ----------
    op
        The op.
    mode
        From :func:`sparse_mode`.
    spec
        The op's spec as the core executes it (:func:`sparse_node_spec`).
    core
        The core.
    compute_cycles
        The array's compute cycles for ``spec`` (for the CSR lockstep bound).
    """
    info = sparse_info(op)
    sp = core.sparse
    if info is None or mode != "gather" or sp is None or sp.gather_bits_per_cycle is None:
        return ()
    prec = spec.operands[OPERAND_NAMES.index(info.gathered)].prec
    gather = math.ceil(spec.work * prec / sp.gather_bits_per_cycle)
    idx_bits = info.geometry.nnz * info.spec.bits_per_index
    rate = sp.index_rate or sp.gather_bits_per_cycle
    out = [("gather", float(gather)), ("index", float(math.ceil(idx_bits / rate)))]
    imb = imbalance(info, max(core.array.sizes, default=1))
    if imb > 1.0 and compute_cycles > 0:
        out.append(("lockstep", float(math.ceil(compute_cycles * imb))))
    return tuple(out)
