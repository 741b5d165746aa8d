"""From a failing cell to the smallest Keras model that fails the same way.

    python -m conformance.report minimize CELL_ID RESULTS --out DIR [--budget SECONDS]

The cell's case is built once in this process (the suite's own build: a ``--model`` file with the
run's custom objects, or a case of the suite), every tensor's value recorded on the cell's first batch
(:mod:`conformance.minimize.graph`), then the passes (:mod:`conformance.minimize.passes`) propose
smaller models made of the same layers, each judged by one oracle
(:mod:`conformance.minimize.oracle`: the candidate saved and run as a cell through the worker pool,
failing the same way or not), until none makes progress or the budget is spent.  DIR gets the
smallest model (``model.keras``, ``inputs.npz``), a cases module (``case.py``: ``--cases-module
DIR/case.py`` runs it through the matrix), the standalone repro of its cell (``repro/repro.py``) and
``report.md`` (what it came from, how much smaller, the failure, the call).  docs/minimize.md.
"""
