"""Test doubles shared by the tests and the benchmarks (no pytest imports here)."""
