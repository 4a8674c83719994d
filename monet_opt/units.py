"""Units used everywhere in monet-opt, and how they are printed.

Internally every quantity has one unit:

* time in **cycles** (cc) of the accelerator clock;
* energy in **pJ**;
* memory and traffic in **bits**; bandwidth in **bits/cycle**.

Binary prefixes (KiB = 2**10 bytes, MiB = 2**20 bytes, GiB = 2**30 bytes) are used for
memory sizes, as in ZigZag/Stream hardware files and the JEDEC convention for SRAM.
Energies are printed with SI prefixes on the joule (1 µJ = 10**6 pJ).
"""

from __future__ import annotations

import math

__all__ = [
    "BITS_PER_BYTE",
    "KIB_BITS",
    "MIB_BITS",
    "GIB_BITS",
    "bits_to_mib",
    "mib_to_bits",
    "fmt_bits",
    "fmt_bytes",
    "fmt_cycles",
    "fmt_energy",
    "REL_TOL",
    "within",
]

#: Bits per byte.
BITS_PER_BYTE = 8
#: Bits per KiB (2**10 bytes).
KIB_BITS = BITS_PER_BYTE * 2**10
#: Bits per MiB (2**20 bytes): ``checkpointing.budget_mib`` -> bits.
MIB_BITS = BITS_PER_BYTE * 2**20
#: Bits per GiB (2**30 bytes).
GIB_BITS = BITS_PER_BYTE * 2**30


def bits_to_mib(bits: float) -> float:
    """Bits -> MiB (2**20 bytes)."""
    return float(bits) / MIB_BITS


def mib_to_bits(mib: float) -> float:
    """MiB (2**20 bytes) -> bits."""
    return float(mib) * MIB_BITS


def fmt_bytes(b: float | None) -> str:
    """Bytes with a binary prefix (``1.50 MiB``); ``—`` for ``None``/non-finite."""
    if b is None or not math.isfinite(b):
        return "—"
    for unit, scale in (("GiB", 1024.0**3), ("MiB", 1024.0**2), ("KiB", 1024.0)):
        if abs(b) >= scale:
            return f"{b / scale:,.2f} {unit}"
    return f"{b:,.0f} B"


def fmt_bits(bits: float | None) -> str:
    """A memory size given in bits, printed in bytes with a binary prefix;
    ``unbounded`` for an infinite size (DRAM without a capacity)."""
    if bits is not None and math.isinf(bits) and bits > 0:
        return "unbounded"
    return fmt_bytes(None if bits is None else bits / BITS_PER_BYTE)


def fmt_cycles(c: float | None) -> str:
    """``12,345,678 cc``; ``—`` for ``None``/non-finite."""
    return "—" if c is None or not math.isfinite(c) else f"{c:,.0f} cc"


def fmt_energy(pj: float | None) -> str:
    """Energy with an SI prefix on the joule (``1.234 µJ``); input in pJ."""
    if pj is None or not math.isfinite(pj):
        return "—"
    for unit, scale in (("J", 1e12), ("mJ", 1e9), ("µJ", 1e6), ("nJ", 1e3)):
        if abs(pj) >= scale:
            return f"{pj / scale:,.3f} {unit}"
    return f"{pj:,.1f} pJ"


#: The one relative tolerance of budget and capacity checks: a quantity is within a
#: limit when it exceeds it by at most this fraction of the limit (well above float
#: rounding of sums of ~10**8 bits, far below one byte of a real memory).
REL_TOL = 1e-9


def within(value: float, limit: float, rel_tol: float = REL_TOL) -> bool:
    """``value <= limit`` up to the relative tolerance :data:`REL_TOL`.

    Used for footprint budgets and memory capacities alike, so that a budget computed
    as ``fraction * store_all`` and a minimum computed as a sum agree on feasibility.
    """
    return float(value) <= float(limit) + rel_tol * max(abs(float(limit)), 1.0)
