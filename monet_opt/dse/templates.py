"""Parametric accelerator templates: parameter values -> an accelerator document.

A template is a pure function from a mapping of parameter values to a document of our
accelerator schema (``format: monet-opt/accelerator@1``, read by
:func:`monet_opt.hardware.yaml_io.accelerator_from_dict`), plus the list of its
parameters with their defaults. A design space (:mod:`monet_opt.dse.space`) varies some
of the parameters and fixes the others.

Templates
---------
``monet_edge``
    MONET's edge search space (Morlier et al., arXiv:2603.15002, 2026, its edge space): a
    mesh of ``x_pe × y_pe`` TPU-like compute cores, each an ``n_simds × n_lanes`` MAC
    array with ``D1 = K`` and ``D2 = C``, a per-PE weight register file (``weight_rf_kib``
    per core in total) and one shared SRAM of ``sram_mib`` for inputs, weights and
    outputs; plus Stream 0.0.8's pooling and SIMD cores and DRAM. Links are
    ``link_bw`` b/cc (MONET: 32) between mesh neighbours and from every compute core to
    the pooling and SIMD cores; one DRAM bus of ``dram_bw`` b/cc (MONET: 128) reaches
    every core; the DRAM holds ``dram_gbit`` (Stream's 10 Gbit). Energies per access
    are those of ``examples/hardware/monet_edge_512k.yaml`` (Stream 0.0.8's TPU-like
    core) at its sizes, scaled with the square root of the
    capacity for other sizes (bit-line and word-line length grow with the side of the
    array; our first-order choice).
``fusemax``
    MONET's data-center space (FuseMax-like): an ``x_pes × y_pes`` 2-D MAC array and a
    ``vector_pes``-lane vector core sharing a ``buffer_mib`` buffer of ``buffer_bw`` b/cc,
    with ``offchip_bw`` b/cc of HBM (``examples/hardware/fusemax_like.yaml`` at its
    defaults; buffer energy per bit scaled with the square root of the capacity from
    1 pJ/bit at 16 MiB).

Every accelerator document carries ``extra.area.mac_bits`` (the MAC precision of the
area model, :mod:`monet_opt.hardware.area`) and ``extra.dse`` (the template and the
parameter values it was built from).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Param", "Template", "TEMPLATES", "build_accelerator_doc"]

KIB_BITS = 8 * 1024
MIB_BITS = 8 * 1024 * 1024


@dataclass(frozen=True)
class Param:
    """One template parameter.

    Attributes
    ----------
    name
        Parameter name.
    kind
        ``"int"`` or ``"float"``.
    default
        Value when the space neither varies nor fixes it.
    low, high
        Allowed range (inclusive).
    unit
        Unit, for messages and reports.
    help
        One-line description.
    """

    name: str
    kind: str
    default: float
    low: float
    high: float
    unit: str = ""
    help: str = ""


@dataclass(frozen=True)
class Template:
    """A parametric accelerator: its parameters and its builder."""

    name: str
    params: tuple[Param, ...]
    build: Callable[[Mapping[str, Any]], dict[str, Any]]
    help: str = ""

    def param(self, name: str) -> Param | None:
        """The parameter called ``name`` (``None`` if there is none)."""
        return next((p for p in self.params if p.name == name), None)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def defaults(self) -> dict[str, Any]:
        """``{name: default}`` of every parameter."""
        return {p.name: p.default for p in self.params}


def _mem(
    name: str,
    size_bits: float,
    bw: float,
    r_pj: float,
    w_pj: float,
    operands: list[str],
    served: list[str],
    shared_port: bool = False,
) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": name,
        "size_bits": int(size_bits),
        "read_bw_bits_per_cycle": bw,
        "write_bw_bits_per_cycle": bw,
        "read_pj_per_word": round(r_pj, 6),
        "write_pj_per_word": round(w_pj, 6),
        "operands": operands,
        "served_dimensions": served,
    }
    if shared_port:
        d["shared_port"] = True
    return d


def _fmt(v: float) -> str:
    """Short text of a parameter value for names (``0.5`` -> ``0p5``)."""
    return (f"{v:g}").replace(".", "p")


# -- MONET edge: a mesh of TPU-like cores ---------------------------------------------------
_EDGE_PARAMS = (
    Param("x_pe", "int", 2, 1, 64, "cores", "mesh columns of compute cores"),
    Param("y_pe", "int", 2, 1, 64, "cores", "mesh rows of compute cores"),
    Param("n_simds", "int", 32, 1, 4096, "PEs", "array size along D1 = K"),
    Param("n_lanes", "int", 8, 1, 4096, "PEs", "array size along D2 = C"),
    Param("weight_rf_kib", "float", 32, 0.0625, 1024, "KiB", "weight register file per core"),
    Param("sram_mib", "float", 1, 0.0625, 1024, "MiB", "shared SRAM per core (I1, I2, O)"),
    Param("sram_bw", "int", 1024, 8, 65536, "b/cc", "SRAM port width"),
    Param("link_bw", "float", 32, 1, 65536, "b/cc", "core-to-core link bandwidth"),
    Param("dram_bw", "float", 128, 1, 65536, "b/cc", "DRAM port and bus bandwidth"),
    Param("dram_gbit", "float", 10, 1e-6, 1e6, "Gbit", "DRAM capacity (Stream's 10 Gbit)"),
    Param("mac_bits", "int", 8, 1, 64, "bits", "MAC operand precision (area model)"),
)


def _edge(p: Mapping[str, Any]) -> dict[str, Any]:
    """The ``monet_edge`` accelerator document (see the module docstring)."""
    nx_, ny = int(p["x_pe"]), int(p["y_pe"])
    simds, lanes = int(p["n_simds"]), int(p["n_lanes"])
    n_pes = simds * lanes
    n = nx_ * ny
    rf_bits = max(8.0, float(p["weight_rf_kib"]) * KIB_BITS / n_pes)  # per PE
    sram_bits = float(p["sram_mib"]) * MIB_BITS
    sram_bw = int(p["sram_bw"])
    # Stream 0.0.8 TPU-like: 64 B weight register 0.053 pJ per 8-bit access; 1 MiB SRAM
    # 208.08 / 189.2 pJ per 1024-bit word. Scaled by sqrt(capacity) and the word width.
    rf_pj = 0.053 * math.sqrt(rf_bits / 512)
    s_scale = math.sqrt(sram_bits / MIB_BITS) * sram_bw / 1024
    cores: list[dict[str, Any]] = []
    for k in range(n):
        cores.append(
            {
                "id": k,
                "name": f"tpu_{k // nx_}_{k % nx_}",
                "kind": "compute",
                "array": {
                    "dimensions": ["D1", "D2"],
                    "sizes": [simds, lanes],
                    "unit_energy_pj": 0.04,
                },  # fmt: skip
                "dataflow": {"D1": [["K", simds]], "D2": [["C", lanes]]},
                "memories": [
                    _mem("w_rf", rf_bits, 8, rf_pj, rf_pj, ["I2"], []),
                    _mem("o_reg", 16, 16, 0.54, 0.60, ["O"], ["D2"]),
                    _mem(
                        "sram",
                        sram_bits,
                        sram_bw,
                        208.08 * s_scale,
                        189.2 * s_scale,
                        ["I1", "I2", "O"],
                        ["D1", "D2"],
                    ),
                ],
            }
        )
    pool, simd, dram = n, n + 1, n + 2
    cores.append(
        {
            "id": pool,
            "name": "pooling",
            "kind": "compute",
            "array": {"dimensions": ["D1", "D2"], "sizes": [3, 3], "unit_energy_pj": 0.1},
            "operator_types": ["pool"],
            "memories": [
                _mem("sram_128KB", 1048576, 128, 150, 165, ["I1", "I2", "O"], ["D1", "D2"])
            ],
        }
    )
    cores.append(
        {
            "id": simd,
            "name": "simd",
            "kind": "compute",
            "array": {"dimensions": ["D1"], "sizes": [64], "unit_energy_pj": 0.1},
            "operator_types": ["elementwise", "norm", "loss", "optimizer"],
            "memories": [_mem("sram_600KB", 4915200, 512, 0.01, 0.01, ["I1", "I2", "O"], ["D1"])],
        }
    )
    dram_bw = float(p["dram_bw"])
    cores.append(
        {
            "id": dram,
            "name": "dram",
            "kind": "offchip",
            "array": {"dimensions": ["D1", "D2"], "sizes": [0, 0], "unit_energy_pj": 0},
            "memories": [
                _mem(
                    "dram",
                    max(1.0, float(p["dram_gbit"]) * 1e9),
                    dram_bw,
                    15.625 * dram_bw,
                    15.625 * dram_bw,
                    ["I1", "I2", "O"],
                    ["D1", "D2"],
                    shared_port=True,
                )
            ],
        }
    )
    bw = float(p["link_bw"])
    links: list[dict[str, Any]] = []
    for k in range(n):
        r, c = divmod(k, nx_)
        if c + 1 < nx_:
            links.append({"kind": "link", "cores": [k, k + 1], "bandwidth_bits_per_cycle": bw})
        if r + 1 < ny:
            links.append({"kind": "link", "cores": [k, k + nx_], "bandwidth_bits_per_cycle": bw})
    for k in range(n):
        links.append({"kind": "link", "cores": [k, pool], "bandwidth_bits_per_cycle": bw})
        links.append({"kind": "link", "cores": [simd, k], "bandwidth_bits_per_cycle": bw})
    links.append({"kind": "link", "cores": [simd, pool], "bandwidth_bits_per_cycle": bw})
    links.append({"kind": "bus", "cores": list(range(n + 3)), "bandwidth_bits_per_cycle": dram_bw})
    name = (
        f"monet_edge_{nx_}x{ny}_{simds}x{lanes}_rf{_fmt(float(p['weight_rf_kib']))}k"
        f"_sram{_fmt(float(p['sram_mib']))}m"
    )
    return {
        "format": "monet-opt/accelerator@1",
        "name": name,
        "description": (
            f"MONET edge design point: {nx_}x{ny} mesh of {simds}x{lanes} TPU-like cores "
            f"(weight RF {p['weight_rf_kib']} KiB, SRAM {p['sram_mib']} MiB per core), a "
            f"pooling core, a SIMD core and DRAM ({dram_bw:g} b/cc); links {bw:g} b/cc."
        ),
        "offchip_core_id": dram,
        "cores": cores,
        "links": links,
        "extra": {"area": {"mac_bits": int(p["mac_bits"])}},
    }


# -- FuseMax-like data center ---------------------------------------------------------------
_DC_PARAMS = (
    Param("x_pes", "int", 256, 1, 4096, "PEs", "2-D array size along D1"),
    Param("y_pes", "int", 256, 1, 4096, "PEs", "2-D array size along D2"),
    Param("vector_pes", "int", 256, 1, 65536, "PEs", "vector core lanes"),
    Param("buffer_mib", "float", 16, 0.0625, 4096, "MiB", "shared on-chip buffer"),
    Param("buffer_bw", "int", 8192, 8, 1 << 20, "b/cc", "buffer port width"),
    Param("offchip_bw", "float", 2048, 1, 1 << 20, "b/cc", "HBM bandwidth"),
    Param("mac_bits", "int", 16, 1, 64, "bits", "MAC operand precision (area model)"),
)


def _fusemax(p: Mapping[str, Any]) -> dict[str, Any]:
    """The ``fusemax`` accelerator document (see the module docstring)."""
    xp, yp, vp = int(p["x_pes"]), int(p["y_pes"]), int(p["vector_pes"])
    buf_bits = float(p["buffer_mib"]) * MIB_BITS
    bbw = int(p["buffer_bw"])
    obw = float(p["offchip_bw"])
    pj_bit = math.sqrt(buf_bits / (16 * MIB_BITS))  # 1 pJ/bit at 16 MiB
    rf = [
        _mem(f"rf_{o}", 16, 16, 0.4, 0.4, [op], [])
        for o, op in (("I", "I1"), ("W", "I2"), ("O", "O"))
    ]
    buffer = _mem(
        f"buffer_{_fmt(float(p['buffer_mib']))}MiB",
        buf_bits,
        bbw,
        pj_bit * bbw,
        pj_bit * bbw,
        ["I1", "I2", "O"],
        ["D1", "D2"],
    )
    cores = [
        {
            "id": 0,
            "name": f"array_{xp}x{yp}",
            "kind": "compute",
            "array": {"dimensions": ["D1", "D2"], "sizes": [xp, yp], "unit_energy_pj": 1.5},
            "operator_types": ["conv", "gemm"],
            "memories": [*rf, buffer],
        },
        {
            "id": 1,
            "name": f"vector_{vp}",
            "kind": "compute",
            "array": {"dimensions": ["D1"], "sizes": [vp], "unit_energy_pj": 0.1},
            "operator_types": ["elementwise", "norm", "loss", "optimizer"],
            "memories": [*rf, {**buffer, "served_dimensions": ["D1"]}],
        },
        {
            "id": 2,
            "name": "hbm",
            "kind": "offchip",
            "array": {"dimensions": ["D1", "D2"], "sizes": [0, 0], "unit_energy_pj": 0},
            "memories": [
                _mem(
                    "hbm",
                    137438953472,
                    obw,
                    10 * obw,
                    10 * obw,
                    ["I1", "I2", "O"],
                    ["D1", "D2"],
                    shared_port=True,
                )  # fmt: skip
            ],
        },
    ]
    name = f"fusemax_{xp}x{yp}_v{vp}_buf{_fmt(float(p['buffer_mib']))}m_bw{bbw}_hbm{_fmt(obw)}"
    return {
        "format": "monet-opt/accelerator@1",
        "name": name,
        "description": (
            f"FuseMax-like design point: {xp}x{yp} MAC array, {vp}-lane vector core, "
            f"{p['buffer_mib']} MiB buffer at {bbw} b/cc, {obw:g} b/cc HBM."
        ),
        "offchip_core_id": 2,
        "cores": cores,
        "links": [{"kind": "bus", "cores": [0, 1, 2], "bandwidth_bits_per_cycle": obw}],
        "memory_sharing": [[0, 1]],
        "extra": {"area": {"mac_bits": int(p["mac_bits"])}},
    }


#: Templates by name.
TEMPLATES: dict[str, Template] = {
    "monet_edge": Template("monet_edge", _EDGE_PARAMS, _edge, "MONET edge: mesh of TPU-like cores"),
    "fusemax": Template("fusemax", _DC_PARAMS, _fusemax, "MONET data center: FuseMax-like"),
}


def build_accelerator_doc(template: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """The accelerator document of ``template`` at ``values`` (missing parameters take
    their defaults); ``extra.dse`` records the template and the full parameter set.

    Raises
    ------
    KeyError
        For an unknown template.
    """
    t = TEMPLATES[template]
    full = {**t.defaults(), **dict(values)}
    doc = t.build(full)
    doc.setdefault("extra", {})["dse"] = {"template": template, "params": full}
    return doc
