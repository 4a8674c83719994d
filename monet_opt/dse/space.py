"""The design-space file of ``monet-opt dse SPACE.yaml``: schema, loading, checks.

Example (paths are relative to the space file)::

    format: monet-opt/dse-space@1
    name: monet_edge
    template: monet_edge              # a template of monet_opt.dse.templates
    fixed: {link_bw: 32, dram_bw: 128}          # template parameters held constant
    parameters:                        # the parameters searched
      x_pe: [1, 2, 4, 6, 8]            # a list of choices, or
      sram_mib: {low: 0.5, high: 4}    # a range (add step: 0.5 for a grid)
    workloads:                         # each a `workload` section as in solve configs
      - name: resnet18_cifar
        weight: 1.0
        workload: {model: resnet18-cifar, options: {batch: 4}, optimizer: adamw}
        schedule: {order: layerwise}   # optional: schedule / fusion / checkpointing
    objectives: [latency, energy, area]          # latency | energy | edp | area | peak_dram
    constraints: ["area_mm2 <= 200", {memory_fits: true}]
    inner: {mode: fast, time_limit_s: 2.0, polish: 8}   # fast | exact | fast+exact
    nsga2: {population: 20, cx_prob: 0.9, mut_prob: 0.1}

Every error is an :class:`~monet_opt.errors.InputError` naming the file, the field and
the allowed values (the command line prints it and exits with status 2).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from monet_opt.config import Config, config_from_dict
from monet_opt.dse.templates import TEMPLATES, Template
from monet_opt.errors import FieldError, InputError, from_validation_error
from monet_opt.safe_yaml import load_yaml

__all__ = [
    "FORMAT_ID",
    "OBJECTIVES",
    "OBJECTIVE_KEYS",
    "CONSTRAINT_METRICS",
    "INNER_MODES",
    "Constraint",
    "DesignSpace",
    "Dimension",
    "SpaceFile",
    "load_space",
    "space_from_dict",
]

FORMAT_ID = "monet-opt/dse-space@1"
#: Objective names of a space file -> record keys (all minimized).
OBJECTIVE_KEYS: dict[str, str] = {
    "latency": "latency_cycles",
    "energy": "energy_pj",
    "edp": "edp",
    "area": "area_mm2",
    "peak_dram": "peak_dram_bits",
}
OBJECTIVES = tuple(OBJECTIVE_KEYS)
#: Metrics a numeric constraint may bound.
CONSTRAINT_METRICS = tuple(OBJECTIVE_KEYS.values())
INNER_MODES = ("fast", "exact", "fast+exact")
#: Most choices of one parameter, most points of a grid.
MAX_CHOICES = 10_000
MAX_WORKLOADS = 64

_Number = Annotated[float, Field(strict=False, allow_inf_nan=False)]
_Seconds = Annotated[float, Field(strict=True, gt=0, le=7 * 24 * 3600.0, allow_inf_nan=False)]
_CONSTRAINT_RE = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RangeSpec(_Strict):
    """A numeric range ``[low, high]``; ``step`` makes it a grid of choices."""

    low: Annotated[float, Field(strict=True, allow_inf_nan=False)]
    high: Annotated[float, Field(strict=True, allow_inf_nan=False)]
    step: Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> RangeSpec:
        if self.high < self.low:
            raise FieldError("high", f"{self.high!r} is below low {self.low!r}")
        if self.step is not None and (self.high - self.low) / self.step + 1 > MAX_CHOICES:
            raise FieldError("step", f"gives more than {MAX_CHOICES} values")
        return self


class WorkloadEntry(_Strict):
    """One workload of the space: a ``workload`` section as in solve configs, optional
    ``schedule`` / ``fusion`` / ``checkpointing`` sections, and a weight."""

    name: str | None = None
    weight: Annotated[float, Field(strict=True, gt=0, le=1e9, allow_inf_nan=False)] = 1.0
    workload: dict[str, Any]
    schedule: dict[str, Any] = Field(default_factory=dict)
    fusion: dict[str, Any] = Field(default_factory=dict)
    checkpointing: dict[str, Any] = Field(default_factory=dict)


class InnerSpec(_Strict):
    """How each design point's inner decisions are taken.

    ``fast``: greedy allocation, default spill policy, greedy fusion; ``exact``: the
    MILPs of ``solve`` with ``time_limit_s`` per point and workload (gap recorded);
    ``fast+exact``: ``fast`` for every point, then ``exact`` for the ``polish`` best
    points of the front."""

    mode: Literal["fast", "exact", "fast+exact"] = "fast"
    time_limit_s: _Seconds = 2.0
    polish: Annotated[int, Field(strict=True, ge=1, le=10_000)] = 16


class Nsga2Spec(_Strict):
    """NSGA-II settings of ``--sampler nsga2`` (MONET's: population 20, crossover 0.9)."""

    population: Annotated[int, Field(strict=True, ge=4, le=10_000)] = 20
    cx_prob: Annotated[float, Field(strict=True, ge=0, le=1, allow_inf_nan=False)] = 0.9
    mut_prob: Annotated[float, Field(strict=True, ge=0, le=1, allow_inf_nan=False)] = 0.1


class SpaceFile(_Strict):
    """The schema of a space file."""

    format: Literal["monet-opt/dse-space@1"] = FORMAT_ID
    name: str = "space"
    description: str | None = None
    template: str
    fixed: dict[str, Any] = Field(default_factory=dict)
    parameters: dict[str, list[Any] | RangeSpec]
    workloads: Annotated[list[WorkloadEntry], Field(min_length=1, max_length=MAX_WORKLOADS)]
    objectives: Annotated[
        list[Literal["latency", "energy", "edp", "area", "peak_dram"]], Field(min_length=1)
    ] = Field(default_factory=lambda: ["latency", "energy", "area"])
    constraints: list[str | dict[str, Any]] = Field(default_factory=list)
    inner: InnerSpec = Field(default_factory=InnerSpec)
    nsga2: Nsga2Spec = Field(default_factory=Nsga2Spec)


@dataclass(frozen=True)
class Dimension:
    """One searched parameter: a list of ``choices`` or a range ``[low, high]``
    (``integer``: whole numbers only)."""

    name: str
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    integer: bool = False

    @property
    def finite(self) -> bool:
        return self.choices is not None

    def as_plain(self) -> list[Any] | dict[str, float]:
        """The summary form: the list of choices or ``{"low", "high"}``."""
        if self.choices is not None:
            return list(self.choices)
        return {"low": float(self.low or 0.0), "high": float(self.high or 0.0)}


@dataclass(frozen=True)
class Constraint:
    """``metric op bound`` (``area_mm2 <= 10``) or ``memory_fits``."""

    text: str
    metric: str
    op: str = "<="
    bound: float = 0.0

    def violation(self, metrics: Mapping[str, Any]) -> float | None:
        """How far ``metrics`` are from meeting it (0 when met, ``None`` if unknown)."""
        if self.metric == "memory_fits":
            fits = metrics.get("memory_fits")
            return None if fits is None else (0.0 if fits else 1.0)
        v = metrics.get(self.metric)
        if v is None:
            return None
        v = float(v)
        ok = {
            "<=": v <= self.bound,
            "<": v < self.bound,
            ">=": v >= self.bound,
            ">": v > self.bound,
        }[self.op]
        return 0.0 if ok else abs(v - self.bound) / max(abs(self.bound), 1e-12)


@dataclass(frozen=True, eq=False)
class DesignSpace:
    """A validated design space.

    Attributes
    ----------
    source
        The space file (``None`` when built from a mapping).
    name
        Space name.
    template
        The accelerator template.
    fixed
        Values of the template parameters held constant.
    dimensions
        The searched parameters, in file order.
    workloads
        ``(name, weight, config)`` per workload: ``config`` a validated solve
        :class:`~monet_opt.config.Config` (its accelerator is the design point's).
    objectives
        Record keys of the objectives (``latency_cycles``...), in order, all minimized.
    constraints
        The constraints.
    inner
        Inner-decision settings.
    nsga2
        NSGA-II settings.
    raw
        The validated document (plain data, for the summary and the run's fingerprint).
    """

    source: Path | None
    name: str
    template: Template
    fixed: Mapping[str, Any]
    dimensions: tuple[Dimension, ...]
    workloads: tuple[tuple[str, float, Config], ...]
    objectives: tuple[str, ...]
    constraints: tuple[Constraint, ...]
    inner: InnerSpec
    nsga2: Nsga2Spec
    raw: Mapping[str, Any]

    @property
    def size(self) -> float:
        """Number of distinct points (``inf`` with a continuous range)."""
        n = 1.0
        for d in self.dimensions:
            if d.choices is None:
                return math.inf
            n *= len(d.choices)
        return n

    def fingerprint(self) -> str:
        """SHA-256 of the space's validated content (what a resumed sweep must match)."""
        text = json.dumps(self.raw, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def summary_space(self) -> dict[str, Any]:
        """``{parameter: choices or {"low", "high"}}``."""
        return {d.name: d.as_plain() for d in self.dimensions}

    def workload_payloads(self) -> list[dict[str, Any]]:
        """Plain data of each workload for the workers: name, weight, config mapping
        (validated again there) and the folder relative paths are resolved against."""
        out = []
        for name, weight, cfg in self.workloads:
            data = cfg.model_dump(mode="json")
            out.append(
                {"name": name, "weight": weight, "config": data, "base_dir": str(cfg.base_dir)}
            )
        return out


def _check_value(file: Path | None, field: str, p: Any, v: Any) -> Any:
    """A template parameter value: a number (int for an int parameter) in range."""
    ok_type = isinstance(v, (int, float)) and not isinstance(v, bool)
    if p.kind == "int":
        ok_type = ok_type and float(v).is_integer()
    if not ok_type or not (p.low <= float(v) <= p.high) or not math.isfinite(float(v)):
        what = "an integer" if p.kind == "int" else "a finite number"
        raise InputError(
            file,
            field,
            f"invalid value {v!r}; allowed: {what} from {p.low:g} to {p.high:g}"
            + (f" {p.unit}" if p.unit else ""),
        )
    return int(v) if p.kind == "int" else float(v)


def _dimension(file: Path | None, tpl: Template, name: str, spec: Any) -> Dimension:
    field = f"parameters.{name}"
    p = tpl.param(name)
    if p is None:
        raise InputError(
            file,
            field,
            f"unknown parameter {name!r} of template {tpl.name!r}; allowed: {', '.join(tpl.names)}",
        )
    if isinstance(spec, list):
        if not spec:
            raise InputError(file, field, "empty list of choices; give at least one value")
        if len(spec) > MAX_CHOICES:
            raise InputError(file, field, f"more than {MAX_CHOICES} choices")
        vals = [_check_value(file, f"{field}[{k}]", p, v) for k, v in enumerate(spec)]
        if len(set(vals)) != len(vals):
            raise InputError(file, field, f"duplicate choices in {spec!r}")
        return Dimension(name, choices=tuple(vals), integer=p.kind == "int")
    lo = _check_value(file, f"{field}.low", p, spec.low)
    hi = _check_value(file, f"{field}.high", p, spec.high)
    if spec.step is not None:
        n = int(math.floor((hi - lo) / spec.step + 1e-9)) + 1
        vals = [lo + k * spec.step for k in range(n)]
        if p.kind == "int":
            if not float(spec.step).is_integer():
                raise InputError(
                    file, f"{field}.step", "an integer parameter needs an integer step"
                )
            vals = [int(round(v)) for v in vals]
        else:
            vals = [round(v, 12) for v in vals]
        return Dimension(name, choices=tuple(vals), integer=p.kind == "int")
    if p.kind == "int":  # an integer range is finite: every whole number in it
        if hi - lo + 1 > MAX_CHOICES:
            raise InputError(file, field, f"more than {MAX_CHOICES} integers; add a step")
        return Dimension(name, choices=tuple(range(int(lo), int(hi) + 1)), integer=True)
    return Dimension(name, low=float(lo), high=float(hi))


def _constraint(file: Path | None, k: int, item: Any) -> Constraint:
    field = f"constraints[{k}]"
    allowed = (
        f"'<metric> <= <number>' with metric one of {', '.join(CONSTRAINT_METRICS)} "
        "(operators <=, <, >=, >), or {memory_fits: true}"
    )
    if isinstance(item, dict):
        if set(item) != {"memory_fits"}:
            raise InputError(file, field, f"invalid constraint {item!r}; allowed: {allowed}")
        v = item["memory_fits"]
        if not isinstance(v, bool):
            raise InputError(file, f"{field}.memory_fits", f"invalid value {v!r}; allowed: true")
        return Constraint("memory_fits: true", "memory_fits") if v else Constraint("", "none")
    m = _CONSTRAINT_RE.match(item)
    if m is None or m.group(1) not in CONSTRAINT_METRICS:
        raise InputError(file, field, f"invalid constraint {item!r}; allowed: {allowed}")
    try:
        bound = float(m.group(3))
    except ValueError:
        raise InputError(file, field, f"invalid number {m.group(3)!r} in {item!r}") from None
    if not math.isfinite(bound):
        raise InputError(file, field, f"invalid number {m.group(3)!r} in {item!r}")
    return Constraint(f"{m.group(1)} {m.group(2)} {bound:g}", m.group(1), m.group(2), bound)


def _workload(file: Path | None, k: int, w: WorkloadEntry, base: Path) -> tuple[str, Config]:
    data: dict[str, Any] = {"workload": w.workload, "accelerator": "<design point>"}
    for key in ("schedule", "fusion", "checkpointing"):
        if getattr(w, key):
            data[key] = getattr(w, key)
    data.setdefault("solver", {})["threads"] = 1  # one HiGHS thread per worker
    try:
        cfg = config_from_dict(data, base_dir=base, check_files=False)
    except InputError as exc:
        raise InputError(
            file, f"workloads[{k}].{exc.field}" if exc.field else f"workloads[{k}]", exc.message
        ) from None
    if cfg.onnx_path is not None and not cfg.onnx_path.is_file():
        raise InputError(file, f"workloads[{k}].workload.onnx", f"file not found: {cfg.onnx_path}")
    name = w.name or cfg.name
    return name, cfg


def space_from_dict(
    data: Any, *, source: str | Path | None = None, base_dir: str | Path | None = None
) -> DesignSpace:
    """Validate a space mapping.

    Parameters
    ----------
    data
        The parsed YAML document.
    source
        The file it came from (for messages; relative paths are resolved against its
        folder unless ``base_dir`` is given).
    base_dir
        Folder relative workload paths are resolved against (default: the source's
        folder, else the working directory).

    Raises
    ------
    InputError
        Naming the file, the field and the allowed values or keys.
    """
    file = None if source is None else Path(source)
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        raise InputError(file, None, f"expected a mapping at the top level, got {got}")
    try:
        spec = SpaceFile.model_validate(data)
    except ValidationError as exc:
        raise from_validation_error(exc, file=file, root=SpaceFile) from None
    tpl = TEMPLATES.get(spec.template)
    if tpl is None:
        raise InputError(
            file,
            "template",
            f"unknown template {spec.template!r}; allowed values: {', '.join(TEMPLATES)}",
        )
    fixed: dict[str, Any] = {}
    for name, v in spec.fixed.items():
        p = tpl.param(name)
        if p is None:
            raise InputError(
                file,
                f"fixed.{name}",
                f"unknown parameter {name!r} of template {tpl.name!r}; allowed: "
                f"{', '.join(tpl.names)}",
            )
        fixed[name] = _check_value(file, f"fixed.{name}", p, v)
    if not spec.parameters:
        raise InputError(file, "parameters", "no parameter to search; give at least one")
    dims = []
    for name, sp in spec.parameters.items():
        if name in fixed:
            raise InputError(file, f"parameters.{name}", "also in 'fixed'; keep one of the two")
        dims.append(_dimension(file, tpl, name, sp))
    base = Path(base_dir) if base_dir is not None else (file.parent if file else Path.cwd())
    workloads = []
    names: set[str] = set()
    for k, w in enumerate(spec.workloads):
        name, cfg = _workload(file, k, w, base.resolve())
        if name in names:
            raise InputError(file, f"workloads[{k}].name", f"duplicate workload name {name!r}")
        names.add(name)
        workloads.append((name, w.weight, cfg))
    if len(set(spec.objectives)) != len(spec.objectives):
        raise InputError(file, "objectives", f"duplicate objectives in {spec.objectives!r}")
    constraints = tuple(
        c for k, item in enumerate(spec.constraints) if (c := _constraint(file, k, item)).text
    )
    return DesignSpace(
        source=file,
        name=spec.name,
        template=tpl,
        fixed=fixed,
        dimensions=tuple(dims),
        workloads=tuple(workloads),
        objectives=tuple(OBJECTIVE_KEYS[o] for o in spec.objectives),
        constraints=constraints,
        inner=spec.inner,
        nsga2=spec.nsga2,
        raw=spec.model_dump(mode="json"),
    )


def load_space(path: str | Path) -> DesignSpace:
    """Read and validate a space file (YAML 1.2 via :func:`monet_opt.safe_yaml.load_yaml`).

    Raises
    ------
    InputError
        If the file is missing, not YAML, or does not match the schema.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(p, None, "space file not found")
    if p.is_dir():
        raise InputError(p, None, "is a directory, expected a YAML space file")
    return space_from_dict(load_yaml(p, source=p), source=p)
