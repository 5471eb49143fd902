"""Throwaway servers and process helpers for local runs, tests, benchmarks and chaos runs.

Development and test tooling only: nothing in the services imports it.
"""
