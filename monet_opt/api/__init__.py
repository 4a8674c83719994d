"""monet-opt's workflows as plain functions: the command line is a thin layer over them.

The README's main job in Python::

    from monet_opt import api

    run = api.solve("examples/resnet18_cifar_edge.yaml")       # exact joint solve
    print(run.milp.status, run.milp.simulated, run.milp.bound, run.milp.gap)
    front = api.pareto("examples/resnet18_cifar_edge.yaml", points=8)
    cmp = api.compare("examples/resnet18_cifar_edge.yaml", seeds=2, spaces=["fusion"])

* :func:`load` builds a run's :class:`Inputs` (training graph, accelerator, scheduling
  problem) from a config file, mapping or :class:`~monet_opt.config.Config`;
* :func:`solve`, :func:`pareto` and :func:`compare` return result objects
  (:class:`SolveRun`, :class:`ParetoRun`, :class:`Comparison`);
* :func:`export` writes the MILPs ``solve`` would build as MPS/LP files with a JSON
  sidecar, and :func:`read_solution` and :func:`decode_solution` map another solver's answer back
  to a :class:`~monet_opt.schedule.types.Decision`.

Every input problem raises :class:`~monet_opt.errors.InputError` naming the file and
field (``config.yaml: checkpointing.budget_mib: ...``).
"""

from monet_opt.api.compare import CompareSettings, Comparison, compare, compare_problem
from monet_opt.api.export import ExportedModel, decode_solution, export, read_solution
from monet_opt.api.inputs import Budget, Inputs, fixed_stacks, footprint_budget, load
from monet_opt.api.pareto import ParetoRun, pareto
from monet_opt.api.solve import SolveRun, solve
from monet_opt.errors import InputError

__all__ = [
    "Budget",
    "Comparison",
    "CompareSettings",
    "Inputs",
    "InputError",
    "ParetoRun",
    "SolveRun",
    "compare",
    "compare_problem",
    "decode_solution",
    "export",
    "ExportedModel",
    "read_solution",
    "fixed_stacks",
    "footprint_budget",
    "load",
    "pareto",
    "solve",
]
