"""Silicon area of an accelerator in mm², so that a hardware search has a cost axis.

The model adds up four kinds of components of the on-chip cores (the off-chip DRAM core
has no on-chip area):

* **MAC units** (one per PE of a compute core's array): an integer multiplier of
  ``b × b`` bits and an accumulator adder of ``2b`` bits, ``b`` the MAC precision
  (:data:`DEFAULT_MAC_BITS` unless the core says otherwise, see :func:`mac_bits_of`);
* **register files**: memory instances of at most :data:`REGISTER_MAX_BITS` bits
  (per-PE weight / output registers), built of flip-flops, area per bit;
* **SRAMs**: larger memory instances, area per bit times a port factor;
* **links and buses**: a pipeline register of the link width at each end of a link
  (each attached core of a bus); links of unlimited bandwidth (``.inf``, Stream 0.0.8's
  ideal SIMD links) have no modelled area.

Sources and technology node (all figures at **40 nm**, 1 GHz)
---------------------------------------------------------------
* Multiplier, adder and register: the Aladdin component table (Shao et al., "Aladdin:
  A Pre-RTL, Power-Performance Accelerator Simulator Enabling Large Design Space
  Exploration of Customized Architectures", ISCA 2014) as distributed with Accelergy's
  component library (``hwcomponents-library``, ``hwcomponents_library/library/aladdin.py``,
  github.com/Accelergy-Project/hwcomponents-library): 40 nm, a 32 × 32-bit multiplier
  6350 µm² (scaled with the product of the operand widths), a 32-bit adder 278 µm²
  (scaled linearly with the width), a 1-bit register 5.98 µm² (linear in the width).
  Accelergy's ``IntMAC`` is the same sum (adder + multiplier).
* SRAM: the CACTI rule of thumb for a single-ported SRAM bit cell quoted in
  D. J. Greaves' System-on-Chip Design notes (University of Cambridge Computer
  Laboratory, "45nm SRAM Memory Area and Power Consumption": about 600 λ² per bit cell
  with λ the feature size), taken at λ = 40 nm: 0.96 µm² per bit including the array
  periphery.
* Ports (our assumption, the one coefficient without a table behind it): every port
  beyond the first adds :data:`SRAM_EXTRA_PORT_FACTOR` (25 %) of the single-port area,
  for the extra word line and bit-line pair per cell (CACTI's multi-ported cell grows
  the same way, by one track per port in each direction).

Instances: a memory with ``served_dimensions`` ``S`` on an array with dimensions ``D``
has one instance per combination of the dimensions of ``D`` not in ``S`` (a per-PE
register has ``n_pes`` instances, a memory serving the whole array one). The top-level
memories of cores that share memory (``memory_sharing``) are one physical memory and
counted once.

The module is pure: :func:`accelerator_area` maps an
:class:`~monet_opt.hardware.model.Accelerator` to an :class:`AreaBreakdown`.
``docs/area_model.md`` explains the model with a worked example.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from monet_opt.hardware.model import Accelerator, Core, Memory

__all__ = [
    "TECH_NODE_NM",
    "MULT_32X32_UM2",
    "ADDER_32_UM2",
    "REGISTER_BIT_UM2",
    "SRAM_BIT_UM2",
    "SRAM_EXTRA_PORT_FACTOR",
    "REGISTER_MAX_BITS",
    "DEFAULT_MAC_BITS",
    "AreaBreakdown",
    "mac_area_um2",
    "register_area_um2",
    "sram_area_um2",
    "memory_instances",
    "memory_area_um2",
    "link_area_um2",
    "mac_bits_of",
    "accelerator_area",
]

#: Technology node of every coefficient, nm.
TECH_NODE_NM = 40
#: Aladdin 32 × 32-bit integer multiplier at 40 nm, µm².
MULT_32X32_UM2 = 6350.0
#: Aladdin 32-bit adder at 40 nm, µm².
ADDER_32_UM2 = 278.0
#: Aladdin 1-bit register at 40 nm, µm².
REGISTER_BIT_UM2 = 5.98
#: CACTI rule of thumb: 600 λ² per single-ported SRAM bit, λ = 40 nm, µm².
SRAM_BIT_UM2 = 600 * (TECH_NODE_NM * 1e-3) ** 2
#: Extra single-port area per additional SRAM port (our assumption).
SRAM_EXTRA_PORT_FACTOR = 0.25
#: Memory instances of at most this many bits are register files (flip-flops).
REGISTER_MAX_BITS = 4096
#: MAC precision when the accelerator does not give one, bits (Stream's TPU-like cores
#: multiply 8-bit operands).
DEFAULT_MAC_BITS = 8

_UM2_PER_MM2 = 1e6


@dataclass(frozen=True)
class AreaBreakdown:
    """Area of an accelerator in mm², by component kind.

    Attributes
    ----------
    macs_mm2, registers_mm2, srams_mm2, links_mm2
        MAC units, register files, SRAMs, link and bus registers (mm²).
    per_core_mm2
        ``{core name: mm²}`` of each on-chip core (MACs and its memories; a shared
        memory counts for the first core that lists it).
    """

    macs_mm2: float
    registers_mm2: float
    srams_mm2: float
    links_mm2: float
    per_core_mm2: Mapping[str, float] = field(default_factory=dict)

    @property
    def total_mm2(self) -> float:
        """Total area, mm²."""
        return self.macs_mm2 + self.registers_mm2 + self.srams_mm2 + self.links_mm2

    def as_dict(self) -> dict[str, float]:
        """``{"area_mm2", "area_macs_mm2", ...}`` (plain floats)."""
        return {
            "area_mm2": self.total_mm2,
            "area_macs_mm2": self.macs_mm2,
            "area_registers_mm2": self.registers_mm2,
            "area_srams_mm2": self.srams_mm2,
            "area_links_mm2": self.links_mm2,
        }


def mac_area_um2(bits: int) -> float:
    """Area of one integer MAC unit of ``bits``-bit operands, µm².

    A ``bits × bits`` multiplier (Aladdin's 32 × 32 multiplier scaled by
    ``(bits / 32)²``) plus a ``2·bits``-bit accumulator adder (Aladdin's 32-bit adder
    scaled by ``2·bits / 32``).

    Raises
    ------
    ValueError
        If ``bits`` is not a positive integer.
    """
    if bits < 1:
        raise ValueError(f"MAC precision must be >= 1 bit, got {bits}")
    return MULT_32X32_UM2 * (bits / 32) ** 2 + ADDER_32_UM2 * (2 * bits / 32)


def register_area_um2(size_bits: float) -> float:
    """Area of a register file of ``size_bits`` flip-flops, µm²."""
    return REGISTER_BIT_UM2 * size_bits


def sram_area_um2(size_bits: float, ports: int = 1) -> float:
    """Area of an SRAM of ``size_bits`` bits with ``ports`` ports, µm².

    ``SRAM_BIT_UM2 × size × (1 + SRAM_EXTRA_PORT_FACTOR × (ports − 1))``.
    """
    return SRAM_BIT_UM2 * size_bits * (1 + SRAM_EXTRA_PORT_FACTOR * (max(ports, 1) - 1))


def memory_instances(mem: Memory, core: Core) -> int:
    """Physical copies of ``mem`` in ``core``: the product of the array sizes along the
    dimensions ``mem`` does not serve (1 when it serves them all)."""
    n = 1
    for dim, size in zip(core.array.dimensions, core.array.sizes, strict=True):
        if dim not in mem.served_dimensions:
            n *= max(int(size), 1)
    return n


def _ports(mem: Memory) -> int:
    """Number of ports (explicit ports; else 1 read + 1 write)."""
    return len(mem.ports) if mem.ports else 2


def memory_area_um2(mem: Memory, core: Core) -> tuple[float, bool]:
    """Area of all instances of ``mem`` in ``core`` (µm²) and whether it is a register
    file (instances of at most :data:`REGISTER_MAX_BITS` bits) rather than an SRAM."""
    n = memory_instances(mem, core)
    if mem.size_bits <= REGISTER_MAX_BITS:
        return n * register_area_um2(mem.size_bits), True
    return n * sram_area_um2(mem.size_bits, _ports(mem)), False


def link_area_um2(width_bits: float, ends: int = 2) -> float:
    """Pipeline registers of a link ``width_bits`` wide at each of its ``ends``, µm²
    (0 for an unlimited-bandwidth link)."""
    if math.isinf(width_bits):
        return 0.0
    return REGISTER_BIT_UM2 * width_bits * ends


def mac_bits_of(acc: Accelerator, core: Core, default: int = DEFAULT_MAC_BITS) -> int:
    """MAC precision of ``core``: ``extra.area.mac_bits`` of the accelerator (an int, or
    a mapping core name -> int), else ``default``."""
    spec = acc._extra.get("area")
    bits = spec.get("mac_bits") if isinstance(spec, Mapping) else None
    if isinstance(bits, Mapping):
        bits = bits.get(core.name)
    return int(bits) if isinstance(bits, int) and not isinstance(bits, bool) else default


def accelerator_area(acc: Accelerator, mac_bits: int | None = None) -> AreaBreakdown:
    """Area of ``acc``'s on-chip cores and links, mm² (see the module docstring).

    Parameters
    ----------
    acc
        The accelerator.
    mac_bits
        MAC precision of every compute core, bits (default: :func:`mac_bits_of`).

    Returns
    -------
    AreaBreakdown
    """
    macs = regs = srams = links = 0.0
    per_core: dict[str, float] = {}
    shared_seen: set[str] = set()
    sharing = {cid for grp in acc.memory_sharing for cid in grp}
    for core in acc.cores:
        if core.is_offchip or core.id == acc.offchip_core_id:
            continue
        bits = mac_bits if mac_bits is not None else mac_bits_of(acc, core)
        core_um2 = 0.0
        if core.kind == "compute":
            m = core.array.n_pes * mac_area_um2(bits)
            macs += m
            core_um2 += m
        for level, mem in enumerate(core.memories):
            top = level == len(core.memories) - 1
            if top and core.id in sharing:
                if mem.name in shared_seen:
                    continue
                shared_seen.add(mem.name)
            a, is_reg = memory_area_um2(mem, core)
            if is_reg:
                regs += a
            else:
                srams += a
            core_um2 += a
        per_core[core.name] = core_um2 / _UM2_PER_MM2
    for lk in acc.links:
        links += link_area_um2(lk.bandwidth, len(lk.cores) if lk.kind == "bus" else 2)
    return AreaBreakdown(
        macs / _UM2_PER_MM2,
        regs / _UM2_PER_MM2,
        srams / _UM2_PER_MM2,
        links / _UM2_PER_MM2,
        per_core,
    )
