"""Benchmarks of the fleet against what users would pick instead (see bench/README.md)."""
