"""Result reporting: ``result.json``, schedule/memory plots and the terminal summary."""

from monet_opt.report.plots import plot_memory, plot_schedule
from monet_opt.report.result_json import result_dict, software_versions, write_result
from monet_opt.report.summary import print_summary

__all__ = [
    "write_result",
    "result_dict",
    "software_versions",
    "plot_schedule",
    "plot_memory",
    "print_summary",
]
