"""The user's model as it is: custom objects and trust, the model's own batch and precision, causes that
name a failure in a model they never saw (``needs``), and the recommended route.

The first tests are TF-free (the registry, the verdict, the words of a load error, the yardstick, the
routes).  The last ones save models of the twelve kinds users build (tests/user_models/make.py, in a
subprocess) and run them through real converters from an empty directory, as a user would.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from cases import files
from conformance.causes import CausesError, CellView, Registry, parse
from conformance.checks.precision import judge
from conformance.report.route import lines, routes
from conformance.run.options import OptionError, parse_custom_objects
from conformance.run.verdict import Decision, apply_causes
from conformance.statuses import Status
from tests import helpers

HERE = Path(__file__).resolve().parent
MAKE = HERE / "user_models" / "make.py"
USERLAYERS = HERE / "user_models" / "userlayers.py"

VERSIONS = {"tf2onnx": "1.17.0", "keras": "3.15.1", "tensorflow": "2.21.0"}
ERFC = "onnx.checker (full_check) rejects the model: ValidationError: No Op registered for Erfc with domain_version of 13"
TENSORLIST = ("onnx.checker (full_check) rejects the model: ValidationError: No Op registered for TensorListReserve "
              "with domain_version of 17")


def _registry(*causes):
    return Registry(parse({"cause": list(causes)}), VERSIONS)


def _erfc(**kw):
    base = {"id": "erfc", "title": "exact GELU leaves Erfc", "kind": "invalid graph", "signature": "No Op registered for Erfc",
            "converters": ["tf2onnx-keras", "keras-export"], "cases": ["act_fn_gelu"], "when": ["tf2onnx==1.17.0"],
            "needs": {"ops": ["Erfc"]}, "link": "https://github.com/onnx/tensorflow-onnx/pull/2463",
            "reason": "no handler for Erfc", "workaround": "use approximate GELU"}
    return {k: v for k, v in {**base, **kw}.items() if v is not None}


def _user(case="encoder", conv="tf2onnx-keras", opset=13, ops=("Erfc", "MatMul"), layers=("Dense",), settings=None,
          own=False):
    return CellView(case, conv, opset, frozenset(), frozenset(layers), own, frozenset(ops) if ops else None,
                    tuple(settings) if settings else None)


# --- causes for every model ----------------------------------------------------------------------------

def test_a_planted_failure_in_a_users_model_is_named_by_the_cause_it_needs():
    reg = _registry(_erfc())
    m = reg.match(_user(), "INVALID", ERFC)
    assert m.cause.id == "erfc" and m.by == "needs" and "the op Erfc" in m.evidence
    d = apply_causes(Decision(Status.INVALID, ERFC, "checker"), m)
    assert d.status == Status.XFAIL and d.cause == "erfc"
    assert d.reason.startswith("known INVALID [erfc]") and "pull/2463" in d.reason and "approximate GELU" in d.reason


@pytest.mark.parametrize("near_miss", [
    dict(conv="tf2onnx-cli"),            # a converter the cause does not name
    dict(ops=("MatMul",)),               # a model without the op the cause needs
    dict(ops=None),                      # no converted graph to look in
    dict(own=True),                      # the suite's own case: scopes list its cells exactly
])
def test_near_misses_stay_unexplained(near_miss):
    kw = {"case": "encoder", **near_miss}
    m = _registry(_erfc()).match(_user(**kw), "INVALID", ERFC)
    assert m.cause is None
    assert apply_causes(Decision(Status.INVALID, ERFC, "checker"), m).status == Status.INVALID


def test_a_different_failure_or_a_cause_without_needs_does_not_name_a_users_model():
    reg = _registry(_erfc(), _erfc(id="erfc-listed-only", needs=None, converters=["tf2onnx-keras"]))
    assert reg.match(_user(), "INVALID", TENSORLIST).cause is None            # another signature
    assert reg.match(_user(), "RUNTIME_ERROR", ERFC).cause is None            # another status
    assert reg.match(_user(case="act_fn_gelu", own=True), "INVALID", ERFC).cause.id == "erfc"   # listed: by scope
    reg = _registry({k: v for k, v in _erfc().items() if k != "needs"})
    assert reg.match(_user(), "INVALID", ERFC).cause is None                   # no needs: only its listed cases


def test_needs_by_layer_settings_and_by_layer_class():
    grouped = _erfc(id="grouped", signature="PartitionedCall", needs={"settings": [{"layer": "Conv*D", "groups": ">1"}]})
    masked = _erfc(id="masked", kind="silent wrong answer", signature="outputs differ", needs={"layers": ["Masking"]})
    reg = _registry(grouped, masked)
    call = "No Op registered for StatefulPartitionedCall"
    hit = reg.match(_user(settings=[{"class": "Conv2D", "groups": 96}]), "INVALID", call)
    assert hit.cause.id == "grouped" and hit.evidence == "Conv2D(groups=96)"
    assert reg.match(_user(settings=[{"class": "Conv2D", "groups": 1}]), "INVALID", call).cause is None
    assert reg.match(_user(layers=("Masking", "LSTM")), "MISMATCH", "outputs differ from Keras").cause.id == "masked"
    assert reg.match(_user(layers=("LSTM",)), "MISMATCH", "outputs differ from Keras").cause is None
    assert reg.setting_keys() == ["groups"]


def test_a_users_model_that_passes_inside_a_strict_scope_is_a_pass_not_xpass():
    reg = _registry(_erfc(cases=None))   # no case list: the scope takes every case
    user = reg.match(_user(), "PASS")
    assert apply_causes(Decision(Status.PASS, "ok"), user).status == Status.PASS
    own = reg.match(_user(own=True), "PASS")
    assert apply_causes(Decision(Status.PASS, "ok"), own).status == Status.XPASS


@pytest.mark.parametrize("needs, message", [
    ({}, "inline table"),
    ({"opz": ["Erfc"]}, "inline table"),
    ({"any_model": False}, "any_model = true"),
    ({"any_model": True, "ops": ["Erfc"]}, "any_model = true"),
    ({"settings": [{"layer": "Dense", "activation": ["gelu"]}]}, "string, number or boolean"),
])
def test_a_malformed_needs_is_one_line(needs, message):
    with pytest.raises(CausesError, match=message) as err:
        parse({"cause": [_erfc(needs=needs)]})
    assert "\n" not in str(err.value)


def test_the_registry_names_its_known_failures_for_any_model_and_gives_workarounds():
    from conformance.causes import load

    causes = {c.id: c for c in load(helpers.ROOT / "causes.toml")}
    for cid in ("erfc", "tensorlist-lowered-control-flow", "grouped-conv-xla", "masked-rnn-opset9"):
        assert any(s.needs is not None for s in causes[cid].scopes), cid
        assert causes[cid].workaround, cid


# --- loading what Keras loads ---------------------------------------------------------------------------

KERAS_MISSING_CLASS = (
    "<class 'keras.src.models.functional.Functional'> could not be deserialized properly. Please ensure that "
    "components that are Python object instances (layers, models, etc.) returned by `get_config()` are explicitly "
    "deserialized in the model's `from_config()` method.\n\nconfig={'module': 'keras.src.models.functional', "
    + "'x': 1, " * 150 + "}.\n\nException encountered: Could not locate class 'ScaledDense'. Make sure custom classes "
    "are decorated with `@keras.saving.register_keras_serializable()`. Full object config: {'module': 'userlayers', "
    "'class_name': 'ScaledDense', 'config': {'units': 8}, 'registered_name': 'userlayers>ScaledDense'}")


def test_a_model_that_does_not_load_is_one_line_naming_the_class_and_the_flag():
    line = files.load_error(TypeError(KERAS_MISSING_CLASS), "/x/custom_layer.keras", files.Loading())
    assert line == ("custom_layer.keras: could not find class 'userlayers>ScaledDense'; pass the module that defines "
                    "it with --custom-objects FILE.py")
    given = files.load_error(TypeError(KERAS_MISSING_CLASS), "m.keras", files.Loading(("/u/userlayers.py",)))
    assert "--custom-objects userlayers.py does not define it" in given and len(given) < 400
    lam = files.load_error(ValueError("Requested the deserialization of a `Lambda` layer whose `function` is a "
                                      "Python lambda. ... passing `safe_mode=False` ..."), "m.keras")
    assert "--unsafe-deserialization" in lam and "\n" not in lam
    other = files.load_error(OSError("x" * 2000), "m.keras")
    assert len(other) <= files.ERROR_LIMIT and other.startswith("m.keras: OSError:")


def test_custom_objects_options_and_loading_round_trip(tmp_path):
    with pytest.raises(OptionError, match="no such file"):
        parse_custom_objects([str(tmp_path / "missing.py")])
    (tmp_path / "layers.txt").write_text("x")
    with pytest.raises(OptionError, match="not a Python file"):
        parse_custom_objects([str(tmp_path / "layers.txt")])
    assert parse_custom_objects([str(USERLAYERS), str(USERLAYERS)]) == (str(USERLAYERS),)
    loading = files.Loading((str(USERLAYERS),), True)
    assert files.Loading.from_json(json.loads(json.dumps(loading.to_json()))) == loading
    broken = tmp_path / "broken_layers.py"
    broken.write_text("raise RuntimeError('no GPU here')\n")
    with pytest.raises(files.ModelFileError, match="broken_layers.py failed to import: RuntimeError: no GPU here"):
        files.configure(files.Loading((str(broken),)))


# --- the float32 yardstick of a half-precision model ----------------------------------------------------

def test_a_converted_model_no_farther_from_float32_than_keras_passes():
    truth = np.linspace(-1, 1, 12, dtype=np.float32)
    keras_half = truth + np.float32(3e-3)      # Keras's float16 compute, off the float32 truth
    close = truth + np.float32(1e-3)           # a converted model closer to the truth than Keras
    far = truth + np.float32(9e-3)
    assert judge({"output": "y"}, keras_half, close, truth)["passed"]
    j = judge({"output": "y"}, keras_half, far, truth)
    assert not j["passed"] and j["onnx_vs_float32"] > j["keras_vs_float32"]
    assert not judge({"output": "y"}, keras_half, np.full_like(truth, np.nan), truth)["passed"]


# --- the recommended route ------------------------------------------------------------------------------

def _rec(case, conv, opset, observed, err=None, secs=0.1, cause=None, stage=None, module="model:/m.keras"):
    return {"case": case, "case_module": module, "converter": conv, "opset": opset, "observed_status": observed,
            "status": "XFAIL" if cause else observed, "cause": cause, "stage": stage,
            "stages": {"convert": {"ok": True, "seconds": secs, "command": f"{conv}(opset={opset})"}},
            "facts": {} if err is None else {"max_abs_error": err}}


def test_the_route_is_the_passing_cell_with_the_smallest_error_then_the_fastest():
    recs = [_rec("m", "a", 13, "PASS", 2e-7, 0.5), _rec("m", "b", 17, "PASS", 1e-7, 0.9),
            _rec("m", "c", 17, "PASS", 1e-7, 0.2), _rec("m", "d", 13, "INVALID", stage="checker", cause="erfc"),
            _rec("m", "e", 13, "NOT_APPLICABLE"), _rec("own", "a", 13, "PASS", 0.0, module="cases.dense")]
    (r,) = routes(recs, users_only=True)
    assert r and (r.converter, r.opset, r.call) == ("c", 17, "c(opset=17)") and (r.passing, r.tried) == (3, 4)
    assert str(r).startswith("m: c at opset 17 (max abs err 1e-07")
    assert [x.case for x in routes(recs)] == ["m", "own"]


def test_where_no_route_passes_the_nearest_cell_and_the_causes_to_read():
    causes = {"erfc": {"link": "https://github.com/onnx/tensorflow-onnx/pull/2463", "workaround": "approximate GELU"}}
    recs = [_rec("m", "a", 13, "CONVERT_ERROR", stage="convert"), _rec("m", "b", 13, "MISMATCH", 0.2, stage="compare"),
            _rec("m", "c", 13, "INVALID", stage="checker", cause="erfc")]
    (r,) = routes(recs, causes)
    assert not r and (r.converter, r.status, r.stage) == ("b", "MISMATCH", "compare")
    text = str(r)
    assert "no route passes; nearest b at opset 13 (MISMATCH at compare" in text
    assert "erfc (https://github.com/onnx/tensorflow-onnx/pull/2463; workaround: approximate GELU)" in text
    assert lines([r])[0] == "recommended route per model:" and lines([]) == []


# --- real models, run as a user runs them ---------------------------------------------------------------

ROWS = "tf2onnx-keras,keras-export,tf2onnx-graphdef"


@pytest.fixture(scope="module")
def user_models(tmp_path_factory):
    out = tmp_path_factory.mktemp("user-models")
    helpers.model_files(MAKE, out)
    shutil.copy(USERLAYERS, out / "userlayers.py")
    return out


def _model_args(folder: Path, names) -> list[str]:
    args = []
    for name in names:
        path = folder / (f"{name}.h5" if name == "keras2_h5" else f"{name}.keras")
        args += ["--model", str(path), "--inputs", str(folder / f"{name}.npz")]
    return args


def _run(folder: Path, report: Path, *args: str):
    proc = helpers.run_pytest("--pyargs", "conformance", "-q", "-p", "no:cacheprovider", "--report-dir", str(report),
                              *args, cwd=folder, timeout=900)
    results = report / "results.json"
    return proc, (json.loads(results.read_text()) if results.is_file() else None)


def test_the_twelve_kinds_of_user_models_get_a_clean_answer_and_a_route(user_models, tmp_path):
    import sys

    sys.path.insert(0, str(MAKE.parent))
    try:
        from make import MODELS
    finally:
        sys.path.remove(str(MAKE.parent))
    names = list(MODELS)[:12]
    proc, doc = _run(user_models, tmp_path / "reports", *_model_args(user_models, names), "--custom-objects",
                     "userlayers.py", "--unsafe-deserialization", "--converters", ROWS, "--opsets", "17")
    assert doc is not None, proc.stdout[-3000:] + proc.stderr[-3000:]
    got = {(r["case"], r["converter"]): r for r in doc["records"]}
    assert {c for c, _ in got} == set(names)
    for (case, conv), r in got.items():
        assert r["observed_status"] not in ("CASE_ERROR", "CRASH", "TIMEOUT"), (case, conv, r["reason"])
    for conv in ROWS.split(","):
        assert got["mixed_float16", conv]["observed_status"] == "PASS", got["mixed_float16", conv]["reason"]
        assert got["fixed_batch", conv]["observed_status"] == "PASS", got["fixed_batch", conv]["reason"]
    mixed = got["mixed_float16", "tf2onnx-keras"]
    assert mixed["facts"]["contract"]["compute_dtype"] == "float16" and mixed["facts"]["contract"]["keras_vs_float32"] > 0
    assert got["fixed_batch", "tf2onnx-keras"]["stages"]["build"]["batches"] == [1]
    for conv in ("tf2onnx-keras", "keras-export", "tf2onnx-graphdef"):   # exact GELU: Erfc, named by its cause
        r = got["attention_encoder", conv]
        assert (r["status"], r["cause"], r.get("cause_by")) == ("XFAIL", "erfc", "needs"), r["reason"]
    for case in ("embedding_lstm", "timedistributed_gru"):                 # the lowered frozen loop: TensorList
        r = got[case, "tf2onnx-graphdef"]
        assert (r["status"], r["cause"]) == ("XFAIL", "tensorlist-lowered-control-flow"), r["reason"]
    assert doc["run"]["loading"]["unsafe_deserialization"] is True
    assert proc.returncode == 0, proc.stdout[-3000:]
    out = proc.stdout
    assert "recommended route per model:" in out
    for name in names:
        assert f"  {name}: " in out, name
    assert "attention_encoder: no route passes" in out and "erfc (https://github.com/onnx/tensorflow-onnx/pull/2463" in out
    page = (tmp_path / "reports" / "matrix.html").read_text()
    assert 'id="routes-table"' in page and "unsafe deserialization ON" in page
    route = helpers.run_module("conformance.report", "route", str(tmp_path / "reports" / "results.json"),
                               "--case", "custom_layer")
    assert route.returncode == 0 and "custom_layer: " in route.stdout and "3 of 3 cells pass): " in route.stdout
    assert any(call in route.stdout for call in ("from_keras(", "model.export(", "tf2onnx.convert")), route.stdout


def test_without_custom_objects_the_custom_layer_is_one_line_with_the_flag(user_models, tmp_path):
    proc, doc = _run(user_models, tmp_path / "reports", *_model_args(user_models, ["custom_layer", "lambda_layer"]),
                     "--converters", "tf2onnx-keras", "--opsets", "17")
    assert doc is not None, proc.stdout[-3000:]
    by_case = {r["case"]: r for r in doc["records"]}
    custom, lam = by_case["custom_layer"], by_case["lambda_layer"]
    assert custom["status"] == lam["status"] == "CASE_ERROR"
    why = custom["stages"]["build"]["error"]
    assert "'userlayers>ScaledDense'" in why and "--custom-objects FILE.py" in why and len(why) < 400 and "\n" not in why
    assert "--unsafe-deserialization" in lam["stages"]["build"]["error"]
    assert proc.returncode == 1


@pytest.mark.deep
def test_more_user_models_sequential_subclassed_and_known_causes_by_what_they_hold(user_models, tmp_path):
    names = ["sequential_mlp", "subclassed", "grouped_conv", "celu_head", "masked_lstm"]
    proc, doc = _run(user_models, tmp_path / "reports", *_model_args(user_models, names), "--custom-objects",
                     "userlayers.py", "--converters", "tf2onnx-keras,keras-export", "--opsets", "9,17")
    assert doc is not None, proc.stdout[-3000:] + proc.stderr[-3000:]
    got = {(r["case"], r["converter"], r["opset"]): r for r in doc["records"]}
    expect = {("sequential_mlp", "tf2onnx-keras", 17): "sequential-output-names",
              ("grouped_conv", "tf2onnx-keras", 17): "grouped-conv-xla", ("grouped_conv", "keras-export", 17): "grouped-conv-xla",
              ("celu_head", "tf2onnx-keras", 17): "expm1", ("masked_lstm", "tf2onnx-keras", 9): "masked-rnn-opset9"}
    for key, cause in expect.items():
        r = got[key]
        assert (r["status"], r["cause"], r.get("cause_by")) == ("XFAIL", cause, "needs"), (key, r["reason"])
    for conv in ("tf2onnx-keras", "keras-export"):   # a subclassed model: its build shapes, named as TensorFlow does
        r = got["subclassed", conv, 17]
        assert r["status"] == "PASS", r["reason"]
        assert r["facts"]["keras_inputs"] == [{"name": "args_0", "shape": [None, 6], "dtype": "float32"}]
    assert got["masked_lstm", "tf2onnx-keras", 17]["status"] == "PASS"
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_report_repro_runs_a_cell_again_with_the_runs_custom_objects_and_trust(tmp_path):
    from conformance.report.repro_cell import command

    rec = {"id": "m-tf2onnx-keras-opset17", "converter": "tf2onnx-keras", "opset": 17, "case_module": "model:/x/m.keras"}
    doc = {"run": {"loading": {"custom_objects": ["/x/userlayers.py"], "unsafe_deserialization": True}}}
    argv = command(rec, doc, tmp_path)
    assert argv[argv.index("--custom-objects") + 1] == "/x/userlayers.py" and "--unsafe-deserialization" in argv
    assert "--custom-objects" not in command(rec, {"run": {}}, tmp_path)
