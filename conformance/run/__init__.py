"""The pytest-process side of a run: options, cells and tiers, the matrix, statuses, verdicts, results (the causes registry is conformance/causes.py)."""
