"""Benchmarks for sropt (issue 7): runtime matrix, frontier, pipeline wall time, arithmetic floor.

Run from the project root, e.g. ``python -m benchmarks.runtime_matrix --quick``.
They import the sropt libraries (timing, environment and runners come from
``sropt.validate``) and write a JSON result plus a markdown table under
``benchmarks/results/``. See benchmarks/README.md.
"""
