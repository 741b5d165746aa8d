"""A user's case and converter modules join the matrix; results are complete under xdist."""
import textwrap

from tests import helpers

MISSING_CONVERTER = textwrap.dedent('''
    from conformance.converters.base import Converter

    class Fancy(Converter):
        name = "fancy"
        distribution = "fancy-onnx"
        summary = "fancy_onnx.convert(model)"

        def load(self):
            import fancy_onnx_that_is_not_installed  # noqa: F401

    CONVERTER = Fancy()
''')


def run_matrix(tmp_path, *args, timeout=600):
    return helpers.run_matrix(tmp_path / "reports", *args, timeout=timeout)


def test_user_converter_row_is_unavailable_with_the_exact_reason_under_xdist(tmp_path):
    mod = tmp_path / "fancy.py"
    mod.write_text(MISSING_CONVERTER)
    proc, doc = run_matrix(tmp_path, "--converters-module", str(mod), "--converters", "fancy",
                           "--opsets", "11,13", "-k", "seed_lstm or mlp_softmax", "-n", "2")
    assert proc.returncode == 1, proc.stdout[-2000:]  # UNAVAILABLE is a failure unless expected
    ids = sorted(r["id"] for r in doc["records"])
    assert ids == sorted(f"{c}-fancy-opset{o}" for c in ("seed_lstm", "seed_lstm_seq16", "mlp_softmax") for o in (11, 13))
    for r in doc["records"]:
        assert r["status"] == "UNAVAILABLE"
        assert "No module named 'fancy_onnx_that_is_not_installed'" in r["reason"]
        assert r["nodeid"].startswith("conformance/test_matrix.py::test_cell[")
    assert doc["converters"]["fancy"]["available"] is False
    assert doc["run"]["complete"] is True and doc["run"]["xdist_workers"] == 2
    assert not (tmp_path / "reports" / "results.partial.jsonl").exists()
    assert not (tmp_path / "reports" / ".work").exists()  # the run cleans its scratch space


def test_user_case_module_joins_the_matrix_and_converts(tmp_path):
    """Real conversion: examples/my_cases.py through tf2onnx.convert.from_keras at opset 13."""
    proc, doc = run_matrix(tmp_path, "--cases-module", "examples/my_cases.py", "-k", "my_",
                           "--converters", "tf2onnx-keras", "--opsets", "13")
    assert doc is not None, proc.stdout[-3000:] + proc.stderr[-3000:]
    by_case = {r["case"]: r for r in doc["records"]}
    assert set(by_case) == {"my_conv1d_classifier", "my_scorer_with_inputs", "my_layernorm_mlp"}
    assert by_case["my_conv1d_classifier"]["family"] == "user"
    for r in by_case.values():
        assert r["status"] == "PASS", (r["id"], r["reason"])
        assert r["stages"]["compare"]["ok"] and r["facts"]["op_histogram"]
    # the (model, inputs) form uses the user's 5 rows, then the first row alone
    assert by_case["my_scorer_with_inputs"]["stages"]["build"]["batches"] == [5, 1]
    assert proc.returncode == 0, proc.stdout[-2000:]
