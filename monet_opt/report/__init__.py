"""Result reporting: ``result.json``, schedule/memory/footprint plots, the terminal summary
and the checkpointing front (:mod:`monet_opt.report.pareto`)."""

from monet_opt.report.plots import plot_footprint, plot_memory, plot_schedule
from monet_opt.report.result_json import result_dict, software_versions, write_result
from monet_opt.report.summary import print_summary

__all__ = [
    "write_result",
    "result_dict",
    "software_versions",
    "plot_schedule",
    "plot_memory",
    "plot_footprint",
    "print_summary",
]
