"""monet_opt.api.export: MPS/LP files HiGHS reads back to the same optimum, and sidecars
that map another solver's answer back to a decision."""

from __future__ import annotations

import json

import highspy
import pytest
import yaml
from click.testing import CliRunner

from monet_opt import api
from monet_opt.cli import cli
from monet_opt.formulations.allocation import solve_allocation
from monet_opt.formulations.checkpointing import solve_checkpointing
from monet_opt.formulations.fusion import solve_fusion
from monet_opt.formulations.options import SolverOptions
from monet_opt.schedule.evaluator import evaluate
from monet_opt.schedule.types import Decision
from tests.factories import accelerator_dict


@pytest.fixture()
def config(tmp_path):
    (tmp_path / "acc.yaml").write_text(yaml.safe_dump(accelerator_dict("exp")))
    cfg = {
        "workload": {"model": "mlp", "options": {"batch": 2, "sizes": [32, 64, 64, 10]}},
        "accelerator": "acc.yaml",
        "schedule": {"order": "layerwise"},
        "fusion": {"mode": "optimal", "max_stack": 4},
        "checkpointing": {"mode": "optimal", "budget_fraction": 0.7},
        "solver": {"time_limit_s": 20},
    }
    p = tmp_path / "exp.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def _solve_file(path):
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", 1e-9)
    assert h.readModel(str(path)) == highspy.HighsStatus.kOk
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    names = [h.getColName(k)[1] for k in range(h.getNumCol())]
    values = dict(zip(names, h.getSolution().col_value, strict=True))
    return h.getInfo().objective_function_value, values


@pytest.mark.parametrize("fmt", ["mps", "lp"])
def test_exported_models_solve_to_our_optimum_and_decode(config, tmp_path, fmt):
    inputs = api.load(config)
    p = inputs.problem
    out = tmp_path / f"models_{fmt}"
    out.mkdir()
    models = {m.name: m for m in api.export(inputs, out, fmt=fmt)}
    assert set(models) == {"allocation", "fusion", "checkpointing"}
    opts = SolverOptions(mip_gap=1e-9)
    alloc = solve_allocation(p, None, "latency", opts)
    budget = api.footprint_budget(inputs).bits
    theirs = {}
    for name, m in models.items():
        obj, values = _solve_file(m.model)
        side = json.loads(m.sidecar.read_text())
        assert side["format"] == "monet-opt/milp-sidecar@1" and side["model_file"] == m.model.name
        dec = api.decode_solution(m.sidecar, values)
        theirs[name] = (obj, dec, side)
    obj, dec, _ = theirs["allocation"]
    assert obj == pytest.approx(alloc.objective, rel=1e-6)
    assert evaluate(p, dec).latency == pytest.approx(alloc.simulated, rel=1e-6)
    fixed = Decision(alloc.decision.allocation)
    ck = solve_checkpointing(p, fixed, "latency", opts, budget_bits=budget)
    obj, dec, side = theirs["checkpointing"]
    assert tuple(side["fixed"]["allocation"]) == fixed.allocation
    assert obj == pytest.approx(ck.objective, rel=1e-6, abs=1e-6)
    assert evaluate(p, dec).stats["recompute_cycles"] == pytest.approx(ck.simulated, abs=1e-6)
    fu = solve_fusion(p, fixed, "latency", opts, max_stack=4)
    obj, dec, _ = theirs["fusion"]
    assert obj == pytest.approx(fu.objective, rel=1e-6)
    assert evaluate(p, dec).latency == pytest.approx(fu.simulated, rel=1e-6)


def test_read_solution_file_formats(tmp_path):
    f = tmp_path / "sol.txt"
    f.write_text("Model status: Optimal\n# Columns 3\nx_0_1 1\nT = 523.5\nu_3  0  0.0\n")
    assert api.read_solution(f) == {"x_0_1": 1.0, "T": 523.5, "u_3": 0.0}
    f.write_text("nothing here\n")
    with pytest.raises(api.InputError, match="no 'name value' line"):
        api.read_solution(f)


def test_cli_export(config, tmp_path):
    out = tmp_path / "m"
    r = CliRunner().invoke(cli, ["export", str(config), "--format", "lp", "--out", str(out)])
    assert r.exit_code == 0, r.output + r.stderr
    assert sorted(q.name for q in out.iterdir()) == [
        "allocation.json", "allocation.lp", "checkpointing.json", "checkpointing.lp",
        "fusion.json", "fusion.lp",
    ]  # fmt: skip
    assert "allocation" in r.stdout and "binaries" in r.stdout
    r = CliRunner().invoke(cli, ["export", str(config), "--format", "gms"])
    assert r.exit_code == 2
