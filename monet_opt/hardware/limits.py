"""Allowed ranges of the quantities in accelerator files (both our schema and Stream's).

The cost model and the MILPs work in cycles, pJ and bits; a bandwidth of 1e-9 bit/cycle
or an energy of 1e30 pJ is accepted by a plain "positive number" check but makes the
MILP coefficients span more orders of magnitude than a solver's feasibility tolerances
(HiGHS's defaults: 1e-7 for LPs, 1e-6 for MIPs) can resolve, so results stop being
trustworthy.  Every quantity is therefore
bounded by a physically meaningful range that admits every real chip and every shipped
example (``examples/hardware``, Stream's hardware files):

==============================  ======================  ==============================
quantity                        range                   largest / smallest seen
==============================  ======================  ==============================
memory size                     [1, 2**60] bits         1e16 bits (Stream DRAM)
memory / port bandwidth         [1e-3, 1e9] bits/cycle  4 .. 416,974 (TPU v7 bus)
link / bus bandwidth            [1e-3, 1e9] or .inf     32 .. .inf (Stream 0.0.8 SIMD)
memory access energy            [0, 1e6] pJ per word    32,000 pJ per word
MAC / element-op energy         [0, 1e6] pJ             1.5 pJ (FuseMax-like array)
link energy                     [0, 1e6] pJ/bit         1 pJ/bit
Stream ``unit_energy_cost``     [0, 1e6] pJ per cycle   512 pJ per link cycle
array size per dimension        [0, 2**20] PEs          256
dataflow unrolling              [1, 2**20]              256
ports of one kind (old ZigZag)  [0, 64]                 2
core id                         [0, 2**31 - 1]          40
==============================  ======================  ==============================

Context for the bounds: 1e9 bits/cycle is 125 PB/s at 1 GHz, above any HBM stack or
on-die bus (Google's TPU7x "Ironwood" HBM, 7.4 TB/s, is 53,673 bits/cycle at its
1.1 GHz clock, as Stream's ``tpu_v7_ironwood.yaml`` states); 1e-3 bit/cycle is a
1 Mbit/s serial line at 1 GHz.  1e6 pJ = 1 µJ per access is over a thousand times a
DRAM burst (Stream 0.0.8's DRAM: 1000 pJ per 64-bit access).  2**60 bits is 128 PiB.
Booleans are never numbers (YAML ``true`` is not 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "Range",
    "SIZE_BITS",
    "BANDWIDTH",
    "LINK_BANDWIDTH",
    "WORD_ENERGY",
    "OP_ENERGY",
    "BIT_ENERGY",
    "CYCLE_ENERGY",
    "ARRAY_SIZE",
    "UNROLL",
    "PORT_COUNT",
    "CORE_ID",
    "fmt_limit",
]


def fmt_limit(x: float) -> str:
    """A bound for messages: ``2**60``, ``1e9``, ``1e-3``, ``0.5``, ``64``, ``.inf``."""
    if math.isinf(x):
        return ".inf"
    if x >= 2**20 and float(x).is_integer() and (int(x) & (int(x) - 1)) == 0:
        return f"2**{int(x).bit_length() - 1}"
    if x != 0 and (abs(x) >= 1e5 or abs(x) < 1e-2):
        exp = math.floor(math.log10(abs(x)))
        if x == math.copysign(10.0**exp, x):
            return f"{'-' if x < 0 else ''}1e{exp}"
    if float(x).is_integer():
        return str(int(x))
    return f"{x:g}"


@dataclass(frozen=True)
class Range:
    """Closed range ``[lo, hi]`` of a quantity, with its unit.

    Parameters
    ----------
    lo, hi
        Bounds (inclusive).
    unit
        Unit for messages (``"bits/cycle"``).
    integer
        Only integral values are allowed (integral floats such as ``32.0`` are accepted
        and returned as ``int``).
    allow_inf
        ``.inf`` is allowed too (unlimited link bandwidth).
    """

    lo: float
    hi: float
    unit: str = ""
    integer: bool = False
    allow_inf: bool = False

    def describe(self) -> str:
        """``"a number in [0.001, 1e9] bits/cycle (or .inf)"``."""
        kind = "an integer" if self.integer else "a number"
        unit = f" {self.unit}" if self.unit else ""
        inf = " or .inf" if self.allow_inf else ""
        return f"{kind} in [{fmt_limit(self.lo)}, {fmt_limit(self.hi)}]{unit}{inf}"

    def violation(self, value: object) -> str | None:
        """``None`` if ``value`` is allowed, else what is allowed (:meth:`describe`)."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return self.describe()
        if isinstance(value, float) and math.isnan(value):
            return self.describe()
        if math.isinf(value):
            return None if self.allow_inf and value > 0 else self.describe()
        if self.integer and not float(value).is_integer():
            return self.describe()
        if not self.lo <= value <= self.hi:
            return self.describe()
        return None

    def check(self, value: object) -> float | int:
        """``value`` as a number (an ``int`` for integer ranges) if allowed.

        Raises
        ------
        ValueError
            ``"invalid value <v>; allowed: <range>"`` otherwise (pydantic turns it into
            a field error).
        """
        allowed = self.violation(value)
        if allowed is not None:
            shown = repr(value)
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            raise ValueError(f"invalid value {shown}; allowed: {allowed}")
        assert isinstance(value, (int, float))
        if self.integer:
            return int(value)
        return float(value)


#: Memory capacity.
SIZE_BITS = Range(1, 2**60, "bits")
#: Memory port bandwidth (read, write, port ``bandwidth_min``/``bandwidth_max``).
BANDWIDTH = Range(1e-3, 1e9, "bits/cycle")
#: Link or bus bandwidth; ``.inf`` = unlimited.
LINK_BANDWIDTH = Range(1e-3, 1e9, "bits/cycle", allow_inf=True)
#: Memory access energy, pJ per access of one port-wide word.
WORD_ENERGY = Range(0, 1e6, "pJ per word")
#: PE array energy, pJ per MAC (per element operation on SIMD/pooling arrays).
OP_ENERGY = Range(0, 1e6, "pJ per MAC")
#: Link energy per bit.
BIT_ENERGY = Range(0, 1e6, "pJ/bit")
#: Stream's link ``unit_energy_cost``: pJ per cycle of link activity.
CYCLE_ENERGY = Range(0, 1e6, "pJ per link cycle")
#: PEs along one array dimension (0: a core without PEs).
ARRAY_SIZE = Range(0, 2**20, "PEs", integer=True)
#: Spatial unrolling factor of a fixed dataflow.
UNROLL = Range(1, 2**20, "", integer=True)
#: Ports of one kind of a memory in ZigZag's old syntax (``r_port``, ``w_port``, ``rw_port``).
PORT_COUNT = Range(0, 64, "ports", integer=True)
#: Core id.
CORE_ID = Range(0, 2**31 - 1, "", integer=True)
#: Tiles in a tile group (``tiles.count``).
TILE_COUNT = Range(1, 2**20, "tiles", integer=True)
#: Cycles of one BSP barrier sync (``tiles.sync_cycles``).
SYNC_CYCLES = Range(0, 1e9, "cycles")
#: Hardware threads per tile (``tiles.threads``).
THREADS = Range(1, 1024, "threads", integer=True)
