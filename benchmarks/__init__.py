"""The project's benchmarks, run as modules from the repository root: ``python -m benchmarks.bench_training``.

A package so that the benchmarks share :mod:`benchmarks.common` (machine, commit, versions, writing
results) and each other's runs by import, with no ``sys.path`` edits.
"""
