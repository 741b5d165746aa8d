"""Reports built from results files only: the HTML matrix, diffs against a baseline, merging.

Nothing here runs a conversion or decides a status; it reads records that
:mod:`conformance.run.verdict` already decided.  Command line:
``python -m conformance.report {html,diff,merge,rebuild} ...``.
"""
