"""The pytest-process side of a run: options, cells and tiers, the matrix, expectations, statuses, verdicts, results."""
