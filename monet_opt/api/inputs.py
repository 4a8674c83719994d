"""Building a run's inputs from its config, with every check ``solve`` would make.

:func:`load` reads a config (a file, a mapping or a :class:`~monet_opt.config.Config`),
builds the training graph, reads the accelerator and builds the scheduling problem.
:func:`footprint_budget` and :func:`fixed_stacks` check the decision settings against
the problem.  Every failure is an :class:`~monet_opt.errors.InputError` naming the
file and field at fault (``config.yaml: workload.options: ...``), so ``validate`` finds
what ``solve`` would reject.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from monet_opt.config import Config, LayerSparsityConfig, config_from_dict, load_config
from monet_opt.errors import InputError
from monet_opt.hardware import Accelerator, load_accelerator
from monet_opt.models import Graph, Precision, build_model, derive_training_graph, load_onnx
from monet_opt.models.ir import Phase, TensorRole
from monet_opt.models.onnx_import import ONNX_OPTIONS, OnnxImportError, export_notes
from monet_opt.models.onnx_training import (
    TRAINING_ONNX_OPTIONS,
    classify_onnx,
    forward_part,
    load_onnx_training,
)
from monet_opt.models.snn import SnnSpec, is_snn, snn_note, snn_training_graph
from monet_opt.models.sparsity import (
    SparseOpInfo,
    SparsitySpec,
    apply_sparsity,
    resolve_layers,
)
from monet_opt.models.zoo import BUILTIN_MODELS
from monet_opt.schedule.problem import Problem, build_problem
from monet_opt.units import MIB_BITS, within

__all__ = [
    "Inputs",
    "Budget",
    "load",
    "as_config",
    "build_forward",
    "build_training_graph",
    "load_accelerator_for",
    "build_problem_for",
    "footprint_budget",
    "fixed_stacks",
]


@dataclass(frozen=True, eq=False)
class Inputs:
    """Everything a run needs, built from one config.

    Attributes
    ----------
    config
        The validated run configuration.
    graph
        The training graph (forward, loss, backward, optimizer).
    accelerator
        The accelerator.
    problem
        The scheduling problem (:class:`~monet_opt.schedule.problem.Problem`): nodes,
        edges, DRAM traffic and cost tables.
    seconds
        Wall time of each build step (``build_inputs``, ``build_problem``), seconds.
    notes
        What the user should know about the workload as read (an ONNX training graph
        imported as it is, an eval-mode export), one sentence each.
    """

    config: Config
    graph: Graph
    accelerator: Accelerator
    problem: Problem
    seconds: Mapping[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        """The config file (or ``"<config>"`` for a config built in Python)."""
        return str(self.config.source) if self.config.source is not None else "<config>"


@dataclass(frozen=True)
class Budget:
    """The activation-footprint budget of ``checkpointing.mode: optimal``.

    Attributes
    ----------
    bits
        The budget in bits (``None`` for store-all).
    store_all_bits
        Peak activation footprint when every checkpoint candidate is kept, bits.
    min_feasible_bits
        The smallest budget any keep set meets (every activation recomputed), bits.
    multilevel_bits, multilevel_store_all_bits, multilevel_step_bits
        With ``checkpointing.levels: multi``: the budget in the multi-level accounting
        (every resident activation, activation gradient and loss value,
        :mod:`monet_opt.schedule.realize_remat`), the store-all peak in it, and the
        largest single step (a node's inputs and output), below which no schedule fits;
        ``None`` otherwise.
    """

    bits: float | None
    store_all_bits: float
    min_feasible_bits: float
    multilevel_bits: float | None = None
    multilevel_store_all_bits: float | None = None
    multilevel_step_bits: float | None = None

    @property
    def mib(self) -> float | None:
        return None if self.bits is None else self.bits / MIB_BITS


def as_config(config: str | Path | Mapping[str, Any] | Config) -> Config:
    """A validated :class:`Config` from a path, a mapping or a config.

    Raises
    ------
    InputError
        As :func:`monet_opt.config.load_config` / :func:`~monet_opt.config.config_from_dict`.
    """
    if isinstance(config, Config):
        return config
    if isinstance(config, Mapping):
        return config_from_dict(dict(config))
    return load_config(config)


def _options_error(cfg: Config, allowed: list[str], what: str) -> InputError | None:
    unknown = sorted(set(cfg.workload.options) - set(allowed))
    if not unknown:
        return None
    return InputError(
        cfg.source,
        "workload.options",
        f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
        f"for {what}; allowed options: {', '.join(allowed) or '(none)'}",
    )


def _first_line(msg: str, path: Path | None = None) -> str:
    """First line of a wrapped error without a leading ``<path>:`` (the InputError adds
    the file); further lines are counted."""
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


def build_forward(cfg: Config) -> Graph:
    """The forward graph of the workload (built-in model or ONNX import).

    Raises
    ------
    InputError
        For an unknown model (``workload.model``), an unknown or invalid option
        (``workload.options``, listing the allowed ones) or an ONNX file that cannot
        be imported (naming that file).
    """
    wl = cfg.workload
    file = cfg.source
    if wl.model is not None:
        if wl.model not in BUILTIN_MODELS:
            raise InputError(
                file,
                "workload.model",
                f"unknown model {wl.model!r}; allowed values: {', '.join(sorted(BUILTIN_MODELS))}",
            )
        try:
            return build_model(wl.model, **wl.options)
        except (ValueError, TypeError) as exc:
            raise InputError(file, "workload.options", _first_line(str(exc))) from None
    if wl.torch is not None:
        return _torch_forward(cfg)
    path = _onnx_source(cfg)
    with _onnx_errors(cfg, path):
        return load_onnx(path, **wl.options)


def _onnx_source(cfg: Config) -> Path:
    """The ONNX file of the workload, after checking the option names (those of a
    forward graph, a superset of a training graph's) and that the file exists."""
    path = cfg.onnx_path
    assert path is not None
    err = _options_error(cfg, list(ONNX_OPTIONS), f"an ONNX model ({path.name})")
    if err is not None:
        raise err
    if not path.is_file():
        raise InputError(cfg.source, "workload.onnx", f"file not found: {path}")
    return path


def _precision(cfg: Config) -> Precision:
    """``workload.precision`` as a :class:`~monet_opt.models.Precision`."""
    try:
        return Precision(**cfg.workload.precision.model_dump())
    except (ValueError, TypeError) as exc:
        raise InputError(cfg.source, "workload.precision", _first_line(str(exc))) from None


@contextmanager
def _onnx_errors(cfg: Config, path: Path) -> Iterator[None]:
    """Turn an ONNX import failure into an :class:`InputError` naming the ONNX file, and
    a bad option value into one naming ``workload.options`` of the config."""
    try:
        yield
    except (OnnxImportError, OSError) as exc:
        raise InputError(path, None, _first_line(str(exc), path)) from None
    except (TypeError, ValueError) as exc:  # a bad option value
        raise InputError(cfg.source, "workload.options", _first_line(str(exc))) from None


def _torch_forward(cfg: Config) -> Graph:
    """The forward graph of ``workload.torch`` (a ``package.module:factory`` spec; the
    config file's folder is searched first), via
    :func:`monet_opt.models.torch_import.load_torch_spec`."""
    from monet_opt.models.torch_import import TORCH_OPTIONS, TorchImportError, load_torch_spec

    wl = cfg.workload
    file = cfg.source
    spec = wl.torch
    assert spec is not None
    err = _options_error(cfg, list(TORCH_OPTIONS), f"a PyTorch factory ({spec})")
    if err is not None:
        raise err
    try:
        return load_torch_spec(spec, wl.options, search_path=cfg.base_dir)
    except (ImportError, TorchImportError, OnnxImportError) as exc:  # no torch, bad spec
        raise InputError(file, "workload.torch", _first_line(str(exc))) from None
    except (TypeError, ValueError) as exc:  # a bad option value
        raise InputError(file, "workload.options", _first_line(str(exc))) from None


def _onnx_graph_kind(cfg: Config) -> str:
    """``"forward"`` or ``"training"`` for an ONNX workload (``"forward"`` otherwise)."""
    if cfg.workload.onnx is None:
        return "forward"
    path = _onnx_source(cfg)
    with _onnx_errors(cfg, path):
        return classify_onnx(path, cfg.workload.graph)


def _imported_training_graph(cfg: Config) -> Graph:
    """An ONNX training graph imported as it is (``workload.mode: inference``: its
    forward ops alone)."""
    wl = cfg.workload
    path = cfg.onnx_path
    assert path is not None
    err = _options_error(cfg, list(TRAINING_ONNX_OPTIONS), f"an ONNX training graph ({path.name})")
    if err is not None:
        raise err
    precision = _precision(cfg)
    with _onnx_errors(cfg, path):
        graph = load_onnx_training(path, precision=precision, **wl.options)
    return forward_part(graph) if wl.mode == "inference" else graph


def build_training_graph(cfg: Config, forward: Graph | None = None) -> Graph:
    """The graph to schedule: the training step (forward + loss + backward + optimizer)
    of the workload, or its forward pass alone with ``workload.mode: inference``.

    An ONNX file that holds a training graph (``workload.graph``, recognised by
    :func:`monet_opt.models.onnx_training.classify_onnx`) is imported as it is: its own
    backward and optimizer are scheduled and ``workload.optimizer`` does not apply.

    Raises
    ------
    InputError
        As :func:`build_forward`, or when the training graph cannot be derived.
    """
    return _build_graph(cfg, forward, _onnx_graph_kind(cfg) if forward is None else "forward")


def _build_graph(cfg: Config, forward: Graph | None, kind: str) -> Graph:
    """:func:`build_training_graph` for an ONNX file already classified as ``kind``."""
    wl = cfg.workload
    if forward is None and kind == "training":
        if wl.sparsity is not None:
            raise InputError(
                cfg.source,
                "workload.sparsity",
                "not supported for an imported ONNX training graph (its backward is taken "
                "as it is); set workload.graph: forward to derive the training step",
            )
        return _imported_training_graph(cfg)
    if forward is None:
        forward = build_forward(cfg)
    if wl.mode == "inference":
        return _sparsify(cfg, forward)
    precision = _precision(cfg)
    try:
        if is_snn(forward):  # BPTT over the unrolled steps (monet_opt.models.snn)
            graph = snn_training_graph(forward, optimizer=wl.optimizer, precision=precision)
        else:
            graph = derive_training_graph(forward, optimizer=wl.optimizer, precision=precision)
    except (ValueError, TypeError) as exc:
        raise InputError(cfg.source, "workload", _first_line(str(exc))) from None
    return _sparsify(cfg, graph)


def _layer_spec(c: LayerSparsityConfig) -> SparsitySpec:
    """A config layer spec as the model's :class:`~monet_opt.models.sparsity.SparsitySpec`."""
    if c.kind == "n_m":
        assert c.n is not None and c.m is not None
        return SparsitySpec.n_m_spec(c.n, c.m, c.index_width)
    assert c.density is not None
    return SparsitySpec(c.kind, float(c.density), float(c.ablated), index_bits=c.index_width)


def _sparsify(cfg: Config, graph: Graph) -> Graph:
    """``graph`` with ``workload.sparsity`` applied (:mod:`monet_opt.models.sparsity`).

    Raises
    ------
    InputError
        Field ``workload.sparsity.layers.<pattern>`` for a pattern that matches no layer or
        only layers that cannot be sparse; ``workload.sparsity`` when no layer is sparse.
    """
    sp = cfg.workload.sparsity
    if sp is None:
        return graph
    default = None if sp.default is None else _layer_spec(sp.default)
    rules = [(p, None if c is None else _layer_spec(c)) for p, c in sp.layers.items()]
    try:
        specs = resolve_layers(graph, default, rules)
    except KeyError as exc:
        pattern, msg = exc.args
        raise InputError(cfg.source, f"workload.sparsity.layers.{pattern}", msg) from None
    if not specs:
        raise InputError(
            cfg.source,
            "workload.sparsity",
            f"no layer of {graph.name!r} is sparse: it has no Gemm / MatMul-with-weight / "
            "Conv layer, or sparsity.layers sets every one dense",
        )
    q = sp.dense_grad_fraction if cfg.workload.mode == "training" else 0.0
    try:
        return apply_sparsity(graph, specs, dense_grad_fraction=q)
    except ValueError as exc:
        raise InputError(cfg.source, "workload.sparsity", _first_line(str(exc))) from None


def load_accelerator_for(cfg: Config) -> Accelerator:
    """The accelerator named by the config.

    Raises
    ------
    InputError
        If the file is missing (field ``accelerator``) or malformed (the hardware
        loader's message, which names the file and its field).
    """
    path = cfg.accelerator_path
    if not path.is_file():
        raise InputError(cfg.source, "accelerator", f"file not found: {path}")
    try:
        return load_accelerator(path)
    except InputError:
        raise
    except (ValueError, OSError) as exc:
        raise InputError(path, None, _first_line(str(exc), path)) from None


_SCHEDULE_KEYS = ("prefetch_depth", "layer_io", "tiles", "order", "memory")


def build_problem_for(cfg: Config, graph: Graph, accelerator: Accelerator) -> Problem:
    """The scheduling problem of a config (``schedule.*``: prefetch depth, layer I/O,
    activation folding, program order, tiles).

    Raises
    ------
    InputError
        If the problem cannot be built (e.g. a node no core of the accelerator can
        run, or no DRAM for the traffic that must leave the chip): field
        ``accelerator`` unless the message names a ``schedule`` setting.
    """
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
            memory=s.memory,
        )
    except ValueError as exc:
        msg = _first_line(str(exc))
        key = next((k for k in _SCHEDULE_KEYS if k in msg), None)
        raise InputError(cfg.source, f"schedule.{key}" if key else "accelerator", msg) from None


def load(config: str | Path | Mapping[str, Any] | Config) -> Inputs:
    """Read a config and build the training graph, the accelerator and the problem.

    Parameters
    ----------
    config
        A YAML file, a config mapping (paths relative to the working directory) or a
        :class:`~monet_opt.config.Config`.

    Returns
    -------
    Inputs

    Raises
    ------
    InputError
        Naming the file and field at fault (config, accelerator or ONNX file).
    """
    cfg = as_config(config)
    t0 = time.perf_counter()
    kind = _onnx_graph_kind(cfg)  # the file is read and classified once
    graph = _build_graph(cfg, None, kind)
    acc = load_accelerator_for(cfg)
    t1 = time.perf_counter()
    problem = build_problem_for(cfg, graph, acc)
    t2 = time.perf_counter()
    return Inputs(
        cfg,
        graph,
        acc,
        problem,
        {"build_inputs": t1 - t0, "build_problem": t2 - t1},
        workload_notes(cfg, graph, kind),
    )


def workload_notes(cfg: Config, graph: Graph, kind: str | None = None) -> tuple[str, ...]:
    """Notes on the workload: an SNN's shape and activity, its sparse layers (kept
    weights, stored size, the amortized dense-gradient share), and for an ONNX workload
    a training graph imported as it is (its op counts per phase; ``workload.optimizer``
    does not apply), or hints of an eval-mode export
    (:func:`monet_opt.models.onnx_import.export_notes`).  ``kind``: the file's
    classification when known (``"forward"`` / ``"training"``), else it is classified."""
    snn = graph.ops[0].attrs.get("snn") if graph.ops else None
    notes = (snn_note(snn),) if isinstance(snn, SnnSpec) else ()
    return notes + _sparse_notes(cfg, graph) + _onnx_notes(cfg, graph, kind)


def _sparse_notes(cfg: Config, graph: Graph) -> tuple[str, ...]:
    """One note per sparse layer and one on SRigL's amortized dense-gradient steps."""
    sp = cfg.workload.sparsity
    if sp is None:
        return ()
    notes = []
    for op in graph.ops:
        info = op.attrs.get("sparsity")
        if not isinstance(info, SparseOpInfo) or info.role != "forward":
            continue
        geo, spec = info.geometry, info.spec
        w = graph.tensors[op.inputs[1]]
        what = spec.kind if spec.kind != "n_m" else f"{spec.n}:{spec.m}"
        notes.append(
            f"sparse layer {op.name}: {what}, {geo.nnz:,} of {geo.numel:,} weights kept "
            f"({geo.nnz / geo.numel:.1%}, {geo.active} of {geo.neurons} neurons live), "
            f"{spec.bits_per_index}-bit index; weight stored in {w.bytes / 2**20:.3f} MiB "
            f"(dense {w.numel * w.precision / 8 / 2**20:.3f} MiB)"
        )
    if notes and cfg.workload.mode == "training":
        notes.append(
            f"SRigL dense weight gradient on {sp.grad_accumulation_n}/{sp.delta} = "
            f"{sp.dense_grad_fraction:.2%} of the steps, amortized into the dW ops"
        )
    return tuple(notes)


def _onnx_notes(cfg: Config, graph: Graph, kind: str | None) -> tuple[str, ...]:
    wl = cfg.workload
    if wl.onnx is None or cfg.onnx_path is None:
        return ()
    if (kind or _onnx_graph_kind(cfg)) == "training":
        counts = ", ".join(f"{len(graph.ops_in(ph))} {ph.value}" for ph in Phase)
        notes = [
            f"ONNX training graph imported as it is ({counts} ops): its own backward and "
            "optimizer are scheduled; workload.optimizer does not apply"
        ]
        updates = [
            t
            for op in graph.ops_in(Phase.OPTIMIZER)
            for t in op.outputs
            if graph.tensors[t].role == TensorRole.WEIGHT
        ]
        if not updates:
            notes.append(
                "the training graph updates no weight (onnxruntime-training keeps the "
                "optimizer in a separate optimizer_model.onnx): the step scheduled is "
                "forward, backward and gradient accumulation only"
            )
        return tuple(notes)
    try:
        return tuple(export_notes(cfg.onnx_path))
    except (OnnxImportError, OSError):
        return ()


def footprint_budget(inputs: Inputs) -> Budget:
    """The activation-footprint budget of the config, checked against the problem.

    The budget is feasible when it is at least the minimum feasible footprint up to
    the one relative tolerance :data:`monet_opt.units.REL_TOL` (a ``budget_fraction``
    equal to the printed minimum fraction is feasible).  With ``checkpointing.levels:
    multi`` the budget is checked in the multi-level accounting instead, and the
    single-level budget the joint solver gets is the same fraction (or MiB) of MONET's
    footprint, raised to its minimum when below.

    Raises
    ------
    InputError
        Naming ``checkpointing.budget_mib`` / ``budget_fraction`` when the budget is
        below the minimum feasible footprint, or ``workload`` when no activation is a
        checkpoint candidate.
    """
    from monet_opt.formulations.checkpointing import min_feasible_budget, store_all_footprint

    problem = inputs.problem
    ck = inputs.config.checkpointing
    store_all = store_all_footprint(problem)
    fmin = min_feasible_budget(problem)
    bits = ck.budget_bits(store_all) if ck.mode == "optimal" else None
    if bits is None:
        return Budget(None, store_all, fmin)
    key = "budget_mib" if ck.budget_mib is not None else "budget_fraction"
    value = ck.budget_mib if ck.budget_mib is not None else ck.budget_fraction
    if store_all <= 0:
        raise InputError(
            inputs.config.source,
            f"checkpointing.{key}",
            "no forward activation is read by the backward: nothing to checkpoint; "
            "set checkpointing.mode: store-all",
        )
    if ck.levels == "multi":  # its budget is checked in its own accounting
        return _multilevel_budget(inputs, Budget(max(bits, fmin), store_all, fmin))
    if not within(fmin, bits):
        raise InputError(
            inputs.config.source,
            f"checkpointing.{key}",
            f"{value:g} gives a budget of {bits / MIB_BITS:.6g} MiB, below the minimum "
            f"feasible activation footprint {fmin / MIB_BITS:.6g} MiB (store-all "
            f"{store_all / MIB_BITS:.6g} MiB; smallest budget_fraction "
            f"{fmin / store_all:.10g})",
        )
    return Budget(max(bits, fmin), store_all, fmin)


def _multilevel_budget(inputs: Inputs, single: Budget) -> Budget:
    """The budget of ``checkpointing.levels: multi`` in its accounting.

    Raises
    ------
    InputError
        When it is below the largest single step (a node's counted inputs and output).
    """
    from monet_opt.formulations.remat_levels import multilevel_store_all_bits
    from monet_opt.schedule.realize_remat import resident_bits, value_preds

    problem = inputs.problem
    ck = inputs.config.checkpointing
    store_all = multilevel_store_all_bits(problem)
    rb, vp = resident_bits(problem), value_preds(problem)
    step = max(float(rb[i] + sum(rb[p] for p in vp[i])) for i in range(problem.n_nodes))
    bits = ck.budget_bits(store_all)
    assert bits is not None
    if not within(step, bits):
        key = "budget_mib" if ck.budget_mib is not None else "budget_fraction"
        value = ck.budget_mib if ck.budget_mib is not None else ck.budget_fraction
        raise InputError(
            inputs.config.source,
            f"checkpointing.{key}",
            f"{value:g} gives a multi-level budget of {bits / MIB_BITS:.6g} MiB, below the "
            f"largest single step {step / MIB_BITS:.6g} MiB (a node's inputs and output; "
            f"store-all {store_all / MIB_BITS:.6g} MiB in the multi-level accounting, "
            f"smallest budget_fraction {step / store_all:.6g})",
        )
    return replace(
        single,
        multilevel_bits=bits,
        multilevel_store_all_bits=store_all,
        multilevel_step_bits=step,
    )


def fixed_stacks(inputs: Inputs) -> list[list[str]] | None:
    """The ``fusion.stacks`` of ``fusion.mode: fixed``, checked against the node names
    and the program order (``None`` for other modes).

    Raises
    ------
    InputError
        Naming ``fusion.stacks[k]`` for an unknown node (with close matches) or a stack
        that is not consecutive in the program order.
    """
    cfg = inputs.config
    if cfg.fusion.mode != "fixed":
        return None
    problem = inputs.problem
    stacks = [list(st) for st in cfg.fusion.stacks or []]
    index = {name: i for i, name in enumerate(problem.node_names)}
    for k, st in enumerate(stacks):
        for name in st:
            if name not in index:
                close = difflib.get_close_matches(name, problem.node_names, n=3)
                hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
                raise InputError(
                    cfg.source,
                    f"fusion.stacks[{k}]",
                    f"unknown node {name!r} (node names are those listed in result.json "
                    f"'decisions'){hint}",
                )
    from monet_opt.schedule.realize import validate_stacks

    for k, st in enumerate(stacks):
        try:
            validate_stacks(problem, [[index[n] for n in st]], problem.program_order())
        except ValueError as exc:
            msg = str(exc).removeprefix("stack 0").lstrip(" :")
            raise InputError(cfg.source, f"fusion.stacks[{k}]", f"stack {msg}") from None
    return stacks
