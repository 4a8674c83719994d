"""Fixtures of the report tests: small solved problems shared by the package."""

from __future__ import annotations

import pytest

from monet_opt.formulations.checkpointing import solve_checkpointing, store_all_footprint
from monet_opt.formulations.options import SolverOptions
from monet_opt.ga import run_ga
from monet_opt.hardware.yaml_io import accelerator_from_dict
from monet_opt.models import build_model, derive_training_graph
from monet_opt.schedule.problem import build_problem
from tests.report.helpers import ACC


@pytest.fixture(scope="package")
def problem():
    graph = derive_training_graph(build_model("mlp", batch=2, sizes=(32, 64, 64, 10)))
    return build_problem(graph, accelerator_from_dict(ACC))


@pytest.fixture(scope="package")
def ga_result(problem):
    return run_ga(problem, "latency", population=8, generations=3, seed=0)


@pytest.fixture(scope="package")
def ck_problem():
    graph = derive_training_graph(build_model("mlp", batch=2, sizes=(32, 64, 64, 64, 10)))
    return build_problem(graph, accelerator_from_dict(ACC), order="layerwise")


@pytest.fixture(scope="package")
def ck_result(ck_problem):
    """A proven-optimal checkpointing solve at 60 % of the store-all footprint."""
    budget = 0.6 * store_all_footprint(ck_problem)
    res = solve_checkpointing(
        ck_problem, None, "latency", SolverOptions(time_limit=20), budget_bits=budget
    )
    assert res.status == "optimal"
    return res, budget
