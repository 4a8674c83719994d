"""Run configuration: the YAML schema of ``monet-opt solve CONFIG.yaml``.

Example (paths are relative to the config file)::

    workload:
      model: resnet18-cifar        # a built-in model name, or
      # onnx: path/to/model.onnx   # an ONNX forward graph
      options: {batch: 4}          # model / importer options
      optimizer: adamw             # adamw | sgd
      precision: {activation: 16, weight: 16, gradient: 16, optimizer_state: 32}
      sparsity:                    # optional sparse layers (docs/sparsity.md)
        default: {kind: constant_fan_in, density: 0.1, ablated: 0.0, index_bits: 32}
        layers: {fc2: dense, "fc*": {kind: n_m, n: 2, m: 4, index_bits: hw}}
        delta: 800                 # SRigL: dense dW on grad_accumulation_n / delta
        grad_accumulation_n: 8     #        of the steps (amortized)
    accelerator: hardware/tpu_like_quad_core.yaml   # ours or Stream's format
    objective: latency             # latency | energy | edp
    schedule: {prefetch_depth: 2, order: heft, tiles: 8}   # order: heft | layerwise
    solver: {time_limit_s: 60, mip_gap: 1.0e-4, threads: null, order: fixed}   # fixed | optimal
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

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from monet_opt.errors import FieldError, InputError, from_validation_error
from monet_opt.safe_yaml import load_yaml
from monet_opt.units import MIB_BITS

__all__ = [
    "ConfigError",
    "Config",
    "WorkloadConfig",
    "PrecisionConfig",
    "SparsityConfig",
    "LayerSparsityConfig",
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
    "LIMITS",
]


#: Upper bounds of resource settings, checked when a config is validated: a value above
#: them would exhaust the machine (processes, threads), never finish (points, generations)
#: or exceed what the models are built for (tiles, prefetch depth, stack length).
LIMITS: dict[str, int] = {
    "processes": 256,
    "threads": 256,
    "population": 100_000,
    "generations": 1_000_000,
    "evaluations": 10**9,
    "pareto_points": 1_000,
    "tiles": 4_096,
    "prefetch_depth": 1_024,
    "max_stack": 1_024,
}
#: Longest time limit accepted, seconds (one week).
MAX_SECONDS = 7 * 24 * 3600.0


def _int(lo: int, hi: int) -> Any:
    """A strict integer (booleans and floats are rejected) in [lo, hi]."""
    return Annotated[int, Field(strict=True, ge=lo, le=hi)]


def _float(lo: float, hi: float) -> Any:
    """A finite number (booleans are rejected) in [lo, hi]."""
    return Annotated[float, Field(strict=True, ge=lo, le=hi, allow_inf_nan=False)]


Bits = _int(1, 64)
Fraction = _float(0.0, 1.0)
PrefetchDepth = _int(0, LIMITS["prefetch_depth"])
Tiles = _int(1, LIMITS["tiles"])
Threads = _int(1, LIMITS["threads"])
Population = _int(2, LIMITS["population"])
Generations = _int(0, LIMITS["generations"])
Seed = _int(0, 2**32 - 1)
Processes = _int(1, LIMITS["processes"])
Evaluations = _int(1, LIMITS["evaluations"])
MaxStack = _int(2, LIMITS["max_stack"])
ParetoPoints = _int(2, LIMITS["pareto_points"])
BudgetMiB = Annotated[float, Field(strict=True, gt=0, le=2**40, allow_inf_nan=False)]
BudgetFraction = Annotated[float, Field(strict=True, gt=0, le=1, allow_inf_nan=False)]
#: A time limit in seconds: finite, > 0, at most :data:`MAX_SECONDS`.
Seconds = Annotated[float, Field(strict=True, gt=0, le=MAX_SECONDS, allow_inf_nan=False)]

#: Every config error is an :class:`~monet_opt.errors.InputError`.
ConfigError = InputError
_FieldError = FieldError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PrecisionConfig(_Strict):
    """Bits per element of each tensor class."""

    activation: Bits = 16
    weight: Bits = 16
    gradient: Bits = 16
    optimizer_state: Bits = 32


Density = Annotated[float, Field(strict=True, gt=0, le=1, allow_inf_nan=False)]
Ablated = Annotated[float, Field(strict=True, ge=0, lt=1, allow_inf_nan=False)]
#: Accepted ``kind`` values of a layer's sparsity.
SPARSITY_KINDS = ("constant_fan_in", "n_m", "unstructured")


class LayerSparsityConfig(_Strict):
    """One layer's sparsity.

    * ``constant_fan_in`` (SRigL): ``density`` (kept fraction of the layer's weights),
      ``ablated`` (fraction of output neurons removed; the others keep the same fan-in),
      ``index_bits`` 32 (default), 16 or 8;
    * ``n_m``: ``n`` kept of every ``m`` consecutive weights along the fan-in (1 <= n < m);
      ``index_bits: hw`` (default) is the hardware metadata, ``ceil(log2 m)`` bits per kept
      value (2 for 2:4), or 32 / 16 / 8;
    * ``unstructured``: ``density``, stored as CSR (values, a column index per value of
      ``index_bits`` 32 (default) or 16, 32-bit row pointers).
    """

    kind: Literal["constant_fan_in", "n_m", "unstructured"]
    density: Density | None = None
    ablated: Ablated = 0.0
    n: _int(1, 64) | None = None  # type: ignore[valid-type]
    m: _int(2, 64) | None = None  # type: ignore[valid-type]
    index_bits: Literal[32, 16, 8, "hw"] | None = None

    @model_validator(mode="after")
    def _per_kind(self) -> LayerSparsityConfig:
        k = self.kind
        if k == "n_m":
            for f in ("n", "m"):
                if getattr(self, f) is None:
                    raise _FieldError(f, "required with kind 'n_m' (n kept of every m)")
            assert self.n is not None and self.m is not None
            if self.n >= self.m:
                raise _FieldError(
                    "n", f"{self.n} not allowed with m = {self.m}; allowed: 1 <= n < m"
                )
            if self.density is not None:
                raise _FieldError("density", "not allowed with kind 'n_m' (it is n / m)")
        else:
            if self.density is None:
                raise _FieldError("density", f"required with kind {k!r}: kept fraction (0, 1]")
            for f in ("n", "m"):
                if getattr(self, f) is not None:
                    raise _FieldError(f, f"only allowed with kind 'n_m' (kind is {k!r})")
            if self.index_bits == "hw":
                raise _FieldError(
                    "index_bits",
                    f"'hw' (N:M metadata) only allowed with kind 'n_m'; allowed with {k!r}: "
                    + ("32, 16" if k == "unstructured" else "32, 16, 8"),
                )
            if k == "unstructured" and self.index_bits == 8:
                raise _FieldError(
                    "index_bits", "8 not allowed with 'unstructured'; allowed: 32, 16"
                )
        if self.ablated and k != "constant_fan_in":
            raise _FieldError(
                "ablated", f"only allowed with kind 'constant_fan_in' (kind is {k!r})"
            )
        return self

    @property
    def index_width(self) -> int | None:
        """Index bits per stored value; ``None`` for the N:M hardware metadata."""
        if self.index_bits is None:
            return None if self.kind == "n_m" else 32
        return None if self.index_bits == "hw" else int(self.index_bits)


class SparsityConfig(_Strict):
    """Sparse layers (``docs/sparsity.md``).

    ``default`` applies to every Gemm / MatMul-with-weight / Conv layer; ``layers`` maps
    node names or globs (``fnmatch``: ``"fc*"``, ``"layer?.conv1"``) to a spec or to
    ``dense`` (held as ``None``); an exact name wins, then the first matching glob in file
    order.  A pattern that matches no layer, or only layers that cannot be sparse, is an
    error.
    ``delta`` (steps between SRigL's mask updates) and ``grad_accumulation_n`` (steps
    whose dense gradient it accumulates) give the share of steps that compute the dense
    weight gradient, ``grad_accumulation_n / delta``, amortized into every step.
    """

    default: LayerSparsityConfig | None = None
    layers: dict[str, LayerSparsityConfig | None] = Field(default_factory=dict)
    delta: _int(1, 10**9) = 800  # type: ignore[valid-type]
    grad_accumulation_n: _int(0, 10**9) = 8  # type: ignore[valid-type]

    @field_validator("layers", mode="before")
    @classmethod
    def _dense_or_spec(cls, v: Any) -> Any:
        if isinstance(v, dict):
            for k, x in v.items():
                if not isinstance(x, dict) and x != "dense":
                    raise _FieldError(
                        (str(k),),
                        f"invalid value {x!r}; allowed: dense, or a mapping with kind "
                        f"{', '.join(SPARSITY_KINDS)}",
                    )
            return {k: None if x == "dense" else x for k, x in v.items()}
        return v

    @model_validator(mode="after")
    def _fraction(self) -> SparsityConfig:
        if self.grad_accumulation_n > self.delta:
            raise _FieldError(
                "grad_accumulation_n",
                f"{self.grad_accumulation_n} not allowed with delta = {self.delta}; allowed: "
                "0 <= grad_accumulation_n <= delta",
            )
        if self.default is None and not any(v is not None for v in self.layers.values()):
            raise _FieldError(
                (),
                "no sparse layer: give sparsity.default or a spec in sparsity.layers "
                "(or remove workload.sparsity)",
            )
        return self

    @property
    def dense_grad_fraction(self) -> float:
        """Share of steps computing the dense weight gradient."""
        return self.grad_accumulation_n / self.delta


class WorkloadConfig(_Strict):
    """The network: a built-in model or an ONNX file, plus the optimizer.

    ``mode: training`` (default) derives one training step (forward, loss, backward,
    optimizer); ``mode: inference`` schedules the forward pass alone (Stream's cases).
    ``graph`` says what an ONNX file holds: ``auto`` (default) recognises a training
    graph (onnxruntime-training's ``*Grad`` ops, gradient-accumulation buffers, optimizer
    moments) and imports it as it is, with no second backward; ``forward`` or
    ``training`` overrides the recognition (see :mod:`monet_opt.models.onnx_training`).
    """

    model: str | None = None
    onnx: str | None = None
    torch: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    graph: Literal["auto", "forward", "training"] = "auto"
    mode: Literal["training", "inference"] = "training"
    optimizer: Literal["adamw", "sgd"] = "adamw"
    precision: PrecisionConfig = Field(default_factory=PrecisionConfig)
    sparsity: SparsityConfig | None = None

    @model_validator(mode="after")
    def _one_source(self) -> WorkloadConfig:
        if sum(x is not None for x in (self.model, self.onnx, self.torch)) != 1:
            raise ValueError(
                "give exactly one of 'model' (a built-in name), 'onnx' (a file) or 'torch' "
                "(a PyTorch factory 'package.module:factory', needs monet-opt[torch])"
            )
        if self.graph != "auto" and self.onnx is None:
            raise ValueError("'graph' applies only to an ONNX workload ('onnx: <file>')")
        if self.sparsity is not None and self.graph == "training":
            raise _FieldError(
                "sparsity",
                "not supported with graph 'training' (an imported training graph); "
                "allowed with graph: auto (forward files), forward",
            )
        return self


class ScheduleConfig(_Strict):
    """Evaluator settings.

    ``memory``: ``capacity`` (the default) gives every memory its capacity (placement,
    spills, in-node streaming, fused stacks at tile granularity:
    :mod:`monet_opt.schedule.memory`); ``unbounded`` is the model without capacities,
    for comparison with earlier results (memory answers are then not physical).

    ``resident_state``: ``none`` (the default) reads every weight and its optimizer state
    from DRAM and writes them back each step; ``optimal`` keeps the training state of the
    weights that fit on the core running their nodes across steps (steady state), chosen
    after the joint solve by :mod:`monet_opt.formulations.resident_state`.
    """

    prefetch_depth: PrefetchDepth = 2
    layer_io: Literal["onchip", "dram"] = "onchip"
    fold_activations: bool = True
    order: Literal["heft", "layerwise"] = "heft"
    tiles: Tiles = 8
    memory: Literal["capacity", "unbounded"] = "capacity"
    resident_state: Literal["none", "optimal"] = "none"

    @model_validator(mode="after")
    def _resident_needs_capacity(self) -> ScheduleConfig:
        if self.resident_state != "none" and self.memory != "capacity":
            raise _FieldError(
                "resident_state",
                "resident_state 'optimal' keeps training state in on-chip memory for the "
                "whole step, which only the capacity model accounts for (memory is "
                f"{self.memory!r}); set memory: capacity or resident_state: none",
            )
        return self


class SolverConfig(_Strict):
    """HiGHS MILP settings.

    ``order``: ``fixed`` (the default, fast) solves the core allocation for the program
    order π of ``schedule.order``, exact for that π only; ``optimal`` decides the
    allocation and π together (:mod:`monet_opt.formulations.allocation_order`: the space
    the MAGMA genome searches, with a bound valid over every π; objective ``latency``,
    without fusion or checkpointing; under memory capacities the placement is the
    default policy's or the fixed-π MILP's, not searched as the joint solver does).
    """

    time_limit_s: Seconds = 60.0
    mip_gap: Fraction = 1e-4
    threads: Threads | None = None
    order: Literal["fixed", "optimal"] = "fixed"


class GAConfig(_Strict):
    """Genetic-algorithm baseline settings (see :func:`monet_opt.ga.run_ga`)."""

    population: Population = 32
    generations: Generations = 30
    cx_prob: Fraction = 0.7
    mut_prob: Fraction = 0.3
    seed: Seed = 0
    processes: Processes = 1
    max_evals: Evaluations | None = None
    time_limit_s: Seconds | None = None
    crossover: Literal["uniform", "two_point"] = "uniform"


class FusionConfig(_Strict):
    """Layer fusion (layer stacks, :mod:`monet_opt.schedule.realize`).

    ``none``: layer by layer; ``greedy``: the greedy stacking heuristic; ``fixed``: the
    ``stacks`` given here (lists of node names); ``optimal``: exact (joint solver).
    """

    mode: Literal["none", "greedy", "fixed", "optimal"] = "none"
    stacks: list[list[str]] | None = None
    max_stack: MaxStack = 8

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

    ``levels`` (with ``optimal``): ``single`` is MONET's bit vector (a dropped
    activation is recomputed once, from kept tensors; the footprint counts the
    checkpoint activations); ``multi`` also considers multi-level recomputation
    (recomputed values feed further recomputations, Revolve / Checkmate) and states the
    budget in Checkmate's accounting, where every resident activation, activation
    gradient and loss value counts (``budget_fraction`` is of the store-all peak in it).
    """

    mode: Literal["store-all", "optimal"] = "store-all"
    budget_mib: BudgetMiB | None = None
    budget_fraction: BudgetFraction | None = None
    levels: Literal["single", "multi"] = "single"

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
        if self.mode == "store-all" and self.levels != "single":
            raise _FieldError(
                "levels",
                "levels 'multi' only applies to checkpointing.mode 'optimal' (mode is "
                "'store-all'); allowed with store-all: single",
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

    points: ParetoPoints = 12
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
        if self.solver.order == "optimal" and (self.uses_joint or self.objective != "latency"):
            why = (
                "fusion or checkpointing (the joint solver searches π only by local swaps)"
                if self.uses_joint
                else f"objective {self.objective!r}"
            )
            raise _FieldError(
                ("solver", "order"),
                f"'optimal' (program order searched) is not supported with {why}; it needs "
                "objective latency, fusion.mode none and checkpointing.mode store-all; "
                "allowed values here: fixed",
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
        wl = self.workload
        if wl.torch is not None:
            return wl.torch.rsplit(":", 1)[-1].rsplit(".", 1)[-1]
        return wl.model or Path(wl.onnx or "run").stem

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

    The file is parsed by :func:`monet_opt.safe_yaml.load_yaml` (YAML 1.2 core schema:
    ``yes``/``no`` are strings, duplicate keys are errors, alias bombs and deep nesting
    are refused quickly).

    Raises
    ------
    ConfigError
        If the file is missing, is not valid YAML, or does not match the schema (the
        message names the file, the field path and the allowed values/keys), or if a
        file it names does not exist (``check_files``).
    """
    p = Path(path)
    if not p.exists():
        raise ConfigError(p, None, "config file not found")
    if p.is_dir():
        raise ConfigError(p, None, "is a directory, expected a YAML config file")
    data = load_yaml(p, source=p)
    return config_from_dict(data, source=p, check_files=check_files)
