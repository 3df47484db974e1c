"""pytest-benchmark configuration for ``pytest benchmarks/``.

The benchmark modules import their shared set-up from ``benchmarks/_common.py``; this
folder is put on ``sys.path`` so that works from any working directory. The environment
(versions, threads, BLAS) is attached to the saved benchmark JSON.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def pytest_benchmark_update_machine_info(config, machine_info):
    from _common import environment
    machine_info["minirocket_env"] = environment()
