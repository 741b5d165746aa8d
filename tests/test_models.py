"""The models tier (cases/models/): its cases, tiers, inputs, task-level agreement and report; no TensorFlow
here (the builds are tests/test_models_reference.py's, marker ``models``)."""
import json
import subprocess
import sys

import numpy as np
import pytest

from cases import models
from cases.api import CaseNotApplicable
from cases.models import applications, kerashub
from conformance.checks import agreement, standalone
from conformance.loader import builtin_modules, load_cases
from conformance.report.models import model_cells, table_lines
from conformance.run.cells import MODELS_TAG, heavy_opset, tiered
from tests import report_fakes as fakes
from tests.helpers import ROOT, FakeCell, run_module

# ------------------------------------------------------------------ the cases


def _models_cases():
    return [c for c in load_cases(builtin_modules()) if c.module.startswith("cases.models.")]


def test_models_cases_are_collected_tagged_and_named():
    mods = builtin_modules()
    assert {"cases.models.applications", "cases.models.kerashub"} <= set(mods)
    cases = _models_cases()
    assert all(MODELS_TAG in c.tags for c in cases)
    apps = [c for c in cases if c.module == "cases.models.applications"]
    hub = [c for c in cases if c.module == "cases.models.kerashub"]
    assert len(apps) == len(applications.APPS) >= 14 and len(hub) == len(kerashub.BACKBONES) >= 20
    assert all("classifier" in c.tags and "backbone" not in c.tags for c in apps)
    assert all("backbone" in c.tags and "classifier" not in c.tags for c in hub)
    # no other case module's case is in the tier
    assert not [c.name for c in load_cases(mods) if MODELS_TAG in c.tags and not c.module.startswith("cases.models.")]


def test_every_family_the_issue_names_is_a_case():
    names = {c.name for c in _models_cases()}
    for family in ("convnext", "densenet", "efficientnet_b0", "efficientnet_v2", "inception_v3", "inception_resnet",
                   "mobilenet", "mobilenet_v2", "mobilenet_v3", "nasnet", "resnet50", "resnet50_v2", "vgg", "xception"):
        assert any(n.startswith(f"app_{family}") for n in names), family
    for hub in ("bert", "albert", "roberta", "deberta_v3", "electra", "distil_bert", "gpt2", "opt", "llama", "mistral",
                "gemma", "phi3", "qwen2", "t5", "bart", "vit", "deit", "dinov2", "swin", "mit", "segformer", "clip",
                "siglip", "whisper"):
        assert f"kerashub_{hub}" in names, hub


def test_declaring_the_tier_imports_neither_tensorflow_nor_keras_hub():
    code = ("import sys; import cases.models.applications, cases.models.kerashub; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'keras_hub') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"


def test_without_keras_hub_a_backbone_is_not_applicable_with_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "keras_hub", None)  # import keras_hub raises ImportError
    case = next(c for c in _models_cases() if c.name == "kerashub_bert")
    with pytest.raises(CaseNotApplicable) as info:
        case.build()
    msg = str(info.value)
    assert "keras_hub is not installed" in msg and "pip install '.[modern,models]'" in msg and "\n" not in msg


# ------------------------------------------------------------------ tiers


def test_models_tier_runs_only_when_asked_at_one_opset_and_every_opset_in_full():
    opsets = (9, 13, 18)
    cells = [FakeCell(n, t, o) for n, t in (("light", ()), ("arch", {MODELS_TAG, "classifier"})) for o in opsets]
    assert [c.case.name for c in tiered(cells, opsets)] == ["light"] * 3
    assert [c.case.name for c in tiered(cells, opsets, "full")] == ["light"] * 3
    asked = tiered(cells, opsets, models=True)
    assert [(c.case.name, c.opset) for c in asked if c.case.name == "arch"] == [("arch", heavy_opset(opsets))]
    assert tiered(cells, opsets, "full", models=True) == cells
    # -m slow does not ask for the models tier, nor -m models for the slow cases
    assert all(c.case.name == "light" for c in tiered(cells, opsets, heavy=True))


def test_collecting_the_matrix_lists_the_tier_only_with_m_models(tmp_path):
    args = ["conformance/", "--collect-only", "-q", "-p", "no:cacheprovider", "--report-dir", str(tmp_path),
            "--converters", "tf2onnx-keras", "--opsets", "13,18"]
    plain = run_module("pytest", *args, timeout=180)
    asked = run_module("pytest", *args, "-m", "models", timeout=180)
    assert plain.returncode == 0 and asked.returncode == 0, plain.stderr[-1500:] + asked.stderr[-1500:]
    ids = [line for line in asked.stdout.splitlines() if "::test_cell[" in line]
    assert len(ids) == len(_models_cases()) and all(i.endswith("-opset13]") for i in ids)
    assert "app_mobilenet_v2-tf2onnx-keras-opset13" in asked.stdout
    assert "app_" not in plain.stdout and "kerashub_" not in plain.stdout


# ------------------------------------------------------------------ inputs


def test_fitted_inputs_have_two_sequence_lengths_real_padding_and_ids_in_the_vocabulary():
    from cases.inputs import InputHint

    specs = [("padding_mask", (None, None), "int32"), ("segment_ids", (None, None), "int32"),
             ("token_ids", (None, None), "int32")]
    models._BUILT["fake_text"] = (specs, {"token_ids": InputHint(vocabulary=64, max_length=16)})
    try:
        gen = models.fitted_inputs("fake_text")
        mask, seg, ids = gen(np.random.default_rng(0), 3)
        (mask1, seg1, ids1) = gen(np.random.default_rng(1), 1)
    finally:
        del models._BUILT["fake_text"]
    assert mask.shape == seg.shape == ids.shape == (3, models.SEQUENCE_LENGTHS[0])
    assert mask1.shape == ids1.shape == (1, models.SEQUENCE_LENGTHS[1])
    assert ids.max() < 64 and (ids[mask == 0] == 0).all() and (ids[mask == 1] > 0).all()
    assert mask[0].sum() < mask.shape[1] and mask[-1].all() and mask1[0].sum() < mask1.shape[1]  # real padding
    assert set(np.unique(seg)) <= {0, 1} and (seg[mask == 0] == 0).all()


def test_fitted_inputs_need_the_built_model():
    with pytest.raises(RuntimeError, match="build it first"):
        models.fitted_inputs("never_built")(np.random.default_rng(0), 3)


def test_synthetic_images_are_pixels_and_unlike_each_other():
    x = models.synthetic_images(np.random.default_rng(0), 4, 32)
    assert x.shape == (4, 32, 32, 3) and x.dtype == np.float32 and x.min() >= 0 and x.max() <= 255
    assert min(np.abs(x[i] - x[j]).mean() for i in range(4) for j in range(i)) > 10


# ------------------------------------------------------------------ task-level agreement


def test_a_flipped_top1_class_is_recorded_although_the_tolerance_passes():
    keras_logits = np.array([[2.0, 2.0000002, -1.0], [0.5, -3.0, 1.0]], dtype="float32")
    onnx_logits = np.array([[2.0000002, 2.0, -1.0], [0.5, -3.0, 1.0]], dtype="float32")
    assert standalone.compare("logits", keras_logits, onnx_logits, 1e-4, 1e-5)["passed"]  # the tolerance passes
    facts = agreement.of_batch({"models", "classifier"}, [("logits", (3,), "float32")], 2, [keras_logits],
                               [onnx_logits])
    assert facts == [{"output": "logits", "batch": 2, "kind": "top1", "agree": 1, "total": 2, "value": 0.5,
                      "flipped": [{"sample": 0, "keras": 1, "onnx": 0}]}]
    # the report shows it
    rec = fakes.rec("app_x", "tf2onnx-keras", 13, "PASS", family="applications", tags=["models", "classifier"])
    rec["facts"]["task_agreement"] = facts
    lines = table_lines(model_cells(fakes.doc([rec])))
    flipped = lines[lines.index("top-1 class flipped (whatever the tolerance said):") + 1]
    assert "app_x / tf2onnx-keras / opset 13 (PASS): top-1 1/2" in flipped


def test_cosine_of_hidden_states_and_which_cases_get_which_fact():
    rng = np.random.default_rng(0)
    hidden = rng.standard_normal((2, 5, 8)).astype("float32")
    same = agreement.cosine("sequence_output", 2, hidden, hidden)
    assert same["kind"] == "cosine" and same["vectors"] == 10 and same["min"] == pytest.approx(1.0)
    flipped = hidden.copy()
    flipped[1, 3] *= -1
    assert agreement.cosine("sequence_output", 2, hidden, flipped)["min"] == pytest.approx(-1.0)
    nan = hidden.copy()
    nan[0, 0, 0] = np.nan
    assert agreement.cosine("s", 2, hidden, nan)["min"] == 0.0
    outs = [("sequence_output", (5, 8), "float32"), ("pooled", (8,), "float32")]
    refs = [hidden, hidden[:, 0]]
    assert [f["output"] for f in agreement.of_batch({"backbone"}, outs, 2, refs, refs)] == ["sequence_output", "pooled"]
    assert agreement.of_batch({"seed"}, outs, 2, refs, refs) == []            # no tag asks: nothing recorded
    assert agreement.top1("x", 2, hidden, hidden) is None                     # not a (batch, classes) matrix
    assert agreement.cosine("ids", 2, np.ones((2, 3), "int32"), np.ones((2, 3), "int32")) is None


# ------------------------------------------------------------------ the report


def _models_doc():
    tags = ["models", "classifier"]
    good = fakes.rec("app_resnet50", "tf2onnx-keras", 13, "PASS", family="applications", tags=tags)
    good["facts"].update(model_bytes=102_400_000, keras_params=25_636_712,
                         task_agreement=[{"kind": "top1", "agree": 3, "total": 3}, {"kind": "top1", "agree": 1,
                                                                                    "total": 1}])
    caused = fakes.rec("app_resnet50", "keras-export", 13, "XFAIL", family="applications", tags=tags,
                       cause="some-known-bug")
    lost = fakes.rec("kerashub_bert", "tf2onnx-keras", 13, "CONVERT_ERROR", family="kerashub",
                     tags=["models", "backbone"], reason="ValueError: no conversion for Einsum")
    bert = fakes.rec("kerashub_bert", "keras-export", 13, "PASS", family="kerashub", tags=["models", "backbone"])
    bert["facts"]["task_agreement"] = [{"kind": "cosine", "min": 0.9999991, "mean": 1.0}]
    other = fakes.rec("mlp_softmax", "tf2onnx-keras", 13, "PASS")
    return fakes.doc([good, caused, lost, bert, other])


def test_models_report_table_causes_time_size_and_agreement():
    cells = model_cells(_models_doc())
    assert [c.case for c in cells] == ["app_resnet50", "app_resnet50", "kerashub_bert", "kerashub_bert"]
    lines = table_lines(cells, "results.json")
    text = "\n".join(lines)
    assert lines[0].startswith("models tier: 2 architectures x 2 converter rows (opset 13), from results.json")
    row = next(line for line in lines if line.startswith("app_resnet50  "))
    assert "PASS" in row and "MISMATCH (some-known-bug)" in row
    assert "CONVERT_ERROR (unexplained)" in next(line for line in lines if line.startswith("kerashub_bert  "))
    cell = next(line for line in lines if line.startswith("app_resnet50") and "tf2onnx-keras" in line and "1.2" in line)
    assert "102.40" in cell and "25,636,712" in cell and "top-1 4/4" in cell        # size, params, agreement
    assert "cos 0.999999" in text and "mlp_softmax" not in text
    assert "kerashub_bert / tf2onnx-keras / opset 13: CONVERT_ERROR: unexplained: ValueError: no conversion" in text
    assert "app_resnet50 / keras-export / opset 13: MISMATCH: cause some-known-bug" in text
    assert table_lines([])[0].startswith("no cell of the models tier")


def test_the_page_has_a_models_view_with_causes_pass_rates_time_and_agreement():
    from conformance.report import html

    doc = _models_doc()
    doc["causes"] = {"some-known-bug": {"id": "some-known-bug", "scope": [
        {"cases": ["conv2d_groups", "app_convnext_tiny"]}, {"layers": ["Normalization"]}]}}
    view = html.build_view(doc)["models"]
    assert view["causes"] == [{"id": "some-known-bug", "architectures": ["app_resnet50"],
                               "alone": ["conv2d_groups", "layers Normalization"]}]
    assert view["architectures"] == 2 and sorted(view["columns"]) == ["keras-export", "tf2onnx-keras"]
    resnet = view["rows"][0]
    assert resnet["case"] == "app_resnet50" and resnet["params"] == 25_636_712
    export = resnet["cells"][view["columns"].index("keras-export")]
    assert export["cause"] == "some-known-bug" and export["status"] == "MISMATCH"
    assert ("tf2onnx-keras", 1, 2) in view["pass_rates"]
    page = html.render(doc)
    section = page[page.index('<section id="models">'):]
    section = section[:section.index("</section>")]
    assert 'href="#cause-some-known-bug"' in section and "<b>unexplained</b>" in section
    assert "top-1 4/4" in section and "cos 0.999999" in section and "mlp_softmax" not in section
    assert "conv2d_groups, layers Normalization" in section
    assert html.build_view(fakes.doc([fakes.rec("mlp_softmax", "tf2onnx-keras", 13, "PASS")]))["models"] is None


def test_models_report_command_line(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(_models_doc()))
    proc = run_module("conformance.report", "models", str(path), "--json", str(tmp_path / "m.json"), timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "kerashub_bert" in proc.stdout and "Traceback" not in proc.stderr
    cells = json.loads((tmp_path / "m.json").read_text())["cells"]
    assert {(c["case"], c["converter"], c["status"]) for c in cells} >= {("app_resnet50", "keras-export", "MISMATCH")}
    assert run_module("conformance.report", "models", str(tmp_path / "nope.json"), timeout=60).returncode == 2


def test_the_worker_records_a_flipped_top1_on_a_cell_that_passes(tmp_path):
    """Through the worker's own pipeline (a fake classifier and converter, no TensorFlow): the cell passes the
    tolerance, and its record says top-1 flipped on one image (``facts.task_agreement``)."""
    from conformance.worker import pipeline

    fake = str(ROOT / "tests" / "fakes" / "flipping.py")
    state = pipeline.WorkerState(tmp_path, 1)
    record = pipeline.run_cell({"converter_module": fake, "converter": "fake-flip", "case_module": fake,
                                "case": "fake_near_tie", "opset": 13}, state)
    assert record["stages"]["compare"]["ok"], record["stages"]["compare"]
    top1 = [f for f in record["facts"]["task_agreement"] if f["kind"] == "top1"]
    assert top1[0]["batch"] == 3 and top1[0]["agree"] == 2 and top1[0]["flipped"] == [
        {"sample": 0, "keras": 1, "onnx": 0}]
