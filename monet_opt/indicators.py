"""Quality indicators of Pareto fronts: non-dominated filtering and hypervolume.

All objectives are minimized.  The hypervolume is the Lebesgue measure of the region
dominated by a set of points and bounded by a reference point (Zitzler and Thiele,
"Multiobjective optimization using evolutionary algorithms — a comparative case study",
PPSN V, 1998).  It comes from DEAP's hypervolume module when it is installed
(``deap.tools._hypervolume``), else from ``moocore`` (what DEAP 1.4.4 itself uses),
else from an exact pure-Python slicing algorithm (Fonseca, Paquete and López-Ibáñez,
IEEE CEC 2006 describe the 3-D sweep it generalizes).  As in pymoo's ``indicators``
package, these functions know nothing of the problems whose fronts they measure.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "finite_or_none",
    "nondominated_indices",
    "pareto_filter",
    "hypervolume",
    "hypervolume_ratio",
    "pareto_summary",
]


def finite_or_none(v: Any) -> float | None:
    """``v`` as a finite float, else ``None`` (``None``, NaN, inf, non-numbers, bools)."""
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def nondominated_indices(points: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the non-dominated points (minimization), sorted lexicographically by
    value; of several equal points the first is kept."""
    idx = sorted(range(len(points)), key=lambda i: tuple(points[i]))
    out: list[int] = []
    for i in idx:
        p = tuple(points[i])
        if any(all(a <= b for a, b in zip(points[j], p, strict=True)) for j in out):
            continue  # dominated by, or equal to, a kept point
        out.append(i)
    return out


def _as_points(points: Any, dim: int | None = None) -> np.ndarray:
    """Finite points as an ``(n, d)`` float array; rows with ``None``/NaN/inf dropped."""
    rows: list[list[float]] = []
    for p in [] if points is None else points:
        if p is None:
            continue
        row = [finite_or_none(v) for v in p]
        if row and all(v is not None for v in row):
            rows.append(row)  # type: ignore[arg-type]
    if not rows:
        return np.zeros((0, dim or 0))
    if len({len(r) for r in rows}) != 1:
        raise ValueError("points of different dimensions")
    arr = np.asarray(rows, dtype=float)
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"points have {arr.shape[1]} coordinates, the reference {dim}")
    return arr


def _nondominated(arr: np.ndarray) -> np.ndarray:
    """Nondominated rows (minimization, duplicates kept once), sorted lexicographically."""
    if len(arr) <= 1:
        return arr
    arr = arr[np.lexsort(arr.T[::-1])]
    if arr.shape[1] == 2:
        keep = []
        best_y = math.inf
        for i, y in enumerate(arr[:, 1]):
            if y < best_y:
                keep.append(i)
                best_y = y
        return arr[keep]
    kept = np.zeros((0, arr.shape[1]))
    for p in arr:  # a dominator precedes p in lexicographic order
        if not np.any(np.all(kept <= p, axis=1)):
            kept = np.vstack([kept, p])
    return kept


def _hv_python(pts: np.ndarray, ref: np.ndarray) -> float:
    """Exact hypervolume by slicing along the last axis (2-D: one sweep).

    ``pts`` must be nondominated and strictly better than ``ref`` in every coordinate.
    """
    n, d = pts.shape
    if n == 0:
        return 0.0
    if d == 1:
        return float(ref[0] - pts[:, 0].min())
    if d == 2:
        area, best_y = 0.0, float(ref[1])
        for x, y in pts[np.argsort(pts[:, 0], kind="stable")]:
            if y < best_y:
                area += (ref[0] - x) * (best_y - y)
                best_y = y
        return float(area)
    pts = pts[np.argsort(pts[:, -1], kind="stable")]
    vol = 0.0
    for i in range(n):
        top = pts[i + 1, -1] if i + 1 < n else ref[-1]
        if top > pts[i, -1]:
            vol += (top - pts[i, -1]) * _hv_python(_nondominated(pts[: i + 1, :-1]), ref[:-1])
    return float(vol)


@functools.cache
def _hv_backend() -> tuple[str, Callable[[np.ndarray, np.ndarray], float]]:
    """``(name, function(points, reference))`` of the best available implementation."""
    try:
        from deap.tools._hypervolume import hv  # type: ignore[import-not-found]

        return "deap", lambda p, r: float(hv.hypervolume(p.tolist(), r.tolist()))
    except ImportError:
        pass
    try:
        import moocore  # type: ignore[import-not-found]

        return "moocore", lambda p, r: float(moocore.hypervolume(p, ref=r))
    except ImportError:
        pass
    return "python", _hv_python


def hypervolume(points: Iterable[Sequence[float]], reference: Sequence[float]) -> float:
    """Hypervolume (minimization) dominated by ``points`` and bounded by ``reference``.

    Parameters
    ----------
    points
        Objective vectors, shape ``(n, d)`` (any sequence of sequences or an array).
        Points with missing / non-finite coordinates are dropped, dominated points do
        not change the result, and points not strictly better than ``reference`` in
        every coordinate are ignored.
    reference
        Reference point, ``d`` coordinates.

    Returns
    -------
    float
        Volume in the product of the axes' units (e.g. bits x cycles); 0.0 for an
        empty set.
    """
    ref = np.asarray([float(v) for v in reference], dtype=float)
    if ref.ndim != 1 or ref.size == 0 or not np.all(np.isfinite(ref)):
        raise ValueError(f"invalid reference point {reference!r}")
    pts = _as_points(points, ref.size)
    if len(pts):
        pts = pts[np.all(pts < ref, axis=1)]
    if not len(pts):
        return 0.0
    pts = _nondominated(pts)
    if ref.size == 1:
        return float(ref[0] - pts[:, 0].min())
    return _hv_backend()[1](pts, ref)


def pareto_filter(points: Iterable[Sequence[float]]) -> list[list[float]]:
    """Nondominated subset (minimization) of ``points``, sorted by x (then y, ...).

    Points with missing / non-finite coordinates are dropped; duplicates are kept once.
    """
    return _nondominated(_as_points(points)).tolist()


def _default_reference(*sets: np.ndarray) -> list[float]:
    """Per-axis max over ``sets`` plus a 10 % margin (``1.1 * max`` for a positive max,
    ``1.0`` for a zero max)."""
    nonempty = [s for s in sets if len(s)]
    if not nonempty:
        return []
    mx = np.vstack(nonempty).max(axis=0)
    return [float(m + 0.1 * abs(m)) if m != 0 else 1.0 for m in mx]


def _scale(reference: Sequence[float]) -> np.ndarray:
    return np.asarray([abs(r) if r != 0 else 1.0 for r in reference], dtype=float)


def _hv_normalized(pts: np.ndarray, reference: Sequence[float]) -> float:
    """Hypervolume of ``pts`` with every axis divided by ``|reference|``."""
    if not len(reference):
        return 0.0
    s = _scale(reference)
    return hypervolume(pts / s if len(pts) else pts, np.asarray(reference) / s)


def hypervolume_ratio(
    ga_points: Iterable[Sequence[float]],
    exact_points: Iterable[Sequence[float]],
    reference: Sequence[float] | None = None,
) -> tuple[float, list[float]]:
    """Hypervolume of the GA front relative to the exact front's.

    Parameters
    ----------
    ga_points, exact_points
        Objective vectors ``(n, d)`` (minimization), in the same units.
    reference
        Reference point; default: 1.1 x the per-axis max over both sets (nadir with a
        10 % margin; 1.0 on an axis whose max is 0).

    Returns
    -------
    tuple[float, list[float]]
        ``(ratio, reference)``.  Axes are divided by ``|reference|`` before computing
        (the ratio is scale-invariant).  The ratio is 1.0 for identical fronts, < 1
        when the GA front is dominated, > 1 only if the GA beats the "exact" front
        somewhere; NaN when the exact front's hypervolume is 0 (e.g. empty).
    """
    dim = len(reference) if reference is not None else None
    ga = _as_points(ga_points, dim)
    ex = _as_points(exact_points, dim)
    if len(ga) and len(ex) and ga.shape[1] != ex.shape[1]:
        raise ValueError("GA and exact points have different dimensions")
    ref = [float(v) for v in reference] if reference is not None else _default_reference(ga, ex)
    hv_ex = _hv_normalized(ex, ref)
    hv_ga = _hv_normalized(ga, ref)
    return (hv_ga / hv_ex if hv_ex > 0 else math.nan), ref


def pareto_summary(pareto: Mapping[str, Any]) -> dict[str, Any]:
    """Hypervolume comparison of the exact front and the GA fronts of ``data["pareto"]``.

    All hypervolumes use one reference point (``pareto["reference"]`` or the default
    of :func:`hypervolume_ratio` over the exact and all GA points) and axes divided by
    ``|reference|``, so they are dimensionless (1.0 = the box from the origin to the
    reference point).

    Returns
    -------
    dict
        ``reference`` (list, in the data's units), ``hv_exact``, ``hv_union``,
        ``n_exact`` / ``n_union`` (nondominated points), ``per_seed`` (list of
        ``{"seed", "hv", "ratio", "n_points", "evaluations", "seconds"}``),
        ``ratio_median``, ``ratio_min``, ``ratio_max`` (over seeds) and ``ratio_union``
        (union of all seeds' fronts).  Undefined values are ``None`` (JSON-safe).
    """
    exact = _nondominated(_as_points(pareto.get("exact")))
    fronts = [f for f in (pareto.get("ga_fronts") or []) if f is not None]
    seed_pts = [_nondominated(_as_points(f.get("points"))) for f in fronts]
    nonempty = [p for p in seed_pts if len(p)]
    union = _nondominated(np.vstack(nonempty)) if nonempty else np.zeros((0, 0))
    given = pareto.get("reference")
    if given is not None and all(finite_or_none(v) is not None for v in given):
        ref = [float(v) for v in given]
    else:
        ref = _default_reference(exact, union)
    hv_exact = _hv_normalized(exact, ref)

    def ratio(hv: float) -> float | None:
        return hv / hv_exact if hv_exact > 0 else None

    per_seed = []
    for f, pts in zip(fronts, seed_pts, strict=True):
        hv = _hv_normalized(pts, ref)
        per_seed.append(
            {
                "seed": f.get("seed"),
                "hv": hv,
                "ratio": ratio(hv),
                "n_points": len(pts),
                "evaluations": f.get("evaluations"),
                "seconds": finite_or_none(f.get("seconds")),
            }
        )
    ratios = [s["ratio"] for s in per_seed if s["ratio"] is not None]
    hv_union = _hv_normalized(union, ref)
    return {
        "reference": ref,
        "hv_exact": hv_exact,
        "hv_union": hv_union,
        "n_exact": len(exact),
        "n_union": len(union),
        "per_seed": per_seed,
        "ratio_median": float(statistics.median(ratios)) if ratios else None,
        "ratio_min": min(ratios) if ratios else None,
        "ratio_max": max(ratios) if ratios else None,
        "ratio_union": ratio(hv_union) if fronts else None,
    }


# -- CSV --------------------------------------------------------------------------------
