"""Warm inference: Keras predict, a direct model call, a compiled tf.function, onnxruntime session.run.

Every mode runs on the same inputs (the case's own generator at batch 1 and a
larger batch), in this process, with the same thread counts, and returns NumPy
arrays.  Each callable runs twice before pytest-benchmark starts timing, so
predict's and tf.function's tracing and onnxruntime's first-run allocations
are not measured.
"""
from __future__ import annotations


from benchmarks import _bench

WARMUP_CALLS = 2


# the benchmark marker (with its group) comes with each parameter, see benchmarks/conftest.py
def test_warm(benchmark, bench_state, warm):
    name, batch, mode = warm
    prepared = bench_state.prepared(name)
    fn = prepared.mode_fn(mode, batch)
    for _ in range(WARMUP_CALLS):
        fn()
    check = prepared.checks[batch]
    benchmark.extra_info.update({
        "case": name, "batch": batch, "mode": mode, "keras": prepared.case.keras,
        "converter": prepared.conversion["converter"], "opset": prepared.conversion["opset"],
        "intra_op": bench_state.intra, "inter_op": bench_state.inter,
        "max_abs_diff": check["max_abs_diff"], "outputs_match": check["outputs_match"],
    })
    result = benchmark(fn)
    assert result is not None
    if mode == "tf_function":
        # one trace for this batch's shapes; a retrace inside the timing would measure tracing
        traces = prepared.tf_function.experimental_get_tracing_count()
        benchmark.extra_info["traces"] = traces
        assert traces <= len(prepared.inputs), f"tf.function retraced ({traces} traces)"
    if mode == _bench.ORT and not check["outputs_match"]:
        benchmark.extra_info["problems"] = check["problems"]
