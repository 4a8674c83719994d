"""Run configuration: the YAML schema of ``monet-opt solve CONFIG.yaml``.

Example (paths are relative to the config file)::

    workload:
      model: resnet18-cifar        # a built-in model name, or
      # onnx: path/to/model.onnx   # an ONNX forward graph
      options: {batch: 4}          # model / importer options
      optimizer: adamw             # adamw | sgd
      precision: {activation: 16, weight: 16, gradient: 16, optimizer_state: 32}
    accelerator: hardware/tpu_like_quad_core.yaml   # ours or Stream's format
    objective: latency             # latency | energy | edp
    schedule: {prefetch_depth: 2, order: heft, tiles: 8}   # order: heft | layerwise
    solver: {time_limit_s: 60, mip_gap: 1.0e-4, threads: null}
    ga: {population: 32, generations: 30, cx_prob: 0.7, mut_prob: 0.3, seed: 0, processes: 1}
    fusion: {mode: none, max_stack: 8}      # none | greedy | fixed | optimal
    # fusion: {mode: fixed, stacks: [[conv1, layer1.0.conv1], ...]}   # node names
    checkpointing: {mode: optimal, budget_fraction: 0.5}   # store-all | optimal
    # checkpointing: {mode: optimal, budget_mib: 2.0}      # one of budget_mib / _fraction
    pareto: {points: 12, objective: both}   # monet-opt pareto: latency | energy | both

With ``fusion.mode`` other than ``none`` or ``checkpointing.mode: optimal`` the objective
must be ``latency`` or ``energy`` (``edp`` is not supported by the joint solver).

Every error is a :class:`ConfigError` whose message names the file, the field path
(``workload.optimizer``) and, where it applies, the allowed values or keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from monet_opt.errors import FieldError, InputError, from_validation_error
from monet_opt.units import MIB_BITS

__all__ = [
    "ConfigError",
    "Config",
    "WorkloadConfig",
    "PrecisionConfig",
    "ScheduleConfig",
    "SolverConfig",
    "GAConfig",
    "FusionConfig",
    "CheckpointingConfig",
    "ParetoConfig",
    "MIB_BITS",
    "JOINT_OBJECTIVES",
    "load_config",
    "config_from_dict",
    "build_inputs",
    "build_problem_for",
]


#: Every config error is an :class:`~monet_opt.errors.InputError`.
ConfigError = InputError
_FieldError = FieldError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PrecisionConfig(_Strict):
    """Bits per element of each tensor class."""

    activation: Annotated[int, Field(ge=1, le=64)] = 16
    weight: Annotated[int, Field(ge=1, le=64)] = 16
    gradient: Annotated[int, Field(ge=1, le=64)] = 16
    optimizer_state: Annotated[int, Field(ge=1, le=64)] = 32


class WorkloadConfig(_Strict):
    """The network to train: a built-in model or an ONNX file, plus the optimizer."""

    model: str | None = None
    onnx: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    optimizer: Literal["adamw", "sgd"] = "adamw"
    precision: PrecisionConfig = Field(default_factory=PrecisionConfig)

    @model_validator(mode="after")
    def _one_source(self) -> WorkloadConfig:
        if (self.model is None) == (self.onnx is None):
            raise ValueError("give exactly one of 'model' (a built-in name) or 'onnx' (a file)")
        return self


class ScheduleConfig(_Strict):
    """Evaluator settings."""

    prefetch_depth: Annotated[int, Field(ge=0)] = 2
    layer_io: Literal["onchip", "dram"] = "onchip"
    fold_activations: bool = True
    order: Literal["heft", "layerwise"] = "heft"
    tiles: Annotated[int, Field(ge=1)] = 8


class SolverConfig(_Strict):
    """HiGHS MILP settings."""

    time_limit_s: Annotated[float, Field(gt=0)] = 60.0
    mip_gap: Annotated[float, Field(ge=0)] = 1e-4
    threads: Annotated[int, Field(ge=1)] | None = None


class GAConfig(_Strict):
    """Genetic-algorithm baseline settings (see :func:`monet_opt.ga.run_ga`)."""

    population: Annotated[int, Field(ge=2)] = 32
    generations: Annotated[int, Field(ge=0)] = 30
    cx_prob: Annotated[float, Field(ge=0, le=1)] = 0.7
    mut_prob: Annotated[float, Field(ge=0, le=1)] = 0.3
    seed: int = 0
    processes: Annotated[int, Field(ge=1)] = 1
    max_evals: Annotated[int, Field(ge=1)] | None = None
    time_limit_s: Annotated[float, Field(gt=0)] | None = None
    crossover: Literal["uniform", "two_point"] = "uniform"


class FusionConfig(_Strict):
    """Layer fusion (layer stacks, :mod:`monet_opt.schedule.realize`).

    ``none``: layer by layer; ``greedy``: the greedy stacking heuristic; ``fixed``: the
    ``stacks`` given here (lists of node names); ``optimal``: exact (joint solver).
    """

    mode: Literal["none", "greedy", "fixed", "optimal"] = "none"
    stacks: list[list[str]] | None = None
    max_stack: Annotated[int, Field(ge=2)] = 8

    @model_validator(mode="after")
    def _stacks_iff_fixed(self) -> FusionConfig:
        if self.mode == "fixed":
            if not self.stacks:
                raise _FieldError(
                    "stacks",
                    "required when fusion.mode is 'fixed': a list of stacks, each a list of "
                    ">= 2 node names",
                )
            seen: set[str] = set()
            for k, st in enumerate(self.stacks):
                if len(st) < 2:
                    raise _FieldError(
                        ("stacks", k), f"a stack needs at least 2 node names, got {st!r}"
                    )
                for name in st:
                    if name in seen:
                        raise _FieldError(
                            ("stacks", k), f"node {name!r} appears in more than one stack"
                        )
                    seen.add(name)
        elif self.stacks is not None:
            raise _FieldError(
                "stacks",
                f"only allowed when fusion.mode is 'fixed' (mode is {self.mode!r}); "
                "set mode: fixed or remove fusion.stacks",
            )
        return self


class CheckpointingConfig(_Strict):
    """Activation checkpointing (which forward activations are kept for the backward).

    ``store-all``: keep every activation; ``optimal``: the exact keep set under a
    footprint budget, given as ``budget_mib`` (MiB) or ``budget_fraction`` (of the
    store-all activation footprint) — exactly one of them.
    """

    mode: Literal["store-all", "optimal"] = "store-all"
    budget_mib: Annotated[float, Field(gt=0)] | None = None
    budget_fraction: Annotated[float, Field(gt=0, le=1)] | None = None

    @model_validator(mode="after")
    def _one_budget(self) -> CheckpointingConfig:
        given = [k for k in ("budget_mib", "budget_fraction") if getattr(self, k) is not None]
        if self.mode == "optimal" and len(given) != 1:
            what = "neither is given" if not given else "both are given"
            raise _FieldError(
                (),
                "mode 'optimal' needs exactly one of checkpointing.budget_mib (MiB) or "
                f"checkpointing.budget_fraction (0 < f <= 1 of the store-all footprint); "
                f"{what}",
            )
        if self.mode == "store-all" and given:
            raise _FieldError(
                given[0],
                "a budget only applies to checkpointing.mode 'optimal' (mode is "
                "'store-all'); set mode: optimal or remove the budget",
            )
        return self

    def budget_bits(self, store_all_footprint_bits: float) -> float | None:
        """The footprint budget in bits (``None`` for store-all)."""
        if self.budget_mib is not None:
            return float(self.budget_mib) * MIB_BITS
        if self.budget_fraction is not None:
            return float(self.budget_fraction) * float(store_all_footprint_bits)
        return None


class ParetoConfig(_Strict):
    """``monet-opt pareto``: footprint-budget sweep of the exact checkpointing MILP."""

    points: Annotated[int, Field(ge=2)] = 12
    objective: Literal["latency", "energy", "both"] = "both"


#: Objectives the joint fusion / checkpointing solver supports.
JOINT_OBJECTIVES = ("latency", "energy")


class Config(_Strict):
    """A complete run configuration.

    Relative paths (``accelerator``, ``workload.onnx``) are resolved against
    :attr:`base_dir` (the config file's directory; the working directory for configs
    built from a dict without ``base_dir``).
    """

    workload: WorkloadConfig
    accelerator: str
    objective: Literal["latency", "energy", "edp"] = "latency"
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    solver: SolverConfig = Field(default_factory=SolverConfig)
    ga: GAConfig = Field(default_factory=GAConfig)
    fusion: FusionConfig = Field(default_factory=FusionConfig)
    checkpointing: CheckpointingConfig = Field(default_factory=CheckpointingConfig)
    pareto: ParetoConfig = Field(default_factory=ParetoConfig)

    _source: Path | None = PrivateAttr(default=None)
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @model_validator(mode="after")
    def _joint_objective(self) -> Config:
        if self.uses_joint and self.objective not in JOINT_OBJECTIVES:
            raise _FieldError(
                "objective",
                f"{self.objective!r} is not supported with fusion or checkpointing; "
                f"allowed values: {', '.join(JOINT_OBJECTIVES)}",
            )
        return self

    @property
    def uses_joint(self) -> bool:
        """Whether fusion or checkpointing is decided (the joint solver is needed)."""
        return self.fusion.mode != "none" or self.checkpointing.mode != "store-all"

    @property
    def source(self) -> Path | None:
        """The config file (``None`` if built from a dict)."""
        return self._source

    @property
    def base_dir(self) -> Path:
        """Directory relative paths are resolved against."""
        return self._base_dir

    @property
    def accelerator_path(self) -> Path:
        """Resolved accelerator file."""
        return _resolve(self._base_dir, self.accelerator)

    @property
    def onnx_path(self) -> Path | None:
        """Resolved ONNX file, or ``None`` for a built-in model."""
        return None if self.workload.onnx is None else _resolve(self._base_dir, self.workload.onnx)

    @property
    def name(self) -> str:
        """Run name: the config file stem (or the model name)."""
        if self._source is not None:
            return self._source.stem
        return self.workload.model or Path(self.workload.onnx or "run").stem

    def resolved_paths(self) -> dict[str, str | None]:
        """Absolute paths of the config and the files it names."""
        onnx = self.onnx_path
        return {
            "config": None if self._source is None else str(self._source.resolve()),
            "accelerator": str(self.accelerator_path),
            "onnx": None if onnx is None else str(onnx),
        }


def _resolve(base: Path, p: str) -> Path:
    path = Path(p).expanduser()
    return (path if path.is_absolute() else base / path).resolve()


# -- loading ------------------------------------------------------------------------------
def config_from_dict(
    data: Any,
    *,
    base_dir: str | Path | None = None,
    source: str | Path | None = None,
    check_files: bool = True,
) -> Config:
    """Validate a config mapping.

    Parameters
    ----------
    data
        The parsed YAML mapping.
    base_dir
        Directory relative paths are resolved against (default: ``source``'s directory,
        else the working directory).
    source
        The file it came from (for error messages).
    check_files
        Raise if the accelerator or ONNX file does not exist.

    Raises
    ------
    ConfigError
        Naming the file, the field and the allowed values/keys.
    """
    file = None if source is None else Path(source)
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        raise ConfigError(file, None, f"expected a mapping of settings at the top level, got {got}")
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        raise from_validation_error(exc, file=file, root=Config) from None
    if file is not None:
        cfg._source = file
    if base_dir is not None:
        cfg._base_dir = Path(base_dir).resolve()
    elif file is not None:
        cfg._base_dir = file.resolve().parent
    if check_files:
        _check_files(cfg)
    return cfg


def _check_files(cfg: Config) -> None:
    file = cfg.source
    checks = [("accelerator", cfg.accelerator_path)]
    if cfg.onnx_path is not None:
        checks.append(("workload.onnx", cfg.onnx_path))
    for field, path in checks:
        if not path.exists():
            raise ConfigError(file, field, f"file not found: {path}")
        if not path.is_file():
            raise ConfigError(file, field, f"not a file: {path}")


def load_config(path: str | Path, *, check_files: bool = True) -> Config:
    """Read and validate a YAML config file.

    Raises
    ------
    ConfigError
        If the file is missing, is not valid YAML, or does not match the schema (the
        message names the file, the field path and the allowed values/keys), or if a
        file it names does not exist (``check_files``).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(p, None, "config file not found") from None
    except IsADirectoryError:
        raise ConfigError(p, None, "is a directory, expected a YAML config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(p, None, f"cannot read: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(p, None, f"invalid YAML: {where}{problem}") from None
    return config_from_dict(data, source=p, check_files=check_files)


# -- building the inputs ------------------------------------------------------------------
def _builtin_model_names() -> list[str] | None:
    try:
        from monet_opt.models.zoo import BUILTIN_MODELS
    except ImportError:  # pragma: no cover - depends on the models package
        return None
    return sorted(BUILTIN_MODELS)


def build_forward(cfg: Config):
    """The forward graph of the workload (built-in model or ONNX import).

    Raises
    ------
    ConfigError
        For an unknown model, bad options or an ONNX file that cannot be imported.
    """
    from monet_opt import models

    wl = cfg.workload
    file = cfg.source
    if wl.model is not None:
        names = _builtin_model_names()
        if names is not None and wl.model not in names:
            raise ConfigError(
                file,
                "workload.model",
                f"unknown model {wl.model!r}; allowed values: {', '.join(names)}",
            )
        try:
            return models.build_model(wl.model, **wl.options)
        except (ValueError, TypeError) as exc:
            raise ConfigError(file, "workload.options", _strip(str(exc))) from None
    onnx_path = cfg.onnx_path
    assert onnx_path is not None
    if not onnx_path.exists():
        raise ConfigError(file, "workload.onnx", f"file not found: {onnx_path}")
    try:
        return models.load_onnx(onnx_path, **wl.options)
    except TypeError as exc:
        raise ConfigError(file, "workload.options", _strip(str(exc))) from None
    except (ValueError, OSError) as exc:
        raise ConfigError(onnx_path, None, _strip(str(exc), onnx_path)) from None


def build_training_graph(cfg: Config, forward=None):
    """The training graph (forward + loss + backward + optimizer) of the workload."""
    from monet_opt import models

    if forward is None:
        forward = build_forward(cfg)
    wl = cfg.workload
    try:
        precision = models.Precision(**wl.precision.model_dump())
    except (ValueError, TypeError) as exc:
        raise ConfigError(cfg.source, "workload.precision", _strip(str(exc))) from None
    try:
        return models.derive_training_graph(forward, optimizer=wl.optimizer, precision=precision)
    except (ValueError, TypeError) as exc:
        raise ConfigError(cfg.source, "workload", _strip(str(exc))) from None


def load_accelerator_for(cfg: Config):
    """The accelerator named by the config.

    Raises
    ------
    ConfigError
        If the file is missing (field ``accelerator``) or malformed (the message of the
        hardware loader, which names the file and its field).
    """
    from monet_opt.hardware import load_accelerator

    path = cfg.accelerator_path
    if not path.exists():
        raise ConfigError(cfg.source, "accelerator", f"file not found: {path}")
    try:
        return load_accelerator(path)
    except (ValueError, OSError) as exc:
        raise ConfigError(path, None, _strip(str(exc), path)) from None


def build_inputs(cfg: Config):
    """``(training graph, accelerator)`` of a config.

    Raises
    ------
    ConfigError
        Wrapping any error of the model builder, the ONNX importer or the hardware
        loader, with the file and field at fault.
    """
    graph = build_training_graph(cfg)
    accelerator = load_accelerator_for(cfg)
    return graph, accelerator


def build_problem_for(cfg: Config, graph, accelerator):
    """The scheduling :class:`~monet_opt.schedule.problem.Problem` of a config
    (``schedule.*``: prefetch depth, layer I/O, activation folding, program order, tiles).

    Raises
    ------
    ConfigError
        If the problem cannot be built (e.g. a node no core of the accelerator can run):
        field ``accelerator`` unless the message names a ``schedule`` setting.
    """
    from monet_opt.schedule.problem import build_problem

    s = cfg.schedule
    try:
        return build_problem(
            graph,
            accelerator,
            prefetch_depth=s.prefetch_depth,
            layer_io=s.layer_io,
            fold_activations=s.fold_activations,
            tiles=s.tiles,
            order=s.order,
        )
    except ValueError as exc:
        msg = _strip(str(exc))
        field = next(
            (f"schedule.{k}" for k in ("prefetch_depth", "layer_io", "tiles", "order") if k in msg),
            "accelerator",
        )
        raise ConfigError(cfg.source, field, msg) from None


def _strip(msg: str, path: Path | None = None) -> str:
    """First line of a wrapped error, without the ``<path>:`` it may already start with
    (the ConfigError adds the file); further lines are counted, not shown."""
    lines = [ln.strip() for ln in msg.splitlines() if ln.strip()] or ["invalid input"]
    first = lines[0]
    if path is not None:
        for prefix in (str(path), path.name):
            if first.startswith(prefix + ":"):
                first = first[len(prefix) + 1 :].lstrip(" :")
                break
    if len(lines) > 1:
        first += f" (and {len(lines) - 1} more)"
    return first
