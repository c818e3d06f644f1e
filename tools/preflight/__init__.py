"""Checks before a long run: the distributed job, a real config on generated data."""
