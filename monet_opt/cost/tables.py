"""Per-(node, core) cost tables and core-to-core transfer tables.

Everything downstream (evaluator, MILPs, GA) reads these numpy arrays, never the
cost model directly.

* ``latency[i, c]`` (on-chip cycles) and ``energy[i, c]`` (on-chip pJ) of node ``i`` on
  core index ``c`` from :func:`monet_opt.cost.op_cost.op_cost`, costed under the capacity
  of the core's memories with the accelerator's DRAM figures; ``inf`` where the core cannot
  run the node (:func:`monet_opt.cost.op_cost.can_run`) or no mapping of it fits the
  core's memories.
* ``stream_read_bits[i, c]``, ``stream_write_bits[i, c]`` (bits): the node's in-node DRAM
  traffic on that core (operands too large for the core's top memories, streamed during
  the node with their re-fetches; 0 when it is resident and where not allowed).  The
  node then lasts ``max(latency, (read + write) * dram_cycles_per_bit)`` and occupies the
  DRAM port meanwhile; its DRAM energy is ``read * dram_read_pj_per_bit + write *
  dram_write_pj_per_bit`` (``details[i][c].dram_energy``), not part of ``energy``.
* ``xfer_cycles[p, q]`` (cycles per bit) and ``xfer_energy[p, q]`` (pJ per bit) between
  core indices: 0 on the same core or between cores that share memory; otherwise over
  the route of point-to-point links with the fewest hops (widest bottleneck among
  equals), time = bits / bottleneck bandwidth and energy = bits × Σ link pJ/bit; if no
  link route exists, over the widest shared bus; if none, through DRAM (written and
  read back: 2 × bits / DRAM bandwidth, DRAM energy).
* DRAM: ``dram_cycles_per_bit`` = 1 / DRAM bandwidth (min of the DRAM port and the
  link/bus reaching the off-chip core, :attr:`Accelerator.dram_bandwidth`),
  ``dram_read_pj_per_bit``, ``dram_write_pj_per_bit`` (port pJ per word / port width,
  :attr:`Accelerator.dram_energy_per_bit`).  ``has_dram`` is ``False`` for an accelerator
  without an off-chip core (:func:`has_dram`); the three figures are then 0, so any DRAM
  traffic would be free: :func:`monet_opt.schedule.problem.build_problem` rejects such a
  problem unless it moves nothing to or from DRAM.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np

from monet_opt.cost.mapping import DramSpec, core_spec
from monet_opt.cost.op_cost import OpCost, can_run, node_cost, node_spec, supported_kinds
from monet_opt.hardware.model import Accelerator, Core
from monet_opt.models.ir import Graph, Op

__all__ = ["CostTables", "build_cost_tables", "has_dram", "route"]


@dataclass(frozen=True, eq=False)
class CostTables:
    """Numpy cost tables for a list of nodes on an accelerator.

    Attributes
    ----------
    node_names
        Node names (rows).
    core_ids
        Core ids (columns): the accelerator's compute cores.
    latency, energy
        ``(n_nodes, n_cores)`` on-chip cycles / on-chip pJ, ``inf`` where not allowed.
    details
        ``details[i][c]`` the :class:`OpCost` (``None`` where not allowed).
    xfer_cycles, xfer_energy
        ``(n_cores, n_cores)`` cycles per bit and pJ per bit.
    routes
        ``routes[p][q]`` human-readable channel label of the route.
    dram_cycles_per_bit, dram_read_pj_per_bit, dram_write_pj_per_bit
        DRAM port figures (0 if the accelerator has no DRAM).
    has_dram
        Whether the accelerator has DRAM (an off-chip core, :func:`has_dram`); without it
        the DRAM figures are 0 and DRAM traffic must be 0.
    stream_read_bits, stream_write_bits
        ``(n_nodes, n_cores)`` in-node DRAM bits read / written by the node on that core
        (:attr:`OpCost.dram_read_bits`, :attr:`OpCost.dram_write_bits`): 0 when the node is
        resident and where not allowed.  Derived from ``details`` when not given (or given
        with another shape than ``latency``, as after ``dataclasses.replace`` of the rows).
    """

    node_names: tuple[str, ...]
    core_ids: tuple[int, ...]
    latency: np.ndarray
    energy: np.ndarray
    details: tuple[tuple[OpCost | None, ...], ...]
    xfer_cycles: np.ndarray
    xfer_energy: np.ndarray
    routes: tuple[tuple[str, ...], ...]
    dram_cycles_per_bit: float
    dram_read_pj_per_bit: float
    dram_write_pj_per_bit: float
    has_dram: bool = True
    stream_read_bits: np.ndarray | None = None
    stream_write_bits: np.ndarray | None = None

    def __post_init__(self) -> None:
        # Derived from ``details`` when not given, or given with other rows than ``latency``
        # (e.g. ``dataclasses.replace`` of the rows without them).
        shape = self.latency.shape
        for name, attr in (("stream_read_bits", "dram_read_bits"),
                           ("stream_write_bits", "dram_write_bits")):  # fmt: skip
            given = getattr(self, name)
            if given is None or np.shape(given) != shape:
                arr = np.array(
                    [[getattr(oc, attr) if oc is not None else 0.0 for oc in row]
                     for row in self.details],
                    dtype=float,
                ).reshape(shape)  # fmt: skip
                object.__setattr__(self, name, arr)

    @property
    def allowed(self) -> np.ndarray:
        """``(n_nodes, n_cores)`` bool: core may run node."""
        return np.isfinite(self.latency)

    def core_index(self, core_id: int) -> int:
        return self.core_ids.index(core_id)


def has_dram(acc: Accelerator) -> bool:
    """Whether ``acc`` has DRAM: an off-chip core with a memory and a bandwidth > 0."""
    return acc.dram is not None and acc.dram_bandwidth > 0


def _shortest_paths(
    topo: nx.Graph, a: int, b: int, pred: Mapping[int, list[int]] | None
) -> Iterator[list[int]] | None:
    """Every shortest path from ``a`` to ``b`` in the order of
    :func:`networkx.all_shortest_paths` (``None`` if there is none); ``pred`` is
    ``nx.predecessor(topo, a)`` when the caller has it (one BFS per source)."""
    if pred is None:
        return nx.all_shortest_paths(topo, a, b) if nx.has_path(topo, a, b) else None
    if b not in pred:
        return None
    try:  # the generator nx.all_shortest_paths returns, without a BFS per target
        from networkx.algorithms.shortest_paths.generic import _build_paths_from_predecessors
    except ImportError:  # pragma: no cover - older / newer networkx
        return nx.all_shortest_paths(topo, a, b)
    return _build_paths_from_predecessors({a}, b, pred)


def route(
    acc: Accelerator,
    a: int,
    b: int,
    topo: nx.Graph | None = None,
    pred: Mapping[int, list[int]] | None = None,
) -> tuple[float, float, str]:
    """Cycles/bit, pJ/bit and label of the route from core ``a`` to core ``b``.

    See the module docstring for the routing rule.  ``topo``: ``acc.topology()`` and
    ``pred``: ``nx.predecessor(topo, a)``, when the caller already has them (built once
    per table or per source, not once per pair; the answer is the same).
    """
    if a == b or acc.shares_memory(a, b):
        return 0.0, 0.0, "local"
    topo = acc.topology() if topo is None else topo
    paths = _shortest_paths(topo, a, b, pred)
    if paths is not None:
        best: tuple[int, float, list[int]] | None = None
        for path in paths:
            bw = min(
                topo.edges[u, v]["link"].bandwidth for u, v in zip(path, path[1:], strict=False)
            )
            if best is None or bw > best[1]:
                best = (len(path), bw, path)
        assert best is not None
        _, bw, path = best
        pj = sum(
            topo.edges[u, v]["link"].energy_per_bit for u, v in zip(path, path[1:], strict=False)
        )
        cyc = 0.0 if math.isinf(bw) else 1.0 / bw
        return cyc, pj, "link " + "-".join(str(p) for p in path)
    bus = acc.shared_bus(a, b)
    if bus is not None:
        cyc = 0.0 if math.isinf(bus.bandwidth) else 1.0 / bus.bandwidth
        return cyc, bus.energy_per_bit, "bus " + "-".join(str(c) for c in bus.cores)
    if has_dram(acc):
        r, w = acc.dram_energy_per_bit
        return 2.0 / acc.dram_bandwidth, r + w, "via DRAM"
    raise ValueError(f"accelerator {acc.name!r}: no route between cores {a} and {b}")


def _core_table(acc: Accelerator) -> tuple[np.ndarray, np.ndarray, tuple[tuple[str, ...], ...]]:
    ids = [c.id for c in acc.compute_cores]
    n = len(ids)
    cyc = np.zeros((n, n))
    pj = np.zeros((n, n))
    labels: list[list[str]] = [["local"] * n for _ in range(n)]
    topo = acc.topology()
    for i, a in enumerate(ids):
        pred = nx.predecessor(topo, a)
        for j, b in enumerate(ids):
            if i != j:
                cyc[i, j], pj[i, j], labels[i][j] = route(acc, a, b, topo, pred)
    return cyc, pj, tuple(tuple(r) for r in labels)


def build_cost_tables(
    graph: Graph, acc: Accelerator, nodes: Sequence[Op] | None = None
) -> CostTables:
    """Cost tables of ``nodes`` (default: all ops of ``graph``) on ``acc``'s compute cores.

    Each node is costed by :func:`monet_opt.cost.op_cost.op_cost` with the accelerator's
    DRAM figures, so an operand too large for a core's memories streams from DRAM there.

    Raises
    ------
    ValueError
        If some node can run on no core (names the node, its kind and the cores, or the
        capacity that rules each capable core out).
    """
    ops = tuple(graph.ops if nodes is None else nodes)
    cores: tuple[Core, ...] = acc.compute_cores
    n, m = len(ops), len(cores)
    lat = np.full((n, m), np.inf)
    en = np.full((n, m), np.inf)
    s_read = np.zeros((n, m))
    s_write = np.zeros((n, m))
    details: list[list[OpCost | None]] = []
    r_pj, w_pj = acc.dram_energy_per_bit
    bw = acc.dram_bandwidth
    cpb = (1.0 / bw) if bw > 0 and not math.isinf(bw) else 0.0
    dram = DramSpec(cpb, r_pj, w_pj, has_dram(acc))
    specs = [core_spec(c) for c in cores]
    runs: dict[tuple[str, int], bool] = {}  # can_run depends on the op's kind only
    for i, op in enumerate(ops):
        row: list[OpCost | None] = []
        spec = None
        blocked: list[str] = []
        for c, core in enumerate(cores):
            ok = runs.get((op.kind.value, c))
            if ok is None:
                ok = runs[op.kind.value, c] = can_run(op, core, cores)
            if not ok:
                row.append(None)
                continue
            if op.macs == 0 or op.kind.value == "shape":
                oc = OpCost(0.0, 0.0, 1.0, 0.0, 0.0, mapping="no work")
            else:
                spec = spec or node_spec(op, graph)
                oc = node_cost(op, spec, core, specs[c], dram)
            if math.isinf(oc.cycles):
                blocked.append(f"{core.id}:{core.name}")
                row.append(None)
                continue
            lat[i, c] = oc.cycles
            en[i, c] = oc.energy
            s_read[i, c] = oc.dram_read_bits
            s_write[i, c] = oc.dram_write_bits
            row.append(oc)
        if not any(r is not None for r in row):
            if blocked:
                raise ValueError(
                    f"node {op.name!r} (kind {op.kind.value}, type {op.op_type}) fits no core "
                    f"of {acc.name!r}: its operands exceed the memories of "
                    f"{', '.join(blocked)}"
                    + ("" if has_dram(acc) else " and there is no DRAM to stream them from")
                )
            runs = "; ".join(
                f"{c.id}:{c.name} runs {', '.join(sorted(supported_kinds(c, cores))) or 'nothing'}"
                for c in cores
            )
            raise ValueError(
                f"node {op.name!r} (kind {op.kind.value}, type {op.op_type}) can run on no core "
                f"of {acc.name!r} ({runs}); list {op.kind.value!r} in a core's operator_types "
                f"or leave one core's operator_types out"
            )
        details.append(row)
    xc, xe, labels = _core_table(acc)
    return CostTables(
        node_names=tuple(op.name for op in ops),
        core_ids=tuple(c.id for c in cores),
        latency=lat,
        energy=en,
        details=tuple(tuple(r) for r in details),
        xfer_cycles=xc,
        xfer_energy=xe,
        routes=labels,
        dram_cycles_per_bit=(1.0 / bw) if bw > 0 else 0.0,
        dram_read_pj_per_bit=r_pj,
        dram_write_pj_per_bit=w_pj,
        has_dram=has_dram(acc),
        stream_read_bits=s_read,
        stream_write_bits=s_write,
    )
