"""Benchmark: which PyTorch models import, through which exporter, and what they cost.

Run ``python benchmarks/model_coverage.py [--quick] [--models a,b] [--exporters
classic,dynamo] [--time-limit S] [--json out.json]``.  It needs the optional packages
``torch``, ``torchvision``, ``transformers`` and ``onnxscript`` (``pip install
"monet-opt[torch]" torchvision transformers``); without them it says so and exits 0.
Nothing is downloaded: torchvision models are built with ``weights=None`` and the
transformers models from configs written here, with random weights.

For each model and exporter:

1. **Export** to a temporary ONNX file:

   * ``classic``: ``torch.onnx.export(..., dynamo=False, opset_version=17,
     training=TrainingMode.TRAINING, do_constant_folding=False)`` (BatchNorm and Dropout
     kept as in training); when the TRAINING export fails, again with
     ``TrainingMode.EVAL`` (the row says ``eval``).
   * ``dynamo``: :func:`monet_opt.models.torch_import.export_onnx` at opset 18, the file
     :func:`~monet_opt.models.torch_import.from_torch` imports (``torch.export``, the
     exporter's translation, onnxscript's clean-up without BatchNorm folding; eval mode).

2. **Validate**: what ``monet-opt validate`` does, through the Python API
   (:func:`monet_opt.api.load`, :func:`~monet_opt.api.footprint_budget`,
   :func:`~monet_opt.api.fixed_stacks`) on a config with ``workload.onnx`` set to the file,
   SGD with momentum (GPT-2 small with AdamW does not fit the chip's DRAM), 16-bit
   precision, on ``examples/hardware/tpu_like_quad_core.yaml``, ``order: layerwise``.
3. **Solve**: :func:`monet_opt.api.solve` (``monet-opt solve``) with fusion ``none`` and
   store-all checkpointing, ``--time-limit`` seconds for the whole run; for training
   graphs of at most ``--ckpt-max-nodes`` nodes also with ``checkpointing: optimal``
   (``budget_fraction: 0.5``).

Printed per row: model, exporter and opset, whether it loads (or the first line of the
first error and, for unsupported ops, every ONNX op type of the file the importer does
not support), forward GMAC against the published number (torchvision's weights metadata; for
the language models the analytic count of the exported config at sequence 128: every
projection, ``QK^T`` and ``AV``, the MLP and the LM head, nothing for embeddings, norms
and softmax), the relative difference, training-graph nodes, and for each solve its wall
time, status and gap.

Inputs: batch 1, 3x224x224 for the CNNs and ViT; batch 1, 128 token ids for the language
models (eager attention, no KV cache; the first output, logits or BERT's last hidden
state, is the graph output), plus an all-ones ``attention_mask`` for the classic exporter
(without it transformers' mask code calls ``aten::diff``, which that exporter lacks).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import json
import os
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from monet_opt import api

ROOT = Path(__file__).resolve().parents[1]
ACCELERATOR = ROOT / "examples" / "hardware" / "tpu_like_quad_core.yaml"
SEQ = 128
IMAGE = (1, 3, 224, 224)
NEEDED = ("torch", "torchvision", "transformers", "onnxscript")
EXPORTERS = ("classic", "dynamo")

#: Published forward GMAC at 224x224, batch 1: torchvision's own figures, the ``_ops``
#: entry of each model's weights metadata (``torchvision.models.<Model>_Weights.DEFAULT
#: .meta["_ops"]``, shown rounded to two decimals as "GFLOPS" in torchvision's model
#: table, where one multiply-accumulate counts once; e.g. EfficientNet-B0's 0.39 is 0.386).
PUBLISHED_GMAC: dict[str, float] = {
    "resnet18": 1.814,
    "resnet50": 4.089,
    "mobilenet_v2": 0.301,
    "mobilenet_v3_small": 0.057,
    "efficientnet_b0": 0.386,
    "regnet_y_400mf": 0.402,
    "convnext_tiny": 4.456,
    "densenet121": 2.834,
    "shufflenet_v2_x1_0": 0.145,
    "vit_b_16": 17.564,
    "swin_t": 4.491,
}
VISION = tuple(PUBLISHED_GMAC)
LANGUAGE = ("gpt2", "bert", "llama")
QUICK_MODELS = ("resnet18", "mobilenet_v2", "gpt2-tiny", "llama")


@dataclass
class LM:
    """A transformer language model's shape, for the analytic MAC count at ``SEQ``."""

    layers: int
    hidden: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int
    gated: bool  # SwiGLU MLP: three ffn projections instead of two
    head: bool  # LM head (hidden x vocab)
    pooler: bool = False  # BERT's pooler: one hidden x hidden on the first token

    def macs(self, seq: int = SEQ) -> int:
        d, hd = self.hidden, self.hidden // self.heads
        proj = seq * d * (2 * d + 2 * self.kv_heads * hd)  # q, o and k, v
        attention = 2 * seq * seq * d  # QK^T and AV over every head
        mlp = (3 if self.gated else 2) * seq * d * self.ffn
        total = self.layers * (proj + attention + mlp)
        total += seq * d * self.vocab if self.head else 0
        return total + (d * d if self.pooler else 0)


GPT2_SMALL = LM(12, 768, 12, 12, 3072, 50257, gated=False, head=True)
GPT2_TINY = LM(2, 128, 4, 4, 512, 1000, gated=False, head=True)
BERT_BASE = LM(12, 768, 12, 12, 3072, 30522, gated=False, head=False, pooler=True)
#: A Llama-architecture decoder of GPT-2-small size (RMSNorm, RoPE, SwiGLU, grouped-query
#: attention with 4 KV heads), small enough to export and solve here.
LLAMA_SMALL = LM(12, 768, 12, 4, 2048, 32000, gated=True, head=True)
#: Llama-2-7B, for the note under the table (not exported: 27 GB of fp32 weights).
LLAMA2_7B = LM(32, 4096, 32, 32, 11008, 32000, gated=True, head=True)


@dataclass
class Row:
    """One (model, exporter) result."""

    model: str
    exporter: str
    loads: str = ""
    error: str = ""
    unsupported: list[str] = field(default_factory=list)
    gmac: float | None = None
    reference: float | None = None
    reference_kind: str = ""
    nodes: int | None = None
    export_s: float | None = None
    load_s: float | None = None
    solves: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def rel(self) -> float | None:
        if self.gmac is None or not self.reference:
            return None
        return self.gmac / self.reference - 1.0


def _missing() -> list[str]:
    return [m for m in NEEDED if importlib.util.find_spec(m) is None]


def _first_line(exc: BaseException) -> str:
    """``Type: first line``, without the importer's list of supported ops."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    first = (lines[0] if lines else "").split("; supported: [")[0]
    return f"{type(exc).__name__}: {first}"


def build(name: str) -> tuple[Any, tuple[Any, ...], float, str]:
    """The module, its example inputs, the reference GMAC and what the reference is."""
    import torch

    torch.manual_seed(0)
    if name in PUBLISHED_GMAC:
        import torchvision

        model = torchvision.models.get_model(name, weights=None)
        return model, (torch.randn(*IMAGE),), PUBLISHED_GMAC[name], "published"
    import transformers as tf

    ids = torch.randint(0, 1000, (1, SEQ))
    eager = {"attn_implementation": "eager", "use_cache": False}
    if name in ("gpt2", "gpt2-tiny"):
        lm = GPT2_SMALL if name == "gpt2" else GPT2_TINY
        cfg = tf.GPT2Config(
            n_layer=lm.layers,
            n_embd=lm.hidden,
            n_head=lm.heads,
            vocab_size=lm.vocab,
            bos_token_id=0,
            eos_token_id=0,
            **eager,
        )
        model = tf.GPT2LMHeadModel(cfg)
    elif name == "bert":
        lm = BERT_BASE
        model = tf.BertModel(tf.BertConfig(**eager))
    elif name == "llama":
        lm = LLAMA_SMALL
        cfg = tf.LlamaConfig(
            hidden_size=lm.hidden,
            intermediate_size=lm.ffn,
            num_hidden_layers=lm.layers,
            num_attention_heads=lm.heads,
            num_key_value_heads=lm.kv_heads,
            vocab_size=lm.vocab,
            max_position_embeddings=2 * SEQ,
            **eager,
        )
        model = tf.LlamaForCausalLM(cfg)
    else:
        raise ValueError(f"unknown model {name!r}")
    return first_output(model), (ids,), lm.macs() / 1e9, f"analytic, seq {SEQ}"


def first_output(inner: Any) -> Any:
    """``inner`` (a transformers model) called with ``input_ids`` (and ``attention_mask``),
    returning its first output (logits, or BERT's last hidden state) as one tensor."""
    import torch

    class FirstOutput(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = inner

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
        ) -> torch.Tensor:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask)[0]

    return FirstOutput()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence stdout and stderr down to the file descriptors (the TorchScript exporter
    prints its whole graph from C++ on some failures)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def export(model: Any, args: tuple[Any, ...], exporter: str, path: Path) -> str:
    """Write ``model`` to ``path`` with one exporter; returns the mode exported."""
    import torch

    if exporter == "classic" and len(args) == 1 and args[0].dtype == torch.int64:
        # token ids: without a mask transformers' mask code calls aten::diff, which the
        # TorchScript exporter cannot export
        args = (args[0], torch.ones_like(args[0]))
    if exporter == "dynamo":
        from monet_opt.models.torch_import import export_onnx

        export_onnx(model, args, path, opset=18)
        return "18"
    with warnings.catch_warnings(), _quiet():
        warnings.simplefilter("ignore")
        try:
            model.train()
            torch.onnx.export(
                model,
                args,
                str(path),
                dynamo=False,
                opset_version=17,
                training=torch.onnx.TrainingMode.TRAINING,
                do_constant_folding=False,
            )
            return "17 train"
        except Exception:  # noqa: BLE001 - the EVAL export is the fallback
            model.eval()
            torch.onnx.export(model, args, str(path), dynamo=False, opset_version=17)
            return "17 eval"
        finally:
            model.eval()


def unsupported_ops(path: Path) -> list[str]:
    """ONNX op types in the file that the importer neither models nor folds."""
    import onnx

    from monet_opt.models import onnx_import

    known = set(onnx_import.SUPPORTED_OPS) | set(getattr(onnx_import, "_FOLD_ONLY", ()))
    model = onnx.load(str(path), load_external_data=False)
    return sorted({n.op_type for n in model.graph.node} - known)


def config(path: Path, time_limit: float, checkpointing: dict[str, Any]) -> dict[str, Any]:
    return {
        "workload": {"onnx": str(path), "optimizer": "sgd"},
        "accelerator": str(ACCELERATOR),
        "schedule": {"order": "layerwise"},
        "solver": {"time_limit_s": time_limit},
        "fusion": {"mode": "none"},
        "checkpointing": checkpointing,
    }


def solve(cfg: dict[str, Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        run = api.solve(cfg)
    except Exception as exc:  # noqa: BLE001 - reported in the table
        return {"seconds": time.perf_counter() - t0, "status": "error", "error": _first_line(exc)}
    r = run.milp
    return {
        "seconds": time.perf_counter() - t0,
        "status": r.status,
        "gap": r.gap,
        "simulated": r.simulated,
    }


def run_one(name: str, exporter: str, time_limit: float, ckpt_max_nodes: int, tmp: Path) -> Row:
    row = Row(name, exporter)
    path = tmp / f"{name}-{exporter}.onnx"
    t0 = time.perf_counter()
    try:
        model, args, row.reference, row.reference_kind = build(name)
        model.eval()
        row.exporter = f"{exporter} {export(model, args, exporter, path)}"
    except Exception as exc:  # noqa: BLE001
        row.loads, row.error = "export fails", _first_line(exc)
        return row
    finally:
        row.export_s = time.perf_counter() - t0
    del model, args
    gc.collect()
    t0 = time.perf_counter()
    cfg = config(path, time_limit, {"mode": "store-all"})
    try:
        inputs = api.load(cfg)  # monet-opt validate
        api.fixed_stacks(inputs)
        fwd = [op for op in inputs.graph.ops if op.phase.value == "forward" and op.is_mac]
        row.gmac = sum(op.macs for op in fwd) / 1e9
        row.nodes = len(inputs.graph)
        row.loads = "yes"
    except Exception as exc:  # noqa: BLE001
        row.loads, row.error = "no", _first_line(exc)
        with contextlib.suppress(Exception):
            row.unsupported = unsupported_ops(path)
        return row
    finally:
        row.load_s = time.perf_counter() - t0
    row.solves["store-all"] = solve(cfg)
    if row.nodes is not None and row.nodes <= ckpt_max_nodes:
        ckpt = {"mode": "optimal", "budget_fraction": 0.5}
        row.solves["optimal"] = solve(config(path, time_limit, ckpt))
    return row


def _fmt_solve(s: dict[str, Any] | None) -> tuple[str, str, str]:
    if s is None:
        return "", "", ""
    gap = s.get("gap")
    return f"{s['seconds']:.1f}", s["status"], "" if gap is None else f"{100 * gap:.2f} %"


def table(rows: list[Row]) -> tuple[Table, list[str]]:
    """The results table and the numbered failure notes it refers to."""
    t = Table(title="Model coverage: export, import (validate) and solve")
    for col in ("model", "exporter", "loads", "fwd GMAC", "reference", "diff", "train nodes"):
        t.add_column(col, justify="right" if col in ("fwd GMAC", "diff", "train nodes") else None)
    for col in ("store-all s", "status", "gap", "optimal-ckpt s", "status", "gap"):
        t.add_column(col, justify="right" if col.endswith("s") or col == "gap" else None)
    notes: list[str] = []
    for r in rows:
        loads = r.loads
        if r.loads != "yes":
            notes.append(f"[{len(notes) + 1}] {r.model} / {r.exporter}: {r.error}")
            if r.unsupported:
                notes[-1] += f" -- op types not supported: {', '.join(r.unsupported)}"
            loads += f" [{len(notes)}]"
        for kind, solved in r.solves.items():
            if solved["status"] == "error":
                notes.append(
                    f"[{len(notes) + 1}] {r.model} / {r.exporter} {kind}: {solved['error']}"
                )
                solved["status"] = f"error [{len(notes)}]"
        star = "" if r.reference_kind == "published" else " *"
        ref = f"{r.reference:.4g}{star}" if r.reference else ""
        t.add_row(
            r.model,
            r.exporter,
            loads,
            "" if r.gmac is None else f"{r.gmac:.4g}",
            ref,
            "" if r.rel is None else f"{100 * r.rel:+.1f} %",
            "" if r.nodes is None else str(r.nodes),
            *_fmt_solve(r.solves.get("store-all")),
            *_fmt_solve(r.solves.get("optimal")),
        )
    return t, notes


def _write_json(path: Path, rows: list[Row]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps([asdict(r) | {"rel": r.rel} for r in rows], indent=1))
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", help=f"comma-separated; default all: {', '.join(VISION)}, "
                   f"{', '.join(LANGUAGE)} (also gpt2-tiny)")  # fmt: skip
    p.add_argument("--exporters", default=",".join(EXPORTERS), help="classic,dynamo")
    p.add_argument("--time-limit", type=float, default=30.0, help="seconds per solve")
    p.add_argument("--ckpt-max-nodes", type=int, default=400,
                   help="also solve with optimal checkpointing up to this many nodes")  # fmt: skip
    p.add_argument("--quick", action="store_true",
                   help=f"{', '.join(QUICK_MODELS)}; 10 s per solve; no checkpointing")  # fmt: skip
    p.add_argument("--json", type=Path, help="also write the rows to this file")
    a = p.parse_args(argv)
    out = Console(width=max(Console().width, 150))
    missing = _missing()
    if missing:
        out.print(f"model_coverage needs {', '.join(missing)}: pip install \"monet-opt[torch]\" "
                  "torchvision transformers")  # fmt: skip
        return 0
    models = a.models.split(",") if a.models else [*VISION, *LANGUAGE]
    if a.quick and not a.models:
        models = list(QUICK_MODELS)
    time_limit = 10.0 if a.quick and a.time_limit == 30.0 else a.time_limit
    ckpt_max = -1 if a.quick else a.ckpt_max_nodes
    exporters = [e.strip() for e in a.exporters.split(",") if e.strip()]
    for e in exporters:
        if e not in EXPORTERS:
            p.error(f"unknown exporter {e!r}; allowed: {', '.join(EXPORTERS)}")
    rows: list[Row] = []
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="model_coverage_") as tmp:
        for name in models:
            for exporter in exporters:
                t0 = time.perf_counter()
                try:
                    row = run_one(name, exporter, time_limit, ckpt_max, Path(tmp))
                except Exception as exc:  # noqa: BLE001 - a bug of ours: keep going
                    traceback.print_exc()
                    row = Row(name, exporter, loads="crash", error=_first_line(exc))
                rows.append(row)
                for f in Path(tmp).glob(f"{name}-{exporter}.onnx*"):
                    f.unlink()
                out.print(f"[dim]{name} / {exporter}: {row.loads or 'done'} "
                          f"({time.perf_counter() - t0:.0f} s)[/]")  # fmt: skip
                gc.collect()
                if a.json:  # after every row, so a killed run keeps what it measured
                    _write_json(a.json, rows)
    if a.json:  # before the table numbers the errors into its notes
        _write_json(a.json, rows)
    t, notes = table(rows)
    out.print(t)
    out.print(f"* analytic count at seq {SEQ} (see the module docstring)")
    for note in notes:
        out.print(note, markup=False, highlight=False)
    out.print(
        f"Analytic forward MACs at seq {SEQ}, batch 1: GPT-2 small "
        f"{GPT2_SMALL.macs() / 1e9:.4g} G, BERT-base {BERT_BASE.macs() / 1e9:.4g} G, "
        f"Llama-style 768-d/12 layers {LLAMA_SMALL.macs() / 1e9:.4g} G, Llama-2-7B "
        f"{LLAMA2_7B.macs() / 1e9:.4g} G (not exported).  "
        f"Total {time.perf_counter() - t_all:.0f} s."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
