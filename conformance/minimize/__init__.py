"""From a failing cell to the smallest Keras model that fails the same way.

    python -m conformance.report minimize CELL_ID RESULTS --out DIR [--budget SECONDS]

The cell's case is built once in this process (the suite's own build: a ``--model`` file with the
run's custom objects, or a case of the suite), every tensor's value recorded on the cell's first batch
(:mod:`conformance.minimize.graph`; nested models opened into their layers), then the passes
(:mod:`conformance.minimize.passes`) propose smaller models made of the same layers (fewer layers, then
smaller settings and inputs), each judged by one oracle (:mod:`conformance.minimize.oracle`: the candidate
saved and run as a cell through the worker pool, failing the same way or not; a model that does not survive
a file is rebuilt from its case in the worker instead, :mod:`conformance.minimize.spec`), until none makes
progress or the budget is spent.  DIR gets the smallest model (``model.keras``, ``inputs.npz``), a cases
module (``case.py``: ``--cases-module DIR/case.py`` runs it through the matrix), the standalone repro of its
cell (``repro/repro.py``), ``report.md`` (what it came from, how much smaller, the failure, the call),
``reduction.json`` and ``record.json``.  A glob of cell ids reduces each (:mod:`conformance.minimize.batch`,
also ``pytest ... --minimize``).  docs/minimize.md.
"""
