"""Cold start: a fresh process loads the saved model and predicts once (batch 1).

Keras loads the ``.keras`` file (keras package) or the SavedModel (tf_keras,
hub), then ``model.predict``; onnxruntime opens the ``.onnx`` file, then
``session.run``.  One unrecorded run goes first (so the OS file cache is warm
for both sides alike), then ``--bench-cold-runs`` recorded runs.
pytest-benchmark's statistics are the wall time of each child process; the
child's own timing (launch to first prediction, and its import/load/predict
parts) goes to ``extra_info`` and is what the speedup table uses.
"""
from __future__ import annotations


from benchmarks import _bench

BATCH = 1


# the benchmark marker (with its group) comes with each parameter, see benchmarks/conftest.py
def test_cold(benchmark, bench_state, cold):
    name, side = cold
    prepared = bench_state.prepared(name)
    runs: list[dict] = []

    def once():
        runs.append(_bench.cold_start(prepared, side, BATCH, bench_state.intra, bench_state.inter,
                                      bench_state.spinning))

    benchmark.pedantic(once, rounds=bench_state.cold_runs, iterations=1, warmup_rounds=1)
    recorded = runs[-bench_state.cold_runs:]  # the first entry is the warm-up run
    # --benchmark-disable (a smoke run) calls `once` a single time
    assert len(recorded) == (1 if benchmark.disabled else bench_state.cold_runs)
    benchmark.extra_info.update({
        "case": name, "batch": BATCH, "mode": "cold_keras" if side == "keras" else "cold_onnxruntime",
        "keras": prepared.case.keras, "artifact": recorded[0]["artifact"], "loader": recorded[0]["kind"],
        "converter": prepared.conversion["converter"], "opset": prepared.conversion["opset"],
        "intra_op": bench_state.intra, "inter_op": bench_state.inter,
        **{key: [r[key] for r in recorded] for key in ("since_launch_s", "in_process_s", "import_s", "load_s",
                                                         "predict_s", "wall_s")},
    })
    assert all(r["output_shape"][0] == BATCH for r in recorded)
