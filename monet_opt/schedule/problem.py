"""The scheduling problem: computation nodes, data edges, DRAM traffic, program order.

Schedule semantics (shared by the evaluator, the MILPs and the GA)
------------------------------------------------------------------
Layer by layer, every non-shape op of the training graph is one **computation node**
(shape-only ops are contracted: their output aliases their input).  Given a core
allocation and a **program order** π (a topological order; default: HEFT upward rank
computed with core-averaged costs, Topcuoglu et al., IEEE TPDS 2002):

1. **Cores run in order.**  Each core executes its nodes in π order (an in-order
   instruction stream, as a statically compiled accelerator does).  A node starts
   when the previous node of its core has ended, all its producers have ended, and
   its DRAM reads (below) have arrived.  Cores run concurrently, so independent work
   (a layer's dW beside the next dX on another core, optimizer updates on the SIMD core
   beside backward ops) overlaps.
2. **Input fetch.**  A node first fetches the inputs produced on other cores over the
   interconnect (:func:`monet_opt.cost.tables.route`), serialized through its core's
   input port: the fetch phase lasts Σ bits × cycles-per-bit of the route and occupies
   the route's links.  Then it computes for ``latency[node, core]`` cycles.
3. **DRAM port.**  DRAM traffic is carried by DMA tasks on the single DRAM port, which
   serves them one at a time in a fixed queue order:

   * a read task ``R_j`` before node ``j``: weights, optimizer state, network inputs and
     labels, and (store-all checkpointing) the forward activations a backward node
     reads.  ``R_j`` is queued ``prefetch_depth`` positions ahead of ``j`` in π (queue
     key ``(pos_j - depth, 0)``, raised above the writes it depends on) and may start
     only once the node ``depth + 1`` positions before ``j`` has ended (its buffer is
     free): depth 0 = no prefetch, 1 = double buffering;
   * a write task ``W_i`` after node ``i``: checkpointed forward activations, updated
     weights and optimizer state, and graph outputs (queue key ``(pos_i, 1)``).

   With ``layer_io="dram"`` every tensor passed
   between nodes also makes this DRAM round trip and no core-to-core transfer happens;
   with ``layer_io="onchip"`` it moves over the interconnect (point 2).

   A DMA task starts when the port is free (and for ``W_i`` when ``i`` has ended).
4. **Latency** (makespan) is the end of the last node or DMA task.

This fixes everything but the allocation (and optionally π), so the evaluator is a
single pass and the allocation MILP needs no ordering binaries
(:mod:`monet_opt.formulations.allocation`).  Contention between core-to-core
transfers of *different* consumers on a shared link or bus is not modeled (each
consumer's port serializes its own fetches); the DRAM port is the shared resource.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from types import MappingProxyType

import numpy as np

from monet_opt.cost.tables import CostTables, build_cost_tables, has_dram
from monet_opt.hardware.model import Accelerator
from monet_opt.models.ir import Graph, Op, OpKind, Phase, TensorRole
from monet_opt.units import fmt_bits

__all__ = ["Problem", "build_problem", "Edge", "heft_rank"]


@dataclass(frozen=True)
class Edge:
    """A data edge between computation nodes.

    ``bits`` moved core-to-core when the endpoints sit on different cores; ``via_dram``
    edges carry no core-to-core transfer (the consumer reads the tensor from DRAM).
    ``pipelined`` edges lie inside a fused layer stack: the tensor moves tile by tile, so
    the consumer may start once the producer's first of ``Problem.tiles`` tiles is done
    (:mod:`monet_opt.schedule.realize`).
    """

    src: int
    dst: int
    tensor: str
    bits: float
    via_dram: bool
    pipelined: bool = False


@dataclass(frozen=True, eq=False)
class Problem:
    """Inputs of every optimizer: nodes, edges, DRAM traffic, costs, default order.

    Build with :func:`build_problem` (a base problem: layer by layer, store-all) or
    :func:`monet_opt.schedule.realize.realize` (a derived problem of a decision's stacks
    and checkpoints).  ``n`` is the number of computation nodes; core *indices* ``c``
    index :attr:`core_ids` and the columns of ``costs``, while decisions hold core *ids*.
    Nodes are in a topological order.  Units: cycles, pJ, bits.

    Attributes
    ----------
    graph
        The training graph the nodes come from (tensors by name, roles, sizes).
    accelerator
        The accelerator.
    nodes
        ``n`` computation nodes (:class:`~monet_opt.models.ir.Op`): shape-only ops are
        contracted and (optionally) activation functions folded into their producer.
    edges
        Data edges between nodes (:class:`Edge`): ``bits`` per tensor, ``via_dram`` when
        the consumer reads it from DRAM, ``pipelined`` inside a fused stack.
    costs
        :class:`~monet_opt.cost.tables.CostTables`: ``latency``/``energy`` of shape
        ``(n, n_cores)`` (cycles / pJ, ``inf`` where a core may not run a node), transfer
        cycles and pJ per bit between cores, DRAM port figures.
    dram_read_bits, dram_write_bits
        ``(n,)`` bits each node's DMA read task brings in before it / write task takes
        out after it.
    dram_read_tensors, dram_write_tensors
        ``n`` tuples of tensor names making up those tasks.
    dram_deps
        ``n`` tuples: nodes whose DRAM write a node's read must follow in the queue.
    prefetch_depth
        How many program-order positions a DRAM read may run ahead of its node (≥ 0).
    layer_io
        ``"onchip"`` (tensors passed between nodes move core to core) or ``"dram"``
        (every one makes a DRAM round trip).
    default_priority
        ``(n,)`` priorities of the default program order π (higher runs first among
        ready nodes): HEFT upward rank or the layer-wise order.
    tiles
        Tiles a fused stack is processed in (≥ 1).
    tile_tensors
        Tensors that move tile by tile (inside a fused stack; derived problems only).
    ties
        ``(n,)`` derived problems only, else empty: the node whose core node ``i`` must
        share (``-1``: none); recompute copies run on the core of their original.
    memory
        ``"capacity"`` (memories have their capacity, :mod:`monet_opt.schedule.memory`)
        or ``"unbounded"`` (no capacity; checkpointed activations are stored in DRAM).
    input_operands
        ``n`` mappings: input tensor -> ZigZag operand it feeds (``"I1"`` for the first
        input of the op, ``"I2"`` for the others), which decides the memory it occupies
        (:mod:`monet_opt.schedule.memory`).
    resident
        ``(tensor, core index)`` of the training state kept on chip across steps
        (:func:`monet_opt.schedule.resident.make_resident`; empty: none): left out of
        the DMA tables, a permanent demand of the memory model.
    """

    graph: Graph
    accelerator: Accelerator
    nodes: tuple[Op, ...]
    edges: tuple[Edge, ...]
    costs: CostTables
    dram_read_bits: np.ndarray
    dram_write_bits: np.ndarray
    dram_read_tensors: tuple[tuple[str, ...], ...]
    dram_write_tensors: tuple[tuple[str, ...], ...]
    dram_deps: tuple[tuple[int, ...], ...]
    prefetch_depth: int
    layer_io: str
    default_priority: tuple[float, ...]
    tiles: int = 8
    tile_tensors: frozenset[str] = frozenset()
    ties: tuple[int, ...] = ()
    memory: str = "unbounded"
    input_operands: tuple[Mapping[str, str], ...] = ()
    resident: tuple[tuple[str, int], ...] = ()

    # -- basic views ---------------------------------------------------------------
    @property
    def n_nodes(self) -> int:
        return len(self.nodes)

    @property
    def node_names(self) -> tuple[str, ...]:
        return tuple(op.name for op in self.nodes)

    @property
    def core_ids(self) -> tuple[int, ...]:
        return self.costs.core_ids

    @cached_property
    def allowed_idx(self) -> tuple[tuple[int, ...], ...]:
        """Allowed core *indices* per node."""
        ok = self.costs.allowed
        return tuple(tuple(int(c) for c in np.flatnonzero(ok[i])) for i in range(self.n_nodes))

    @cached_property
    def allowed(self) -> tuple[tuple[int, ...], ...]:
        """Allowed core *ids* per node."""
        ids = self.core_ids
        return tuple(tuple(ids[c] for c in row) for row in self.allowed_idx)

    @cached_property
    def flexible(self) -> tuple[int, ...]:
        """Nodes with more than one allowed core."""
        return tuple(i for i, a in enumerate(self.allowed_idx) if len(a) > 1)

    @cached_property
    def preds(self) -> tuple[tuple[int, ...], ...]:
        out: list[list[int]] = [[] for _ in self.nodes]
        for e in self.edges:
            if e.src not in out[e.dst]:
                out[e.dst].append(e.src)
        return tuple(tuple(v) for v in out)

    @cached_property
    def succs(self) -> tuple[tuple[int, ...], ...]:
        out: list[list[int]] = [[] for _ in self.nodes]
        for e in self.edges:
            if e.dst not in out[e.src]:
                out[e.src].append(e.dst)
        return tuple(tuple(v) for v in out)

    @cached_property
    def hard_preds(self) -> tuple[tuple[int, ...], ...]:
        """Predecessors a node waits for completely (not through a pipelined edge)."""
        out: list[list[int]] = [[] for _ in self.nodes]
        for e in self.edges:
            if not e.pipelined and e.src not in out[e.dst]:
                out[e.dst].append(e.src)
        return tuple(tuple(v) for v in out)

    @cached_property
    def pipe_preds(self) -> tuple[tuple[int, ...], ...]:
        """Predecessors in the same fused stack (pipelined tile by tile)."""
        hard = self.hard_preds
        out: list[list[int]] = [[] for _ in self.nodes]
        for e in self.edges:
            if e.pipelined and e.src not in out[e.dst] and e.src not in hard[e.dst]:
                out[e.dst].append(e.src)
        return tuple(tuple(v) for v in out)

    @cached_property
    def checkpoint_tensors(self) -> tuple[str, ...]:
        """Forward activations read by backward nodes: the checkpointing decision.

        Each is produced by a forward computation node and read by at least one
        backward node (MONET's one bit per activation: Morlier et al., arXiv:2603.15002,
        2026).  Network inputs have no producer and always live in DRAM, so they are not
        decisions.
        """
        out: dict[str, None] = {}
        for e in self.edges:
            if (
                self.nodes[e.src].phase == Phase.FORWARD
                and self.nodes[e.dst].phase != Phase.FORWARD
            ):
                out[e.tensor] = None
        return tuple(out)

    @cached_property
    def in_edges(self) -> tuple[tuple[int, ...], ...]:
        """Indices into :attr:`edges` of the core-to-core edges entering each node."""
        out: list[list[int]] = [[] for _ in self.nodes]
        for k, e in enumerate(self.edges):
            if not e.via_dram:
                out[e.dst].append(k)
        return tuple(tuple(v) for v in out)

    @cached_property
    def dram_read_cycles(self) -> np.ndarray:
        return self.dram_read_bits * self.costs.dram_cycles_per_bit

    @cached_property
    def dram_write_cycles(self) -> np.ndarray:
        return self.dram_write_bits * self.costs.dram_cycles_per_bit

    @cached_property
    def dram_energy(self) -> float:
        """DRAM energy of the step in pJ (allocation independent)."""
        c = self.costs
        return float(
            self.dram_read_bits.sum() * c.dram_read_pj_per_bit
            + self.dram_write_bits.sum() * c.dram_write_pj_per_bit
        )

    @cached_property
    def reachability(self) -> np.ndarray:
        """``(n, n)`` bool, ``[i, j]`` true if there is a path i → j (i ≠ j)."""
        return _reach(self.preds)

    @cached_property
    def hard_reachability(self) -> np.ndarray:
        """Like :attr:`reachability`, through edges that order end before start only
        (not the pipelined edges inside fused stacks)."""
        return _reach(self.hard_preds)

    @cached_property
    def unbounded(self) -> Problem:
        """This problem without memory capacities (itself when it has none): the model
        the MILPs build on until they model capacities."""
        if self.memory == "unbounded":
            return self
        return replace(self, memory="unbounded")

    # -- program order ---------------------------------------------------------------
    def program_order(self, priority: Sequence[float] | None = None) -> tuple[int, ...]:
        """Topological order π: among ready nodes the highest priority first.

        Ties go to the node that comes first in the graph.
        """
        prio = self.default_priority if priority is None else priority
        if len(prio) != self.n_nodes:
            raise ValueError(f"priority has {len(prio)} entries, expected {self.n_nodes}")
        indeg = [len(p) for p in self.preds]
        heap = [(-prio[i], i) for i in range(self.n_nodes) if indeg[i] == 0]
        heapq.heapify(heap)
        order: list[int] = []
        while heap:
            _, i = heapq.heappop(heap)
            order.append(i)
            for s in self.succs[i]:
                indeg[s] -= 1
                if indeg[s] == 0:
                    heapq.heappush(heap, (-prio[s], s))
        return tuple(order)

    def read_gate(self, order: Sequence[int]) -> tuple[int, ...]:
        """Per node: the node whose end gates its DRAM read (``-1``: none)."""
        gate = [-1] * self.n_nodes
        d = self.prefetch_depth
        for p, i in enumerate(order):
            if p - d - 1 >= 0:
                gate[i] = order[p - d - 1]
        return tuple(gate)

    def event_sequence(self, order: Sequence[int]) -> tuple[tuple[int, int], ...]:
        """Merged sequence of events ``(kind, node)``: kind 0 = DRAM read of node,
        1 = node, 2 = DRAM write of node; sorted by queue key (module docstring)."""
        pos = [0] * self.n_nodes
        for p, i in enumerate(order):
            pos[i] = p
        keys: list[tuple[int, int, int, int]] = []
        d = self.prefetch_depth
        for i in range(self.n_nodes):
            if self.dram_read_bits[i] > 0:
                k = pos[i] - d
                for w in self.dram_deps[i]:
                    k = max(k, pos[w] + 1)
                keys.append((k, 0, pos[i], i))
            keys.append((pos[i], 1, pos[i], i))
            if self.dram_write_bits[i] > 0:
                keys.append((pos[i], 2, pos[i], i))
        keys.sort()
        return tuple((kind, i) for _, kind, _, i in keys)


def _check_dram_capacity(graph: Graph, accelerator: Accelerator) -> None:
    """The DRAM must hold at least what lives there all step: weights, optimizer state,
    network inputs and labels (spilled activations only add to it).

    Raises
    ------
    ValueError
        Stating the minimum DRAM the step needs.
    """
    dram = accelerator.dram
    if dram is None:
        return
    need = sum(
        float(t.bits)
        for t in graph.tensors.values()
        if t.is_constant and t.name not in graph.producer
    )
    if need > dram.size_bits:
        raise ValueError(
            f"accelerator {accelerator.name!r}: the DRAM ({fmt_bits(dram.size_bits)}) cannot "
            f"hold the step: weights, optimizer state, inputs and labels alone need "
            f"{fmt_bits(need)}; the step needs at least {fmt_bits(need)} of DRAM"
        )


def _reach(preds: Sequence[Sequence[int]]) -> np.ndarray:
    n = len(preds)
    reach = np.zeros((n, n), dtype=bool)
    for j in range(n):  # nodes are in topological order
        for p in preds[j]:
            reach[:, j] |= reach[:, p]
            reach[p, j] = True
    return reach


#: Forward activation functions that a MAC array applies at its output (Stream/ZigZag
#: parse ``Conv -> Relu`` as one computation node).
FOLDABLE_ACTIVATIONS = frozenset({"Relu", "Gelu", "Sigmoid", "Tanh", "Silu", "LeakyRelu", "Clip"})


def _contracted_ops(graph: Graph, fold_activations: bool) -> tuple[set[str], dict[str, str]]:
    """Ops that are not computation nodes, and the tensor alias map they induce.

    Shape-only ops are always contracted (their output aliases their input).  With
    ``fold_activations`` a forward activation function whose input is produced by a
    MAC op and read by nothing else is folded into that op: its output aliases the MAC
    output (its element work, ≤ 1 op per output element, is dropped).
    """
    alias: dict[str, str] = {}
    dropped: set[str] = set()
    for op in graph.ops:
        if not op.inputs:
            continue
        src = op.inputs[0]
        root = alias.get(src, src)
        fold = False
        if fold_activations and op.op_type in FOLDABLE_ACTIVATIONS and op.phase == Phase.FORWARD:
            prod = graph.producer.get(src)
            prod_op = graph.ops[graph.op_index[prod]] if prod is not None else None
            fold = (
                prod_op is not None
                and prod_op.is_mac
                and prod_op.name not in dropped
                and len(graph.consumers[src]) == 1
            )
        if op.kind == OpKind.SHAPE or fold:
            dropped.add(op.name)
            for t in op.outputs:
                alias[t] = root
    return dropped, alias


LAYER_IO = ("dram", "onchip")
#: Memory models: ``capacity`` (every memory has its capacity; placement, spills and the
#: gates of :mod:`monet_opt.schedule.memory`) or ``unbounded`` (no capacity: the model of
#: monet-opt before issue 10, kept to measure what capacity changes).
MEMORY_MODELS = ("capacity", "unbounded")
ORDERS = ("heft", "layerwise")


def heft_rank(
    costs: CostTables,
    edges: Sequence[Edge],
    read_bits: np.ndarray,
    write_bits: np.ndarray,
) -> tuple[float, ...]:
    """HEFT upward rank per node (Topcuoglu, Hariri and Wu, IEEE TPDS 13(3), 2002) with
    core-averaged latencies (cycles), the mean core-to-core transfer cycles per bit and
    each node's own DRAM read + write cycles; nodes must be in a topological order."""
    n = costs.latency.shape[0]
    lat = np.where(np.isfinite(costs.latency), costs.latency, np.nan)
    mean_lat = np.nan_to_num(np.nanmean(lat, axis=1))
    nc = len(costs.core_ids)
    mean_xfer = float(costs.xfer_cycles.sum() / max(nc * (nc - 1), 1))
    dcyc = costs.dram_cycles_per_bit
    rank = np.zeros(n)
    succ_edges: list[list[Edge]] = [[] for _ in range(n)]
    for e in edges:
        succ_edges[e.src].append(e)
    for i in range(n - 1, -1, -1):
        best = 0.0
        for e in succ_edges[i]:
            comm = 0.0 if e.via_dram else e.bits * mean_xfer
            best = max(best, comm + rank[e.dst])
        rank[i] = mean_lat[i] + (read_bits[i] + write_bits[i]) * dcyc + best
    return tuple(float(r) for r in rank)


def _layerwise_priority(nodes: Sequence[Op]) -> tuple[float, ...]:
    """Priorities for the layer-wise order: forward nodes in graph order first, then the
    backward and optimizer nodes of the deepest forward op first."""
    n = len(nodes)
    fwd_pos = {op.name: k for k, op in enumerate(nodes) if op.phase == Phase.FORWARD}
    prio = []
    for k, op in enumerate(nodes):
        if op.phase == Phase.FORWARD:
            prio.append(float(2 * n + (n - k)))
        else:
            f = fwd_pos.get(op.forward_op or "", -1)
            tie = 0.5 if op.phase == Phase.OPTIMIZER else (n - k) / (2.0 * n + 1)
            prio.append(float(f + 1) + tie * 0.5)
    return tuple(prio)


def build_problem(
    graph: Graph,
    accelerator: Accelerator,
    *,
    prefetch_depth: int = 2,
    layer_io: str = "onchip",
    fold_activations: bool = True,
    tiles: int = 8,
    order: str = "heft",
    memory: str = "unbounded",
) -> Problem:
    """Build the scheduling :class:`Problem` of a (training) graph on an accelerator.

    Parameters
    ----------
    graph
        Training (or forward-only) graph.
    accelerator
        Target accelerator; must have at least one compute core.
    prefetch_depth
        How many program-order positions a DRAM read may run ahead of its node (≥ 0).
    layer_io
        Where layer-by-layer execution keeps the tensors passed between nodes:
        ``"onchip"`` (the default: outputs stay in the producer's memory and move
        core-to-core over the interconnect; only checkpointed activations, weights,
        optimizer state and graph inputs/outputs use DRAM) or ``"dram"`` (every output is
        written to DRAM and every consumer reads it back).
    fold_activations
        Fold forward activation functions into the MAC op producing their input (as
        Stream does); see :func:`_contracted_ops`.
    tiles
        Number of tiles a fused layer stack is processed in (≥ 1); used only when a
        decision fuses nodes (:mod:`monet_opt.schedule.realize`).
    order
        Default program order π: ``"heft"`` (upward rank, Topcuoglu et al. 2002; good
        for makespan) or ``"layerwise"`` (the backward pass layer by layer, deepest first,
        each layer's dX, dW and optimizer update together, as frameworks execute it;
        keeps activation lifetimes short, which checkpointing needs).
    memory
        ``"capacity"`` (every memory has its capacity, see
        :mod:`monet_opt.schedule.memory`) or ``"unbounded"`` (see :data:`MEMORY_MODELS`;
        the default until the formulations model capacities exactly).

    Raises
    ------
    ValueError
        On a negative ``prefetch_depth``, an accelerator without compute cores, a node
        no core can run, or an accelerator without DRAM (no off-chip core) when the
        workload moves any tensor to or from DRAM (weights, optimizer state, network
        inputs, checkpointed activations...; the message lists them with their sizes).
    """
    if layer_io not in LAYER_IO:
        raise ValueError(f"layer_io must be one of {LAYER_IO}, got {layer_io!r}")
    if memory not in MEMORY_MODELS:
        raise ValueError(f"memory must be one of {MEMORY_MODELS}, got {memory!r}")
    if prefetch_depth < 0:
        raise ValueError(f"prefetch_depth must be >= 0, got {prefetch_depth}")
    if tiles < 1:
        raise ValueError(f"tiles must be >= 1, got {tiles}")
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    if not accelerator.compute_cores:
        raise ValueError(f"accelerator {accelerator.name!r} has no compute core")
    dropped, alias = _contracted_ops(graph, fold_activations)
    nodes = tuple(op for op in graph.ops if op.name not in dropped)
    producer: dict[str, int] = {}
    for i, op in enumerate(nodes):
        for t in op.outputs:
            producer[t] = i
    consumers: dict[str, list[int]] = {}
    operands: list[dict[str, str]] = []
    for j, op in enumerate(nodes):
        ops: dict[str, str] = {}
        for k, t in enumerate(op.inputs):
            ops.setdefault(alias.get(t, t), "I1" if k == 0 else "I2")
        operands.append(ops)
        for t in dict.fromkeys(op.inputs):
            consumers.setdefault(alias.get(t, t), []).append(j)

    ckpt = {alias.get(t, t) for t in graph.checkpoint_candidates}
    n = len(nodes)
    rbits = np.zeros(n)
    wbits = np.zeros(n)
    rt: list[list[str]] = [[] for _ in range(n)]
    wt: list[list[str]] = [[] for _ in range(n)]
    deps: list[set[int]] = [set() for _ in range(n)]
    edges: list[Edge] = []
    for j, op in enumerate(nodes):
        for t in dict.fromkeys(op.inputs):
            root = alias.get(t, t)
            tensor = graph.tensors[root]
            p = producer.get(root)
            if p is None:  # constant, network input or label: lives in DRAM
                rbits[j] += tensor.bits
                rt[j].append(root)
                continue
            # without capacities a kept activation is stored in DRAM (MONET's store-all);
            # with them it is an on-chip tensor that the placement keeps or spills
            via_dram = layer_io == "dram" or (
                memory == "unbounded"
                and root in ckpt
                and op.phase != Phase.FORWARD
                and nodes[p].phase == Phase.FORWARD
            )
            if via_dram:
                rbits[j] += tensor.bits
                rt[j].append(root)
                deps[j].add(p)
            edges.append(Edge(p, j, root, float(tensor.bits), via_dram))
    for i, op in enumerate(nodes):
        outs = list(op.outputs)
        for t in outs:
            tensor = graph.tensors[t]
            cons = consumers.get(t, [])
            stored = (
                (t in ckpt and memory == "unbounded")
                or tensor.role in (TensorRole.WEIGHT, TensorRole.OPTIMIZER_STATE)
                or not cons
                or layer_io == "dram"
            )
            if stored:
                wbits[i] += tensor.bits
                wt[i].append(t)
    if memory == "capacity":
        _check_dram_capacity(graph, accelerator)
    if not has_dram(accelerator) and rbits.sum() + wbits.sum() > 0:
        by_role = {
            TensorRole.WEIGHT: "weights",
            TensorRole.OPTIMIZER_STATE: "optimizer state",
            TensorRole.INPUT: "network inputs",
            TensorRole.LABEL: "labels",
        }
        moved: dict[str, float] = {}
        for tensors in (*rt, *wt):
            for t in tensors:
                what = by_role.get(graph.tensors[t].role)
                if what is None and t in ckpt:
                    what = "checkpointed activations"
                elif what is None:
                    what = "layer outputs" if layer_io == "dram" else "graph outputs"
                moved[what] = moved.get(what, 0.0) + graph.tensors[t].bits
        parts = ", ".join(
            f"{k} {fmt_bits(v)}" for k, v in sorted(moved.items(), key=lambda kv: -kv[1])
        )
        where = f" to {accelerator.source}" if accelerator.source else ""
        raise ValueError(
            f"accelerator {accelerator.name!r} has no DRAM (no core of kind offchip), but the "
            f"workload moves {fmt_bits(float(rbits.sum() + wbits.sum()))} to/from DRAM: {parts}; "
            f"add an offchip core (kind: offchip, and offchip_core_id){where}, or run a "
            f"workload whose tensors never leave the chip"
        )
    costs = build_cost_tables(graph, accelerator, nodes)
    rank = heft_rank(costs, edges, rbits, wbits)
    return Problem(
        graph=graph,
        accelerator=accelerator,
        nodes=nodes,
        edges=tuple(edges),
        costs=costs,
        dram_read_bits=rbits,
        dram_write_bits=wbits,
        dram_read_tensors=tuple(tuple(v) for v in rt),
        dram_write_tensors=tuple(tuple(v) for v in wt),
        dram_deps=tuple(tuple(sorted(v)) for v in deps),
        prefetch_depth=prefetch_depth,
        layer_io=layer_io,
        memory=memory,
        default_priority=(rank if order == "heft" else _layerwise_priority(nodes)),
        tiles=tiles,
        input_operands=tuple(MappingProxyType(o) for o in operands),
    )
