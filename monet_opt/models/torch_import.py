"""Import a forward graph from a PyTorch module (optional extra ``torch``).

PyTorch is imported lazily, only when one of these functions is called; without it they
raise :class:`ImportError` telling the user to ``pip install "monet-opt[torch]"`` (which
brings ``torch`` and ``onnxscript``, the library PyTorch's ONNX exporter is built on).

What happens, step by step
--------------------------
:func:`from_torch` does not map ATen ops itself.  It goes through ONNX, so that PyTorch
models and ONNX files follow exactly one set of mapping rules (those of
:mod:`monet_opt.models.onnx_import`):

1. **Example inputs.**  ``example_inputs`` is one tensor, a tuple/list of positional
   arguments or a mapping of keyword arguments.  ``batch`` replaces dim 0 of every
   tensor input; ``seq`` replaces dim 1 of every tensor input of rank 2 or 3
   (``(batch, seq)`` token ids and masks, ``(batch, seq, hidden)`` embeddings; images of
   rank 4 are left alone).  A resized tensor repeats (or truncates) the example along
   that dim, so token ids stay valid indices.  Shapes are static: the graph is the one
   for exactly these input shapes.
2. **Capture.**  The module is put in eval mode (``train=True`` keeps training mode; the
   mode is restored afterwards) and exported with
   ``torch.onnx.export(module, args, kwargs=kwargs, dynamo=True, optimize=False,
   opset_version=opset)``, which runs ``torch.export.export(..., strict=False)``, applies
   PyTorch's decompositions and translates the ATen graph to ONNX with onnxscript's
   torchlib (opset 18 by default, converted down from the exporter's own opset).  In eval
   mode dropout disappears and ``BatchNorm`` becomes ``BatchNormalization`` (inference
   form; the training graph derived from it has its backward all the same).
3. **Clean-up.**  onnxscript's optimizer is applied as the exporter's ``optimize=True``
   would, *except* that BatchNorm is not folded into the preceding Conv/Gemm (in a
   training step BatchNorm is a real op): constant folding
   (``onnxscript.optimizer.fold_constants``), onnxscript's default rewrite rules without
   the ``FuseBatchNormInto*`` rules (``onnxscript.rewriter.rewrite``) and removal of
   unused nodes, twice.  ``fold_batchnorm=True`` runs the exporter's own optimizer
   instead (BatchNorm folded, as in Stream's ``resnet18.onnx``).  Were onnxscript's rule
   list not found, only the constant folding and the clean-up run.
4. **Import.**  The model is saved to a temporary directory, floating-point weights as
   external data (``<name>.onnx`` + ``<name>.onnx.data``; integer and boolean
   initializers such as indices and masks stay inline, their values may be needed), and
   read by :func:`~monet_opt.models.onnx_import.load_onnx` (shapes only; the weight
   values are never read back), with ``precision``.  The directory is deleted
   afterwards (:func:`export_onnx` does steps 1-3 into a file you keep).  The
   returned :class:`Graph` is the forward graph, named ``name``; node names are the
   exporter's (``node_conv2d``, ``node_linear_1``, ...).

An op the ONNX importer does not support is reported as an
:class:`~monet_opt.models.onnx_import.OnnxImportError` naming the ONNX op type, with the
export settings appended.

Factory specs (``workload.torch``)
----------------------------------
:func:`load_torch_spec` builds a graph from a string ``"package.module:factory"``
(``factory`` may be a dotted attribute path such as ``"pkg.mod:Models.small"``).  The
module is imported (with ``search_path``, e.g. the config file's folder, put first on
``sys.path`` while importing), and ``factory(**options["args"])`` is called.  It must
return either

* a pair ``(module, example_inputs)``: ``module`` an ``nn.Module``, ``example_inputs`` as
  for :func:`from_torch`; or
* an ``nn.Module`` alone: then ``options["input_shape"]`` (a list of positive ints) is
  required and the module is called with one tensor of that shape, ``torch.randn`` for
  ``input_dtype: float32`` (default) or ``torch.zeros(..., dtype=torch.int64)`` (token
  ids) for ``input_dtype: int64``.

The options (:data:`TORCH_OPTIONS`) are ``args``, ``input_shape``, ``input_dtype``,
``batch``, ``seq``, ``precision``, ``opset``, ``train`` and ``fold_batchnorm``; the last
six are passed to :func:`from_torch`.  The graph is named after the factory.  Importing
the spec runs its code, with the same trust as running a Python script.
"""

from __future__ import annotations

import contextlib
import importlib
import re
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monet_opt.models.ir import Graph
from monet_opt.models.onnx_import import OnnxImportError, load_onnx

if TYPE_CHECKING:  # pragma: no cover - type hints only
    import torch

__all__ = [
    "DEFAULT_OPSET",
    "INSTALL_HINT",
    "TORCH_OPTIONS",
    "TorchImportError",
    "check_torch_options",
    "export_onnx",
    "from_torch",
    "load_torch_spec",
]

#: ONNX opset the module is exported at (the ONNX importer is tested on it).
DEFAULT_OPSET = 18

#: What to run when PyTorch or onnxscript is missing.
INSTALL_HINT = 'pip install "monet-opt[torch]"'

#: Keys of ``workload.options`` for a ``workload.torch`` spec (see :func:`load_torch_spec`).
TORCH_OPTIONS: tuple[str, ...] = (
    "args",
    "batch",
    "fold_batchnorm",
    "input_dtype",
    "input_shape",
    "opset",
    "precision",
    "seq",
    "train",
)

_SPEC = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_INPUT_DTYPES = ("float32", "int64")


class TorchImportError(ValueError):
    """A PyTorch module or factory spec cannot be exported or imported."""


def _require_torch() -> Any:
    """Import torch and onnxscript, or raise an ImportError with the install hint."""
    missing = []
    for name in ("torch", "onnxscript"):
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ImportError(
            f"importing a PyTorch model needs {' and '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed; run: {INSTALL_HINT}"
        )
    import torch

    return torch


def _positive_int(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{what} must be a positive int, got {value!r}")
    return value


def _resize(x: torch.Tensor, dim: int, size: int) -> torch.Tensor:
    """``x`` with ``size`` entries along ``dim``: the example repeated or truncated."""
    import torch

    n = x.shape[dim]
    if n == size:
        return x
    index = torch.arange(size, device=x.device) % n
    return x.index_select(dim, index)


def _reshape_inputs(
    args: tuple[Any, ...], kwargs: dict[str, Any], batch: int | None, seq: int | None
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    import torch

    seen = {"batch": False, "seq": False}

    def fix(v: Any) -> Any:
        if not isinstance(v, torch.Tensor) or v.dim() == 0:
            return v
        if batch is not None:
            v = _resize(v, 0, batch)
            seen["batch"] = True
        if seq is not None and v.dim() in (2, 3):
            v = _resize(v, 1, seq)
            seen["seq"] = True
        return v

    args = tuple(fix(a) for a in args)
    kwargs = {k: fix(v) for k, v in kwargs.items()}
    for what, value in (("batch", batch), ("seq", seq)):
        if value is not None and not seen[what]:
            rank = "" if what == "batch" else " of rank 2 or 3"
            raise ValueError(f"{what}={value} given but no example input is a tensor{rank}")
    return args, kwargs


def _split_inputs(example_inputs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    import torch

    if isinstance(example_inputs, torch.Tensor):
        return (example_inputs,), {}
    if isinstance(example_inputs, Mapping):
        return (), {str(k): v for k, v in example_inputs.items()}
    if isinstance(example_inputs, tuple | list):
        return tuple(example_inputs), {}
    raise TypeError(
        "example_inputs must be a tensor, a tuple/list of positional arguments or a "
        f"mapping of keyword arguments, got {type(example_inputs).__name__}"
    )


def _safe_name(name: str) -> str:
    return re.sub(r"[^\w.-]", "_", name).strip(".") or "model"


def _clean_up(model: Any) -> None:
    """onnxscript's optimizer without the BatchNorm folding rules (in place)."""
    from onnxscript import optimizer, rewriter

    rules = tuple(
        r
        for r in getattr(rewriter, "_DEFAULT_REWRITE_RULES", ())
        if "batchnorm" not in str(getattr(r, "name", "") or "").lower()
    )
    for _ in range(2):
        optimizer.fold_constants(model)
        if rules:
            rewriter.rewrite(model, pattern_rewrite_rules=rules)
        optimizer.remove_unused_nodes(model)


@contextlib.contextmanager
def _mode(module: torch.nn.Module, train: bool) -> Iterator[None]:
    was = module.training
    module.train(train)
    try:
        yield
    finally:
        module.train(was)


def export_onnx(
    module: torch.nn.Module,
    example_inputs: Any,
    path: str | Path,
    *,
    batch: int | None = None,
    seq: int | None = None,
    opset: int = DEFAULT_OPSET,
    train: bool = False,
    fold_batchnorm: bool = False,
) -> Path:
    """Steps 1-3 of :func:`from_torch`: write the ONNX model it imports to ``path``.

    Weights go to ``<path>.data`` beside it (ONNX external data).  The arguments are
    those of :func:`from_torch`.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ImportError, TypeError, ValueError, TorchImportError
        As :func:`from_torch`.
    """
    torch = _require_torch()
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    if batch is not None:
        _positive_int(batch, "batch")
    if seq is not None:
        _positive_int(seq, "seq")
    _positive_int(opset, "opset")
    args, kwargs = _split_inputs(example_inputs)
    args, kwargs = _reshape_inputs(args, kwargs, batch, seq)
    how = _how(module, opset, train)
    with _mode(module, train), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            program = torch.onnx.export(
                module,
                args,
                kwargs=kwargs or None,
                dynamo=True,
                optimize=fold_batchnorm,
                opset_version=opset,
                verbose=False,
            )
        except Exception as exc:  # noqa: BLE001 - re-raised with context
            raise TorchImportError(f"{how} failed: {_first_line(exc)}") from exc
    if program is None:  # pragma: no cover - only the TorchScript exporter returns None
        raise TorchImportError(f"{how} returned no ONNX program")
    if not fold_batchnorm:
        _clean_up(program.model)
    path = Path(path)
    try:
        program.save(path, external_data=True)
        _inline_non_float(path)
    except Exception as exc:  # noqa: BLE001
        raise TorchImportError(f"saving the ONNX model of {how} failed: {exc}") from exc
    return path


def _inline_non_float(path: Path) -> None:
    """Move integer and boolean initializers (indices, masks, shapes: values a reader
    needs) from the external data file back into ``path``; float weights stay outside."""
    import onnx
    from onnx import external_data_helper

    model = onnx.load(str(path), load_external_data=False)
    floats = {
        onnx.TensorProto.FLOAT,
        onnx.TensorProto.FLOAT16,
        onnx.TensorProto.BFLOAT16,
        onnx.TensorProto.DOUBLE,
    }
    changed = False
    for t in model.graph.initializer:
        if t.data_location == onnx.TensorProto.EXTERNAL and t.data_type not in floats:
            external_data_helper.load_external_data_for_tensor(t, str(path.parent))
            t.data_location = onnx.TensorProto.DEFAULT
            del t.external_data[:]
            changed = True
    if changed:
        onnx.save(model, str(path))


def _how(module: torch.nn.Module, opset: int, train: bool) -> str:
    return (
        f"torch.onnx.export(dynamo=True, opset_version={opset}) of {type(module).__name__}"
        f"{' in training mode' if train else ''}"
    )


def from_torch(
    module: torch.nn.Module,
    example_inputs: Any,
    *,
    batch: int | None = None,
    seq: int | None = None,
    precision: int = 16,
    name: str | None = None,
    opset: int = DEFAULT_OPSET,
    train: bool = False,
    fold_batchnorm: bool = False,
) -> Graph:
    """The forward :class:`Graph` of a PyTorch module, via ``torch.export`` and ONNX.

    The steps are listed in the module docstring (:mod:`monet_opt.models.torch_import`);
    :func:`export_onnx` writes the intermediate ONNX model to a file.

    Parameters
    ----------
    module
        The ``torch.nn.Module`` (its weights are not read, only their shapes).
    example_inputs
        One tensor, a tuple/list of positional arguments or a mapping of keyword arguments
        (e.g. ``{"input_ids": ids}`` for a transformers model).
    batch
        If given, dim 0 of every tensor input becomes ``batch``.
    seq
        If given, dim 1 of every tensor input of rank 2 or 3 becomes ``seq``.
    precision
        Bits per activation and weight element (a positive int).
    name
        Graph name (default: the module's class name).
    opset
        ONNX opset of the export (default :data:`DEFAULT_OPSET`).
    train
        Export in training mode (dropout becomes ONNX ``Dropout``); default eval mode.
    fold_batchnorm
        Fold BatchNorm into the preceding Conv/Gemm, as the exporter's optimizer does.

    Returns
    -------
    Graph
        The forward graph; derive the training step with
        :func:`~monet_opt.models.training.derive_training_graph`.

    Raises
    ------
    ImportError
        If torch or onnxscript is not installed (the message says
        ``pip install "monet-opt[torch]"``).
    TypeError
        If ``module`` is not an ``nn.Module`` or ``example_inputs`` has another type.
    ValueError
        On an invalid ``batch``, ``seq``, ``precision`` or ``opset``.
    TorchImportError
        If ``torch.onnx.export`` fails (first line of its error).
    OnnxImportError
        If the exported ONNX model uses an op the ONNX importer does not support.
    """
    _require_torch()
    _positive_int(precision, "precision")
    gname = _safe_name(name or type(module).__name__)
    with tempfile.TemporaryDirectory(prefix="monet_opt_torch_") as tmp:
        path = export_onnx(
            module,
            example_inputs,
            Path(tmp) / f"{gname}.onnx",
            batch=batch,
            seq=seq,
            opset=opset,
            train=train,
            fold_batchnorm=fold_batchnorm,
        )
        try:
            return load_onnx(path, precision=precision)
        except OnnxImportError as exc:
            raise OnnxImportError(
                f"{exc} [model exported by {_how(module, opset, train)}]"
            ) from exc


def _first_line(exc: BaseException) -> str:
    """``Type: first line`` of an exception and, when it wraps others (the exporter's
    step errors do), of the innermost cause; ANSI colour codes removed."""

    def line(e: BaseException) -> str:
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(e))
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        return f"{type(e).__name__}: {lines[0] if lines else ''}".rstrip(": ")

    root, seen = exc, {id(exc)}
    while (nxt := root.__cause__ or root.__context__) is not None and id(nxt) not in seen:
        seen.add(id(nxt))
        root = nxt
    return line(exc) if root is exc else f"{line(exc)} (caused by {line(root)})"


def check_torch_options(options: Mapping[str, object]) -> None:
    """Reject option names :func:`load_torch_spec` does not take.

    Raises
    ------
    TypeError
        ``unknown option 'x'; allowed options: ...`` (names sorted).
    """
    unknown = sorted(str(k) for k in options if k not in TORCH_OPTIONS)
    if unknown:
        names = ", ".join(repr(k) for k in unknown)
        raise TypeError(
            f"unknown option{'s' if len(unknown) > 1 else ''} {names}; "
            f"allowed options: {', '.join(TORCH_OPTIONS)}"
        )


@contextlib.contextmanager
def _on_path(folder: str | Path | None) -> Iterator[None]:
    if folder is None:
        yield
        return
    entry = str(Path(folder).resolve())
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(entry)


def _resolve(spec: str, search_path: str | Path | None) -> Callable[..., Any]:
    if not isinstance(spec, str) or not _SPEC.match(spec):
        raise TorchImportError(
            f"invalid spec {spec!r}: expected 'package.module:factory' (a factory that "
            "returns (module, example_inputs) or a module)"
        )
    mod_name, attr = spec.split(":", 1)
    with _on_path(search_path):
        try:
            obj: Any = importlib.import_module(mod_name)
        except ImportError as exc:
            raise TorchImportError(f"{spec}: cannot import {mod_name!r}: {exc}") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TorchImportError(f"{spec}: {mod_name!r} has no attribute {attr!r}") from None
    if not callable(obj):
        raise TorchImportError(f"{spec}: {attr!r} is not callable")
    return obj


def load_torch_spec(
    spec: str, options: Mapping[str, Any], *, search_path: str | Path | None = None
) -> Graph:
    """The forward graph of the module a factory spec ``"package.module:factory"`` builds.

    The contract (what the factory returns, the options) is in the module docstring.

    Parameters
    ----------
    spec
        ``"package.module:factory"``.
    options
        Keys of :data:`TORCH_OPTIONS`: ``args`` (mapping, the factory's keyword
        arguments), ``input_shape`` (list of positive ints, required when the factory
        returns a module alone), ``input_dtype`` (``float32`` or ``int64``), and
        ``batch``, ``seq``, ``precision``, ``opset``, ``train``, ``fold_batchnorm`` as
        for :func:`from_torch`.
    search_path
        A folder put first on ``sys.path`` while the spec's module is imported (the
        config file's folder, so a ``models.py`` beside the config is found).

    Returns
    -------
    Graph
        The forward graph, named after the factory.

    Raises
    ------
    ImportError
        If torch or onnxscript is missing (with the ``pip install`` hint).
    TypeError
        On an unknown option.
    ValueError
        On an invalid option value.
    TorchImportError
        If the spec is malformed, cannot be imported, the factory fails or returns
        something else than ``(module, example_inputs)`` or a module, or the export fails.
    OnnxImportError
        If the exported model uses an op the ONNX importer does not support.
    """
    check_torch_options(options)
    torch = _require_torch()
    factory = _resolve(spec, search_path)
    fargs = options.get("args", {})
    if not isinstance(fargs, Mapping) or not all(isinstance(k, str) for k in fargs):
        raise ValueError(f"args must be a mapping of keyword arguments, got {fargs!r}")
    dtype = options.get("input_dtype", "float32")
    if dtype not in _INPUT_DTYPES:
        raise ValueError(f"input_dtype must be one of {', '.join(_INPUT_DTYPES)}, got {dtype!r}")
    shape = options.get("input_shape")
    if shape is not None and (
        not isinstance(shape, list | tuple)
        or not shape
        or any(not isinstance(d, int) or isinstance(d, bool) or d <= 0 for d in shape)
    ):
        raise ValueError(f"input_shape must be a list of positive ints, got {shape!r}")
    for flag in ("train", "fold_batchnorm"):
        if not isinstance(options.get(flag, False), bool):
            raise ValueError(f"{flag} must be true or false, got {options[flag]!r}")
    try:
        made = factory(**fargs)
    except Exception as exc:  # noqa: BLE001 - the user's code
        raise TorchImportError(f"{spec}: the factory raised {_first_line(exc)}") from exc
    if isinstance(made, torch.nn.Module):
        if shape is None:
            raise TorchImportError(
                f"{spec}: the factory returned a module without example inputs; give "
                "options.input_shape (and input_dtype: int64 for token ids) or return "
                "(module, example_inputs)"
            )
        size = tuple(int(d) for d in shape)
        example: Any = (
            torch.zeros(size, dtype=torch.int64) if dtype == "int64" else torch.randn(size)
        )
        module = made
    elif isinstance(made, tuple) and len(made) == 2 and isinstance(made[0], torch.nn.Module):
        if shape is not None:
            raise TorchImportError(
                f"{spec}: the factory returned example inputs; options.input_shape is only "
                "for a factory that returns a module alone"
            )
        module, example = made
    else:
        raise TorchImportError(
            f"{spec}: the factory must return (module, example_inputs) or an nn.Module, "
            f"got {type(made).__name__}"
        )
    kw = {k: options[k] for k in ("batch", "seq", "precision", "opset") if k in options}
    try:
        return from_torch(
            module,
            example,
            name=spec.rsplit(":", 1)[1].rsplit(".", 1)[-1],
            train=bool(options.get("train", False)),
            fold_batchnorm=bool(options.get("fold_batchnorm", False)),
            **kw,
        )
    except TypeError as exc:  # bad example inputs from the factory
        raise TorchImportError(f"{spec}: {exc}") from exc
