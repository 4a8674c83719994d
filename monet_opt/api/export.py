"""``export``: the MILPs ``solve`` would build, as MPS or LP files a user can take away.

For a config, :func:`export` builds the models of the first pass of ``solve``:

* ``allocation``: the core-allocation MILP (:mod:`monet_opt.formulations.allocation`)
  for the config's objective (``edp`` exports the latency and the energy model, the two
  ends of its ε-constraint sweep);
* with ``fusion.mode: optimal``: the fusion MILP (:mod:`monet_opt.formulations.fusion`)
  for the allocation MILP's answer and the checkpoints below;
* with ``checkpointing.mode: optimal``: the checkpointing MILP
  (:mod:`monet_opt.formulations.checkpointing`) for that allocation under the budget.

The joint solver is iterated exact blocks, not one model, so it has no file of its own;
its blocks are the models above.  Each model ``<name>.mps`` (free MPS, as HiGHS writes
it) or ``<name>.lp`` (CPLEX LP format) comes with ``<name>.json``, a sidecar that says
what the model minimizes, which parts of the decision it holds fixed, and which
decision each column encodes.  Solve the file with any MILP solver, then read the
answer back with :func:`read_solution` (a ``name value`` solution file or a mapping)
and :func:`decode_solution`, which returns the
:class:`~monet_opt.schedule.types.Decision` for the evaluator.

Column names are the formulation's names made safe for both formats (letters, digits
and ``_``): ``x_12_3`` is node 12 on core index 3, ``u_7`` fuses the 7th and 8th node
of the program order, ``k_<n>`` keeps checkpoint candidate ``n``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import highspy

from monet_opt import __version__
from monet_opt.api.inputs import Inputs, footprint_budget, load
from monet_opt.api.solve import solver_options
from monet_opt.config import Config
from monet_opt.errors import InputError
from monet_opt.formulations.allocation import (
    build_allocation_model,
    serial_upper_bound,
    solve_allocation,
)
from monet_opt.formulations.checkpointing import build_checkpoint_model
from monet_opt.formulations.fusion import build_fusion_model
from monet_opt.schedule.evaluator import evaluate_fast
from monet_opt.schedule.types import Decision

__all__ = [
    "FORMATS",
    "SIDECAR_FORMAT",
    "ExportedModel",
    "export",
    "read_solution",
    "decode_solution",
]

#: Model file formats.
FORMATS = ("mps", "lp")
#: ``format`` key of a sidecar.
SIDECAR_FORMAT = "monet-opt/milp-sidecar@1"


@dataclass(frozen=True)
class ExportedModel:
    """One exported MILP.

    Attributes
    ----------
    name
        ``allocation``, ``allocation_energy``, ``fusion`` or ``checkpointing``.
    model
        The MPS / LP file.
    sidecar
        Its JSON sidecar.
    n_vars, n_cons, n_binaries
        Model size.
    """

    name: str
    model: Path
    sidecar: Path
    n_vars: int
    n_cons: int
    n_binaries: int


def _safe_names(names: Sequence[str]) -> list[str]:
    """Names with only letters, digits and ``_`` (valid in MPS and LP), unique."""
    out: list[str] = []
    seen: set[str] = set()
    for k, n in enumerate(names):
        s = re.sub(r"[^A-Za-z0-9_]+", "_", n).strip("_") or f"c{k}"
        if s[0].isdigit():
            s = "c" + s
        base, j = s, 1
        while s in seen:
            s = f"{base}_{j}"
            j += 1
        seen.add(s)
        out.append(s)
    return out


def _write(h: highspy.Highs, names: Sequence[str], path: Path) -> list[str]:
    safe = _safe_names(names)
    for k, n in enumerate(safe):
        h.passColName(k, n)
    for r in range(h.getNumRow()):
        h.passRowName(r, f"r{r}")
    status = h.writeModel(str(path))
    if status == highspy.HighsStatus.kError:
        raise OSError(f"{path}: HiGHS could not write the model")
    return safe


def _sidecar(
    path: Path,
    *,
    name: str,
    model_file: Path,
    inputs: Inputs,
    objective: str,
    fixed: Decision,
    columns: Mapping[str, Mapping[str, Any]],
    n_vars: int,
    n_cons: int,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    problem = inputs.problem
    names = problem.node_names
    data = {
        "format": SIDECAR_FORMAT,
        "monet_opt": __version__,
        "formulation": name,
        "model_file": model_file.name,
        "config": None if inputs.config.source is None else str(inputs.config.source.resolve()),
        "objective": objective,
        "sense": "minimize",
        "n_vars": n_vars,
        "n_cons": n_cons,
        "node_names": list(names),
        "core_ids": list(problem.core_ids),
        "fixed": {
            "allocation": list(fixed.allocation) or None,
            "priority": None if fixed.priority is None else list(fixed.priority),
            "stacks": [[names[i] for i in st] for st in fixed.stacks],
            "checkpoints": None if fixed.checkpoints is None else sorted(fixed.checkpoints),
        },
        "decision_columns": dict(columns),
        **dict(extra or {}),
    }
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return path


def export(
    config: str | Path | Mapping[str, Any] | Config | Inputs,
    folder: str | Path,
    *,
    fmt: str = "mps",
    time_limit: float | None = None,
) -> list[ExportedModel]:
    """Write the MILPs of the first pass of ``solve`` into ``folder`` (module docstring).

    Parameters
    ----------
    config
        A config file, mapping, :class:`~monet_opt.config.Config` or
        :class:`~monet_opt.api.inputs.Inputs`.
    folder
        Existing output folder.
    fmt
        ``"mps"`` or ``"lp"``.
    time_limit
        Seconds for the allocation MILP whose answer fixes the allocation of the fusion
        and checkpointing models (default ``solver.time_limit_s``).

    Returns
    -------
    list[ExportedModel]

    Raises
    ------
    InputError
        On invalid input or an unknown format.
    """
    if fmt not in FORMATS:
        raise InputError(None, "--format", f"invalid value {fmt!r}; allowed: mps, lp")
    inputs = config if isinstance(config, Inputs) else load(config)
    cfg = inputs.config
    problem = inputs.problem
    folder = Path(folder)
    out: list[ExportedModel] = []
    objectives = ["latency", "energy"] if cfg.objective == "edp" else [cfg.objective]
    for obj in objectives:
        name = "allocation" if obj == cfg.objective or obj == "latency" else f"allocation_{obj}"
        out.append(_export_allocation(inputs, folder, name, obj, fmt))
    budget = footprint_budget(inputs) if cfg.checkpointing.mode == "optimal" else None
    needs_alloc = cfg.fusion.mode == "optimal" or budget is not None
    if not needs_alloc:
        return out
    opts = solver_options(cfg, time_limit)
    obj = cfg.objective if cfg.objective in ("latency", "energy") else "latency"
    alloc = solve_allocation(problem, None, obj, opts).decision.allocation
    if budget is not None:
        out.append(_export_checkpointing(inputs, folder, obj, fmt, alloc, budget.bits))
    if cfg.fusion.mode == "optimal":
        out.append(_export_fusion(inputs, folder, obj, fmt, alloc))
    return out


def _export_allocation(
    inputs: Inputs, folder: Path, name: str, objective: str, fmt: str
) -> ExportedModel:
    problem = inputs.problem
    greedy = Decision(tuple(_greedy(problem)))
    lat = evaluate_fast(problem, greedy.allocation)[0]
    ub = lat * (1 + 1e-9) + 1.0 if objective == "latency" else serial_upper_bound(problem) + 1.0
    model = build_allocation_model(problem, objective, upper_bound=ub)
    h = model.builder.to_highs({})
    path = folder / f"{name}.{fmt}"
    safe = _write(h, model.builder.names, path)
    cols: dict[str, dict[str, Any]] = {}
    for (i, c), col in model.x.items():
        cols[safe[col]] = {
            "kind": "core",
            "node": problem.node_names[i],
            "core_id": int(problem.core_ids[c]),
        }
    cols[safe[model.T]] = {"kind": "makespan", "unit": "cycles"}
    only = {
        problem.node_names[i]: int(problem.core_ids[a[0]])
        for i, a in enumerate(problem.allowed_idx)
        if len(a) == 1
    }
    side = _sidecar(
        folder / f"{name}.json",
        name="allocation",
        model_file=path,
        inputs=inputs,
        objective=objective,
        fixed=Decision(()),
        columns=cols,
        n_vars=model.builder.n_vars,
        n_cons=model.builder.n_cons,
        extra={
            "objective_offset": model.builder.offset,
            "objective_unit": "cycles" if objective == "latency" else "pJ",
            "single_core_nodes": only,
        },
    )
    return ExportedModel(
        name, path, side, model.builder.n_vars, model.builder.n_cons, sum(model.builder.integer)
    )


def _greedy(problem: Any) -> tuple[int, ...]:
    from monet_opt.heuristics.allocation import greedy_allocation

    return greedy_allocation(problem)


def _export_fusion(
    inputs: Inputs, folder: Path, objective: str, fmt: str, alloc: tuple[int, ...]
) -> ExportedModel:
    problem = inputs.problem
    cfg = inputs.config
    model = build_fusion_model(
        problem, allocation=alloc, objective=objective, max_stack=cfg.fusion.max_stack
    )
    h = model.highs
    path = folder / f"fusion.{fmt}"
    safe = _write(h, model.names, path)  # type: ignore[arg-type]
    real = model.realization
    base = [real.origin[d] for d in range(len(real.origin)) if real.recompute_for[d] is None]
    names = problem.node_names
    cols = {
        safe[col]: {"kind": "fuse", "after": names[base[k]], "before": names[base[k + 1]]}
        for k, col in model.u.items()
    }
    side = _sidecar(
        folder / "fusion.json",
        name="fusion",
        model_file=path,
        inputs=inputs,
        objective=objective,
        fixed=Decision(alloc),
        columns=cols,
        n_vars=model.n_vars,
        n_cons=model.n_cons,
        extra={"program_order": [names[i] for i in base]},
    )
    return ExportedModel("fusion", path, side, model.n_vars, model.n_cons, model.n_binaries)


def _export_checkpointing(
    inputs: Inputs,
    folder: Path,
    objective: str,
    fmt: str,
    alloc: tuple[int, ...],
    budget_bits: float | None,
) -> ExportedModel:
    problem = inputs.problem
    model = build_checkpoint_model(
        problem,
        allocation=alloc,
        objective=objective,
        budget_bits=math.inf if budget_bits is None else budget_bits,
    )
    path = folder / f"checkpointing.{fmt}"
    safe = _write(model.highs, model.names, path)  # type: ignore[arg-type]
    cols = {safe[col]: {"kind": "keep", "tensor": a} for a, col in model.keep.items()}
    side = _sidecar(
        folder / "checkpointing.json",
        name="checkpointing",
        model_file=path,
        inputs=inputs,
        objective=objective,
        fixed=Decision(alloc),
        columns=cols,
        n_vars=model.n_vars,
        n_cons=model.n_cons,
        extra={"budget_bits": budget_bits},
    )
    return ExportedModel("checkpointing", path, side, model.n_vars, model.n_cons, model.n_binaries)


# -- reading an answer back -----------------------------------------------------------
def read_solution(source: str | Path | Mapping[str, float]) -> dict[str, float]:
    """Column values of a MILP answer.

    Parameters
    ----------
    source
        A mapping ``name -> value``, or a text file whose lines hold a column name
        followed by its value (``name value`` or ``name = value``: the solution files
        of HiGHS, CBC, GLPK, SCIP and Gurobi all have such lines; comment lines
        starting with ``#``, ``*`` or ``%`` and lines without a number are skipped).

    Raises
    ------
    InputError
        When the file cannot be read or holds no ``name value`` line.
    """
    if isinstance(source, Mapping):
        return {str(k): float(v) for k, v in source.items()}
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(path, None, f"cannot read the solution ({exc.strerror})") from None
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.lstrip().startswith(("#", "*", "%")):  # comment lines
            continue
        tok = line.replace("=", " ").split()
        for k in range(len(tok) - 1):  # "name value" anywhere on the line
            if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", tok[k]):
                try:
                    values[tok[k]] = float(tok[k + 1])
                except ValueError:
                    continue
                break
    if not values:
        raise InputError(path, None, "no 'name value' line found in the solution file")
    return values


def decode_solution(
    sidecar: str | Path | Mapping[str, Any], values: Mapping[str, float]
) -> Decision:
    """The :class:`Decision` encoded by a solution of an exported model.

    Parameters
    ----------
    sidecar
        The model's JSON sidecar (path or parsed mapping).
    values
        Column values (:func:`read_solution`); columns not given count as 0.

    Returns
    -------
    Decision
        A complete decision of the base problem: the exported model's choice plus the
        parts its sidecar holds fixed.  Evaluate it with
        :func:`monet_opt.schedule.evaluator.evaluate` on the config's problem.

    Raises
    ------
    InputError
        For a file that is not a monet-opt sidecar, or an answer that gives a node no
        core.
    """
    if not isinstance(sidecar, Mapping):
        path = Path(sidecar)
        try:
            side = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(path, None, f"not a readable sidecar: {exc}") from None
    else:
        path, side = None, sidecar
    if side.get("format") != SIDECAR_FORMAT:
        raise InputError(path, "format", f"expected {SIDECAR_FORMAT!r}")
    names = side["node_names"]
    index = {n: i for i, n in enumerate(names)}
    fixed = side["fixed"]
    cols = side["decision_columns"]
    on = {c for c, v in values.items() if c in cols and v > 0.5}
    kind = side["formulation"]
    alloc = tuple(fixed["allocation"] or ())
    stacks = tuple(tuple(index[n] for n in st) for st in fixed["stacks"])
    ckpt = fixed["checkpoints"]
    checkpoints = None if ckpt is None else frozenset(ckpt)
    if kind == "allocation":
        cores: dict[str, int] = dict(side.get("single_core_nodes", {}))
        for c in on:
            meta = cols[c]
            if meta["kind"] == "core":
                cores[meta["node"]] = int(meta["core_id"])
        missing = [n for n in names if n not in cores]
        if missing:
            raise InputError(path, None, f"the answer gives no core to node {missing[0]!r}")
        alloc = tuple(cores[n] for n in names)
    elif kind == "fusion":
        order = side["program_order"]
        fused = {order.index(cols[c]["after"]) for c in on if cols[c]["kind"] == "fuse"}
        runs, cur = [], [order[0]] if order else []
        for k in range(len(order) - 1):
            if k in fused:
                cur.append(order[k + 1])
            else:
                if len(cur) > 1:
                    runs.append(tuple(index[n] for n in cur))
                cur = [order[k + 1]]
        if len(cur) > 1:
            runs.append(tuple(index[n] for n in cur))
        stacks = tuple(runs)
    elif kind == "checkpointing":
        checkpoints = frozenset(cols[c]["tensor"] for c in on if cols[c]["kind"] == "keep")
    prio = fixed["priority"]
    return Decision(alloc, None if prio is None else tuple(prio), stacks, checkpoints)
