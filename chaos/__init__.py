"""Reliability suite: a seeded workload, injected faults, then a checker over what every client saw.

`python -m chaos` runs the scenarios and prints one verdict line each (docs/reliability.md);
`make chaos` runs them as the `chaos` tier of the test suite.
"""
