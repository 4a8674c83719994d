"""CLI: validate / solve, and one-line errors with exit status 2 on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from monet_opt.cli import cli, main
from tests.factories import accelerator_dict

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

ACC = accelerator_dict("cli_dual")

CONFIG = {
    "workload": {"model": "mlp", "options": {"batch": 2, "sizes": [32, 64, 10]}},
    "accelerator": "acc.yaml",
    "objective": "latency",
    "solver": {"time_limit_s": 20},
    "ga": {"population": 8, "generations": 3, "seed": 1},
}


@pytest.fixture()
def runner():
    return CliRunner()


@pytest.fixture()
def cfg_path(tmp_path):
    (tmp_path / "acc.yaml").write_text(yaml.safe_dump(ACC))
    p = tmp_path / "tiny.yaml"
    p.write_text(yaml.safe_dump(CONFIG))
    return p


def _write(tmp_path, data, name="bad.yaml"):
    (tmp_path / "acc.yaml").write_text(yaml.safe_dump(ACC))
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return p


def _assert_input_error(result, *needles):
    assert result.exit_code == 2, result.output
    err = result.stderr
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output + err
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def test_validate_ok(runner, cfg_path):
    r = runner.invoke(cli, ["validate", str(cfg_path)])
    assert r.exit_code == 0, r.output + r.stderr
    for needle in ("mlp-train", "forward", "backward", "optimizer", "parameters", "mac0", "OK"):
        assert needle in r.stdout


@pytest.mark.parametrize("name", ["resnet18_cifar_edge.yaml", "gpt2_mini_datacenter.yaml"])
def test_validate_examples(runner, name):
    cfg = yaml.safe_load((EXAMPLES / name).read_text())
    if not (EXAMPLES / cfg["accelerator"]).exists():
        pytest.skip("example hardware not written yet")
    r = runner.invoke(cli, ["validate", str(EXAMPLES / name)])
    assert r.exit_code == 0, r.output + r.stderr
    assert "OK" in r.stdout


def test_bad_enum(runner, tmp_path):
    p = _write(tmp_path, {**CONFIG, "objective": "speed"})
    _assert_input_error(
        runner.invoke(cli, ["validate", str(p)]), "bad.yaml", "objective", "latency, energy, edp"
    )


def test_unknown_key(runner, tmp_path):
    p = _write(tmp_path, {**CONFIG, "workload": {**CONFIG["workload"], "bach": 4}})
    _assert_input_error(
        runner.invoke(cli, ["validate", str(p)]), "bad.yaml", "workload.bach", "allowed keys"
    )


def test_missing_files(runner, tmp_path):
    p = _write(tmp_path, {**CONFIG, "accelerator": "missing.yaml"})
    _assert_input_error(
        runner.invoke(cli, ["validate", str(p)]), "bad.yaml", "accelerator", "missing.yaml"
    )
    _assert_input_error(runner.invoke(cli, ["validate", str(tmp_path / "nope.yaml")]), "nope.yaml")
    _assert_input_error(runner.invoke(cli, ["solve", str(tmp_path / "nope.yaml")]), "nope.yaml")


def test_bad_model_and_bad_hardware(runner, tmp_path):
    p = _write(tmp_path, {**CONFIG, "workload": {"model": "alexnet"}})
    _assert_input_error(runner.invoke(cli, ["validate", str(p)]), "workload.model", "mini-lm")
    p = _write(tmp_path, CONFIG, name="ok.yaml")
    (tmp_path / "acc.yaml").write_text("format: monet-opt/accelerator@1\nname: x\ncores: 3\n")
    _assert_input_error(runner.invoke(cli, ["validate", str(p)]), "acc.yaml", "cores")


def test_bad_onnx(runner, tmp_path):
    (tmp_path / "net.onnx").write_bytes(b"not an onnx file")
    p = _write(tmp_path, {**CONFIG, "workload": {"onnx": "net.onnx", "options": {"batch": 1}}})
    _assert_input_error(runner.invoke(cli, ["validate", str(p)]), "net.onnx")


def test_invalid_yaml(runner, tmp_path):
    p = _write(tmp_path, "workload: {model: mlp\n")
    _assert_input_error(runner.invoke(cli, ["solve", str(p)]), "bad.yaml", "YAML")


def test_solve_ga(runner, cfg_path, tmp_path):
    out = tmp_path / "res"
    r = runner.invoke(
        cli, ["solve", str(cfg_path), "--method", "ga", "--seed", "4", "--out", str(out)]
    )
    assert r.exit_code == 0, r.output + r.stderr
    d = json.loads((out / "result.json").read_text())
    assert d["best_method"] == "ga" and d["methods"]["ga"]["seed"] == 4
    assert d["inputs"]["paths"]["config"] == str(cfg_path.resolve())
    for png in ("schedule.png", "memory.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert "latency" in r.stdout and "GA (DEAP)" in r.stdout


def test_solve_default_out_dir(runner, cfg_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(cli, ["solve", str(cfg_path), "--method", "ga", "--no-plots"])
    assert r.exit_code == 0, r.output + r.stderr
    assert (tmp_path / "out" / "tiny" / "result.json").exists()
    assert not (tmp_path / "out" / "tiny" / "schedule.png").exists()


def test_solve_both(runner, cfg_path, tmp_path):
    out = tmp_path / "both"
    r = runner.invoke(
        cli, ["solve", str(cfg_path), "--method", "both", "--time-limit", "20", "--out", str(out)]
    )
    assert r.exit_code == 0, r.output + r.stderr
    d = json.loads((out / "result.json").read_text())
    assert set(d["methods"]) == {"milp", "ga"}
    assert "MILP (HiGHS)" in r.stdout and "GA (DEAP)" in r.stdout
    milp = d["methods"]["milp"]
    # under memory capacities the MILP answer is the joint allocation + placement: each
    # block is proven optimal (8 flexible nodes: milliseconds), the whole is bounded by
    # the global bounds
    assert milp["status"] in ("optimal", "feasible")
    assert d["decisions_exact"]["blocks_optimal"]
    assert {h["step"] for h in d["decisions_exact"]["history"]} == {"allocation", "placement"}
    assert milp["bound"] <= milp["simulated"] <= d["methods"]["ga"]["best"] * (1 + 1e-4)


def test_main_version(capsys):
    with pytest.raises(SystemExit) as ei:
        main(["--version"])
    assert ei.value.code == 0
    assert "monet-opt" in capsys.readouterr().out


def test_main_bad_input_exit_code(tmp_path, capsys):
    with pytest.raises(SystemExit) as ei:
        main(["validate", str(tmp_path / "absent.yaml")])
    assert ei.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "absent.yaml" in err


# -- fusion / checkpointing / pareto ------------------------------------------------------
DEEP = {
    **CONFIG,
    "workload": {"model": "mlp", "options": {"batch": 2, "sizes": [32, 64, 64, 64, 10]}},
    "schedule": {"order": "layerwise"},
}
CKPT = {**DEEP, "checkpointing": {"mode": "optimal", "budget_fraction": 0.6}}


def _read_csv(path):
    import csv

    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_pareto_end_to_end(runner, tmp_path):
    from monet_opt.report.pareto import CSV_COLUMNS

    p = _write(tmp_path, {**DEEP, "pareto": {"points": 4, "objective": "both"}}, "deep.yaml")
    out = tmp_path / "front"
    r = runner.invoke(cli, ["pareto", str(p), "--out", str(out), "--time-limit", "20"])
    assert r.exit_code == 0, r.output + r.stderr
    assert (out / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(q.name for q in out.iterdir()) == ["pareto.csv", "pareto.png"]
    header = (out / "pareto.csv").read_text().splitlines()[0]
    assert tuple(header.split(",")) == CSV_COLUMNS
    rows = _read_csv(out / "pareto.csv")
    assert [r_["objective_name"] for r_ in rows] == ["latency"] * 4 + ["energy"] * 4
    optimal = [r_ for r_ in rows if r_["status"] == "optimal"]
    assert len(optimal) >= 3
    for row in rows:
        assert float(row["budget_mib"]) == pytest.approx(float(row["budget_bits"]) / (8 * 2**20))
        assert float(row["peak_footprint_mib"]) <= float(row["budget_mib"]) * (1 + 1e-9)
        assert int(row["n_kept"]) + int(row["n_recomputed"]) == 4
    lat = [r_ for r_ in optimal if r_["objective_name"] == "latency"]
    vals = [float(r_["objective"]) for r_ in sorted(lat, key=lambda r_: float(r_["budget_bits"]))]
    assert vals == sorted(vals, reverse=True)  # more memory never costs more recompute
    assert vals[-1] == 0.0  # the store-all budget needs no recomputation
    assert float(lat[0]["simulated"]) == pytest.approx(float(lat[0]["objective"]))
    assert "minimum feasible budget" in r.stdout and "Checkpointing front" in r.stdout


def test_pareto_overrides(runner, tmp_path):
    p = _write(tmp_path, DEEP, "deep.yaml")
    out = tmp_path / "front"
    r = runner.invoke(
        cli,
        ["pareto", str(p), "--points", "3", "--objective", "latency", "--allocation", "greedy",
         "--out", str(out), "--no-plots"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output + r.stderr
    rows = _read_csv(out / "pareto.csv")
    assert len(rows) == 3 and {r_["objective_name"] for r_ in rows} == {"latency"}
    assert not (out / "pareto.png").exists()
    r = runner.invoke(cli, ["pareto", str(p), "--points", "1"])
    assert r.exit_code == 2 and "--points" in r.stderr


def test_solve_joint_input_errors(runner, tmp_path):
    p = _write(tmp_path, CKPT, "ck.yaml")
    _assert_input_error(
        runner.invoke(cli, ["solve", str(p), "--objective", "edp"]),
        "ck.yaml", "objective", "'edp'", "latency, energy",
    )  # fmt: skip
    p = _write(tmp_path, {**CKPT, "objective": "edp"}, "ck_edp.yaml")
    _assert_input_error(
        runner.invoke(cli, ["validate", str(p)]), "ck_edp.yaml", "objective", "latency, energy"
    )
    tiny = {**DEEP, "checkpointing": {"mode": "optimal", "budget_mib": 1e-6}}
    p = _write(tmp_path, tiny, "ck_tiny.yaml")
    _assert_input_error(
        runner.invoke(cli, ["solve", str(p)]),
        "checkpointing.budget_mib", "minimum feasible", "MiB",
    )  # fmt: skip
    fixed = {**DEEP, "fusion": {"mode": "fixed", "stacks": [["fc0", "fcX"]]}}
    p = _write(tmp_path, fixed, "fx.yaml")
    _assert_input_error(
        runner.invoke(cli, ["solve", str(p)]), "fusion.stacks[0]", "unknown node 'fcX'"
    )


def test_solve_ga_searches_checkpoints_within_budget(runner, tmp_path):
    p = _write(tmp_path, CKPT, "ck.yaml")
    out = tmp_path / "ga"
    r = runner.invoke(cli, ["solve", str(p), "--method", "ga", "--out", str(out), "--no-plots"])
    assert r.exit_code == 0, r.output + r.stderr
    assert "allocation only" not in r.stderr
    d = json.loads((out / "result.json").read_text())
    assert d["best_method"] == "ga" and "decisions_exact" not in d
    assert d["inputs"]["config"]["checkpointing"]["budget_fraction"] == 0.6
    assert (out / "trace_ga.json").exists()


def test_solve_ga_with_greedy_fusion_prints_note(runner, tmp_path):
    p = _write(tmp_path, {**CONFIG, "fusion": {"mode": "greedy"}}, "gr.yaml")
    r = runner.invoke(cli, ["solve", str(p), "--method", "ga", "--out", str(tmp_path / "g")])
    assert r.exit_code == 0, r.output + r.stderr
    assert "allocation only" in r.stderr


def test_solve_checkpointing_optimal(runner, tmp_path):
    p = _write(tmp_path, CKPT, "ck.yaml")
    out = tmp_path / "ck"
    r = runner.invoke(cli, ["solve", str(p), "--out", str(out), "--time-limit", "20"])
    assert r.exit_code == 0, r.output + r.stderr
    d = json.loads((out / "result.json").read_text())
    assert d["best_method"] == "milp"
    assert isinstance(d["decisions_exact"], dict) and d["decisions_exact"]
    fc = d["fusion_checkpointing"]
    ck = fc["checkpointing"]
    assert ck["n_candidates"] == len(ck["kept"]) + len(ck["recomputed"]) == 4
    assert ck["recomputed"]  # 60 % of the store-all footprint forces recomputation
    fp = fc["footprint"]
    assert fp["peak_within_budget"] is True
    assert fp["peak_footprint_bits"] <= fp["budget_bits"] * (1 + 1e-9)
    assert fp["budget_bits"] == pytest.approx(0.6 * fp["store_all_footprint_bits"])
    sched = fc["schedule"]
    assert sched["latency_cycles"] == pytest.approx(d["metrics"]["latency_cycles"])
    assert sched["recompute_cycles"] > 0
    for png in ("schedule.png", "memory.png", "footprint.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert "Decisions (exact" in r.stdout and "activation footprint" in r.stdout


def test_solve_fixed_fusion_energy(runner, tmp_path):
    stacks = [["fc2.dW", "fc2.weight.adamw"], ["fc1.dW", "fc1.weight.adamw"]]
    data = {**DEEP, "objective": "energy", "fusion": {"mode": "fixed", "stacks": stacks}}
    p = _write(tmp_path, data, "fx.yaml")
    out = tmp_path / "fx"
    r = runner.invoke(cli, ["solve", str(p), "--out", str(out), "--no-plots"])
    assert r.exit_code == 0, r.output + r.stderr
    d = json.loads((out / "result.json").read_text())
    fc = d["fusion_checkpointing"]
    assert sorted(fc["fusion"]["stacks"]) == sorted(stacks)
    assert fc["checkpointing"]["mode"] == "store-all" and fc["checkpointing"]["recomputed"] == []
    assert fc["footprint"]["budget_bits"] is None
    assert d["decisions_exact"]["objective_name"] == "energy"
    assert "Fusion baselines" in r.stdout


# -- issue 9 §6: every accepted input runs safely --------------------------------------------
def test_resource_bounds_are_validated(runner, tmp_path):
    """``ga.processes: 1000000`` forked until the machine's load reached 92."""
    for section, key, value in (
        ("ga", "processes", 1_000_000),
        ("ga", "population", 10**7),
        ("solver", "threads", 100_000),
        ("pareto", "points", 10**6),
    ):
        data = {**CONFIG, section: {**CONFIG.get(section, {}), key: value}}
        p = _write(tmp_path, data)
        _assert_input_error(runner.invoke(cli, ["validate", str(p)]), f"{section}.{key}", "<=")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN"])
@pytest.mark.parametrize(
    "argv",
    [
        ["solve", "--time-limit"],
        ["pareto", "--time-limit"],
        ["compare", "--budget-seconds"],
        ["compare", "--min-seconds"],
        ["compare", "--time-limit"],
    ],
)
def test_non_finite_options_are_rejected(runner, cfg_path, argv, value):
    """``compare --budget-seconds nan`` never stopped."""
    r = runner.invoke(cli, [argv[0], str(cfg_path), argv[1], value])
    assert r.exit_code == 2, r.output
    assert argv[1] in r.stderr and "finite" in r.stderr


def test_bad_out_fails_before_any_work(runner, cfg_path, tmp_path, monkeypatch):
    """A read-only folder, a path under a file or an uncreatable path: exit 2 at once."""
    from monet_opt import api

    def boom(*a, **k):  # the inputs must not even be built
        raise AssertionError("work started before the output folder was checked")

    monkeypatch.setattr(api, "load", boom)
    monkeypatch.setattr(api, "compare", boom)
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    bad = [a_file, a_file / "sub", Path("/proc/monet-opt-cannot-create/out")]
    import os

    if os.geteuid() != 0:  # root ignores permissions
        bad.append(ro / "out")
    for out in bad:
        for cmd in ("solve", "pareto", "compare"):
            line = _assert_input_error(
                runner.invoke(cli, [cmd, str(cfg_path), "--out", str(out)]), "--out"
            )
            assert str(out) in line
    ro.chmod(0o700)


def test_rerun_keeps_previous_set_and_no_staging_left(runner, cfg_path, tmp_path):
    out = tmp_path / "res"
    args = ["solve", str(cfg_path), "--method", "ga", "--no-plots", "--out", str(out)]
    assert runner.invoke(cli, [*args, "--seed", "1"]).exit_code == 0
    first = json.loads((out / "result.json").read_text())
    assert runner.invoke(cli, [*args, "--seed", "2"]).exit_code == 0
    prev = json.loads((tmp_path / "res.previous" / "result.json").read_text())
    assert prev["methods"]["ga"]["seed"] == first["methods"]["ga"]["seed"] == 1
    assert json.loads((out / "result.json").read_text())["methods"]["ga"]["seed"] == 2
    assert sorted(q.name for q in tmp_path.iterdir() if q.name.startswith(".staging")) == []
    assert not [q for q in out.rglob("*") if q.name.startswith(".")]


def test_failed_run_leaves_old_set(runner, tmp_path):
    p = _write(tmp_path, CONFIG, "ok.yaml")
    out = tmp_path / "res"
    assert runner.invoke(cli, ["solve", str(p), "--method", "ga", "--out", str(out)]).exit_code == 0
    before = sorted(q.name for q in out.iterdir())
    bad = _write(tmp_path, {**CONFIG, "checkpointing": {"mode": "optimal", "budget_mib": 1e-9}})
    r = runner.invoke(cli, ["solve", str(bad), "--out", str(out)])
    assert r.exit_code == 2
    assert sorted(q.name for q in out.iterdir()) == before


def test_two_runs_into_one_folder_do_not_interleave(runner, cfg_path, tmp_path):
    from monet_opt.atomic import OutputFolder

    out = tmp_path / "res"
    with OutputFolder(out):  # another run holds the folder
        line = _assert_input_error(
            runner.invoke(cli, ["solve", str(cfg_path), "--method", "ga", "--out", str(out)]),
            "--out",
            "another monet-opt run",
        )
    assert str(out) in line
    r = runner.invoke(cli, ["solve", str(cfg_path), "--method", "ga", "--out", str(out)])
    assert r.exit_code == 0, r.output + r.stderr


@pytest.mark.parametrize(
    "text, needle",
    [
        (
            "a: &a [x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n"
                for p, c in zip("abcdefgh", "bcdefghi", strict=True)
            )
            + "workload: {model: mlp}\naccelerator: acc.yaml\n",
            "alias",
        ),
        ("x: " + "[" * 1000 + "]" * 1000 + "\n", "deep"),
        ("workload: {model: mlp}\nworkload: {model: mlp}\naccelerator: acc.yaml\n", "duplicate"),
    ],
    ids=["alias-bomb", "deep-nesting", "duplicate-key"],
)
def test_hostile_yaml_gives_a_short_error(runner, tmp_path, text, needle):
    p = _write(tmp_path, text)
    line = _assert_input_error(runner.invoke(cli, ["validate", str(p)]), "bad.yaml")
    assert needle in line.lower() and len(line) < 1000


def test_yaml11_booleans_are_not_numbers(runner, tmp_path):
    p = _write(tmp_path, {**CONFIG, "ga": {"processes": "yes"}})
    p.write_text(p.read_text().replace("'yes'", "yes"))
    _assert_input_error(runner.invoke(cli, ["validate", str(p)]), "ga.processes", "integer")
    p = _write(tmp_path, {**CONFIG, "ga": {"processes": True}})
    _assert_input_error(runner.invoke(cli, ["validate", str(p)]), "ga.processes", "boolean")


def test_validate_finds_what_solve_would_reject(runner, tmp_path):
    fixed = {**DEEP, "fusion": {"mode": "fixed", "stacks": [["fc0", "fcX"]]}}
    p = _write(tmp_path, fixed, "fx.yaml")
    _assert_input_error(
        runner.invoke(cli, ["validate", str(p)]), "fusion.stacks[0]", "unknown node 'fcX'"
    )
    apart = {**DEEP, "fusion": {"mode": "fixed", "stacks": [["fc0", "fc2"]]}}
    p = _write(tmp_path, apart, "apart.yaml")
    _assert_input_error(
        runner.invoke(cli, ["validate", str(p)]), "fusion.stacks[0]", "not consecutive"
    )
    tiny = {**DEEP, "checkpointing": {"mode": "optimal", "budget_mib": 1e-6}}
    p = _write(tmp_path, tiny, "ck_tiny.yaml")
    _assert_input_error(
        runner.invoke(cli, ["validate", str(p)]), "checkpointing.budget_mib", "minimum feasible"
    )


def test_onnx_option_errors_blame_workload_options(runner, tmp_path):
    (tmp_path / "net.onnx").write_bytes(b"not read: the option is checked first")
    p = _write(tmp_path, {**CONFIG, "workload": {"onnx": "net.onnx", "options": {"bach": 1}}})
    _assert_input_error(
        runner.invoke(cli, ["validate", str(p)]),
        "bad.yaml",
        "workload.options",
        "'bach'",
        "allowed options: batch",
    )


def test_infeasible_budget_exits_2_and_is_not_reported_as_store_all(tmp_path):
    from monet_opt import api
    from monet_opt.formulations.joint import solve_joint

    p = _write(tmp_path, {**DEEP, "checkpointing": {"mode": "optimal", "budget_mib": 1.0}})
    inputs = api.load(p)
    r = solve_joint(inputs.problem, checkpointing="optimal", budget_bits=1.0)
    assert r.status == "infeasible" and r.simulated == float("inf")
    assert "below the minimum feasible" in r.extra["message"]
