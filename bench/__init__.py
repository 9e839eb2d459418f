"""The side-by-side benchmarks: `make bench` runs `bench/run.py`.

The helper modules are private; `bench.run` is the entry point and
`bench._scenarios.run_all` the one function the smoke test drives.
"""
