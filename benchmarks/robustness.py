"""Robustness of whole runs: kill -9 at random moments, and the run-wide time limit.

Two checks from issue 9, each printed as a table:

1. **Output sets survive kill -9.**  ``monet-opt solve`` and ``monet-opt compare`` are
   started into an output folder that already holds a complete result set and killed with
   SIGKILL after a random delay (half uniform over the run's measured duration, half in
   its last part, so kills land in solving and in writing the files).  After every kill
   the folder must hold one complete set (the old or the new one: the file list of a
   complete run, every JSON file parses) and no hidden or partial file.
2. **The time limit is the limit of the whole run.**  ``monet-opt solve`` on GPT-2 small
   (SGD, batch 1; AdamW's state does not fit the chip's DRAM) on ``tpu_like_hetero`` with
   fusion and checkpointing ``optimal`` and
   ``--time-limit 30`` must end within 40 s of wall time and report its answer and gap.

Run ``python benchmarks/robustness.py`` (about 6 minutes on 2 cores; ``--trials N`` per
command, default 20; ``--quick`` for 3 trials and a 10 s limit).
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
EDGE = ROOT / "examples" / "resnet18_cifar_edge.yaml"
CLI = [sys.executable, "-m", "monet_opt.cli"]

COMMANDS = {
    "solve": ["solve", str(EDGE), "--time-limit", "20"],
    "compare": [
        "compare", str(EDGE), "--seeds", "1", "--budget-evals", "60",
        "--spaces", "fusion,checkpointing", "--no-pareto", "--time-limit", "20",
    ],
}  # fmt: skip


def _run(args: list[str], out: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([*CLI, *args, "--out", str(out)], check=True, capture_output=True)
    return time.perf_counter() - t0


def _snapshot(folder: Path) -> tuple[frozenset[str], str]:
    """(file names, a fingerprint of the set's JSON files); raises if a file is partial."""
    names = frozenset(p.name for p in folder.iterdir())
    stamp = []
    for p in sorted(folder.glob("*.json")):
        json.loads(p.read_text())  # a partial JSON file does not parse
        stamp.append(str(p.stat().st_size))
    return names, ",".join(stamp)


def kill_trials(trials: int, seed: int = 0) -> list[list[str]]:
    """Rows of the kill -9 table."""
    rng = random.Random(seed)
    rows = []
    for name, args in COMMANDS.items():
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "out"
            duration = _run(args, out)  # a complete old set
            complete, _ = _snapshot(out)
            outcomes = {"old": 0, "new": 0}
            bad = 0
            for _ in range(trials):
                before = _snapshot(out)
                proc = subprocess.Popen(
                    [*CLI, *args, "--out", str(out)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                # half the kills anywhere in the run, half in its last part (writing)
                lo = 0.05 if rng.random() < 0.5 else 0.6 * duration
                time.sleep(rng.uniform(lo, 1.2 * duration))
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                try:
                    after = _snapshot(out)
                    hidden = [p for p in out.iterdir() if p.name.startswith(".")]
                    ok = after[0] == complete and not hidden
                except (OSError, ValueError):
                    ok = False
                if not ok:
                    bad += 1
                    continue
                outcomes["old" if after == before else "new"] += 1
            rows.append(
                [
                    name,
                    str(trials),
                    f"{duration:.1f}",
                    str(outcomes["old"]),
                    str(outcomes["new"]),
                    str(bad),
                ]
            )
    return rows


def time_limit_check(limit: float) -> list[str]:
    """The GPT-2 small row: wall time, status and gap of ``solve --time-limit``."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "gpt2_small_hetero.yaml"
        cfg.write_text(
            "workload: {model: gpt2-small, options: {batch: 1}, optimizer: sgd}\n"
            f"accelerator: {ROOT / 'examples' / 'hardware' / 'tpu_like_hetero.yaml'}\n"
            "objective: latency\nschedule: {order: layerwise}\n"
            "fusion: {mode: optimal, max_stack: 8}\n"
            "checkpointing: {mode: optimal, budget_fraction: 0.5}\n"
        )
        out = Path(tmp) / "out"
        wall = _run(["solve", str(cfg), "--time-limit", str(limit)], out)
        d = json.loads((out / "result.json").read_text())
        m = d["methods"]["milp"]
        return [
            "GPT-2 small (hetero)",
            f"{limit:g}",
            f"{wall:.1f}",
            m["status"],
            f"{m['simulated']:,.0f}",
            f"{m['bound']:,.0f}",
            f"{100 * m['gap']:.2f} %",
        ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=20, help="kills per command")
    ap.add_argument("--quick", action="store_true", help="3 trials, 10 s limit")
    a = ap.parse_args()
    trials, limit = (3, 10.0) if a.quick else (a.trials, 30.0)
    con = Console()
    t = Table(title=f"kill -9 at random moments ({trials} trials per command)")
    for col in ("command", "trials", "run s", "old set", "new set", "broken"):
        t.add_column(col, justify="left" if col == "command" else "right")
    for row in kill_trials(trials):
        t.add_row(*row)
    con.print(t)
    t = Table(
        title="run-wide time limit: GPT-2 small, SGD, tpu_like_hetero, fusion and "
        "checkpointing optimal"
    )
    for col in ("instance", "limit s", "wall s", "status", "makespan", "bound", "gap"):
        t.add_column(col, justify="left" if col in ("instance", "status") else "right")
    t.add_row(*time_limit_check(limit))
    con.print(t)


if __name__ == "__main__":
    main()
