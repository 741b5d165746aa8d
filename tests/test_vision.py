"""Vision cases, the graphdef rows, tiers and top-k facts: the parts that need no TensorFlow."""
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from cases import vision
from cases import cache
from cases.api import KERAS, TF_KERAS
from conformance.checks import topk
from conformance.converters.tf2onnx_graphdef import (Tf2OnnxGraphDef, Tf2OnnxGraphDefFunctional,
                                                     Tf2OnnxGraphDefSeedCommand)
from conformance.converters._frozen import FrozenGraph
from conformance.run.cells import HEAVY_TAG, heavy_opset, tiered
from tests.helpers import FakeCell

# ------------------------------------------------------------------ the cases


def test_vision_cases_are_heavy_offline_and_flavoured():
    by_name = {c.name: c for c in vision.CASES}
    assert set(by_name) == {"hub_efficientnetb0_binary", "resnet50_imagenet", "resnet50_fish42"}
    assert all(HEAVY_TAG in c.tags for c in vision.CASES)
    assert by_name["hub_efficientnetb0_binary"].keras == TF_KERAS
    assert by_name["resnet50_imagenet"].keras == KERAS == by_name["resnet50_fish42"].keras
    assert {"classifier"} <= by_name["resnet50_imagenet"].tags & by_name["resnet50_fish42"].tags
    assert "classifier" not in by_name["hub_efficientnetb0_binary"].tags  # one sigmoid unit: no top-5


def test_seed_images_are_not_vacuous():
    (x,) = vision._seed_images(np.random.default_rng(0), 4)
    assert x.shape == (4, 224, 224, 3) and x.dtype == np.float32
    assert (x[1] == 0).all() and (x[2] == 1).all()
    assert x[0].min() >= 0 and x[0].max() <= 255 and x[0].std() > 50 and not np.array_equal(x[0], x[3])
    (one,) = vision._seed_images(np.random.default_rng(1), 1)
    assert one[0].std() > 50  # the second batch size (1) is a random image, not the seed's zeros


def test_cache_root_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("CONFORMANCE_CACHE_DIR", str(tmp_path))
    assert cache.cache_root() == tmp_path.resolve()
    monkeypatch.delenv("CONFORMANCE_CACHE_DIR")
    assert cache.cache_root().parts[-2:] == ("reports", "cache")


def test_cached_dir_builds_once_and_is_keyed_by_versions(monkeypatch, tmp_path):
    monkeypatch.setenv("CONFORMANCE_CACHE_DIR", str(tmp_path))
    calls = []

    def make(path: Path):
        calls.append(path)
        path.mkdir()
        (path / "saved_model.pb").write_text("x")

    first = cache.cached_dir("thing", ("numpy",), make)
    again = cache.cached_dir("thing", ("numpy",), make)
    assert first == again and len(calls) == 1
    assert f"numpy{np.__version__}" in first.name and (first / "saved_model.pb").is_file()
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no temporary left behind


def test_cached_dir_concurrent_builders_never_expose_a_partial_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("CONFORMANCE_CACHE_DIR", str(tmp_path))
    seen = []

    def make(path: Path):
        path.mkdir()
        (path / "a").write_text("1")
        time.sleep(0.2)
        (path / "b").write_text("2")

    def builder():
        d = cache.cached_dir("race", ("numpy",), make)
        seen.append(sorted(p.name for p in d.iterdir()))

    threads = [threading.Thread(target=builder) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [["a", "b"]] * 3
    assert len(list(tmp_path.iterdir())) == 1


def test_cached_dir_failed_build_leaves_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("CONFORMANCE_CACHE_DIR", str(tmp_path))

    def make(path: Path):
        path.mkdir()
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        cache.cached_dir("broken", ("numpy",), make)
    assert list(tmp_path.iterdir()) == []


def test_real_bmp_and_png_files(tmp_path):
    pytest.importorskip("PIL")
    paths = vision.write_images(tmp_path, np.random.default_rng(0), 3)
    assert [p.suffix for p in paths] == [".bmp", ".png", ".bmp"]
    assert paths[0].read_bytes()[:2] == b"BM"
    assert paths[1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    with Image.open(paths[1]) as im:
        assert im.size == (vision.SOURCE_HW[1], vision.SOURCE_HW[0])  # not 224x224: loading must resize


# ------------------------------------------------------------------ graphdef rows


def _graph():
    return FrozenGraph(Path("model.pb"), ["x:0", "h:0"], ["Identity:0"], "freeze")


def test_graphdef_command_renames_inputs_to_keras_names():
    cmd = Tf2OnnxGraphDef().command("model.pb", _graph(), "m.onnx", 13, ["x", "h"])
    assert cmd[:2] == ["--input", "model.pb"]
    assert cmd[cmd.index("--inputs") + 1] == "x:0,h:0" and cmd[cmd.index("--outputs") + 1] == "Identity:0"
    assert cmd[cmd.index("--opset") + 1] == "13" and cmd[cmd.index("--rename-inputs") + 1] == "x,h"
    assert "--fold_const" not in cmd


def test_freezing_choices_differ():
    assert Tf2OnnxGraphDef.lower_control_flow is True
    assert Tf2OnnxGraphDefFunctional.lower_control_flow is False


def test_seed_command_is_literal_and_limited_to_the_seed_sizes():
    from cases.recurrent import CASES as RNN
    from cases.dense import CASES as DENSE

    conv = Tf2OnnxGraphDefSeedCommand()
    cmd = conv.command("model.pb", _graph(), "m.onnx", 13, ["x", "h"])
    assert cmd[-1] == "--fold_const" and "--rename-inputs" not in cmd
    taken = sorted(c.name for c in RNN + DENSE + vision.CASES if conv.accepts(c) is None)
    assert taken == ["seed_gru", "seed_lstm", "seed_simplernn"]
    graphdef = Tf2OnnxGraphDef()
    # with warm command-line launches the frozen-GraphDef rows take every case, not only the seeds
    scope = sorted(c.name for c in RNN + DENSE + vision.CASES if graphdef.accepts(c) is None)
    assert scope == sorted(c.name for c in RNN + DENSE + vision.CASES)


# ------------------------------------------------------------------ tiers




def test_default_tier_runs_heavy_cases_only_when_asked_and_at_one_opset():
    opsets = (9, 11, 13, 15)
    cells = [FakeCell(n, t, o) for n, t in (("light", ()), ("heavy", {"slow"})) for o in opsets]
    assert [(c.case.name, c.opset) for c in tiered(cells, opsets)] == [("light", o) for o in opsets]
    default = tiered(cells, opsets, heavy=True)
    assert [(c.case.name, c.opset) for c in default] == [("light", o) for o in opsets] + [("heavy", 13)]
    assert tiered(cells, opsets, "full") == cells


@pytest.mark.parametrize("opsets, one", [((9, 11, 13, 15, 17, 18), 13), ((9, 11), 11), ((15, 17), 15),
                                         ((12, 14), 14), ((18,), 18)])
def test_heavy_opset_is_13_or_the_nearest_selected(opsets, one):
    assert heavy_opset(opsets) == one


# ------------------------------------------------------------------ top-5 agreement


def test_top5_agreement_per_image():
    keras = np.array([[0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0]], dtype="float32")
    onnx = keras.copy()
    onnx[1, [0, 1]] = [0.5, 0.6]      # same set, order swapped
    got = topk.agreement("p", 2, keras, onnx)
    assert got["agree"] is True and got["same_top1"] == 1 and got["total"] == 2
    assert got["images"][0] == {"keras": [6, 5, 4, 3, 2], "onnx": [6, 5, 4, 3, 2], "same_top1": True,
                                "same_set": True, "same_order": True, "overlap": 5}
    assert got["images"][1]["same_order"] is False
    onnx[0, 1] = 0.9                  # class 1 enters the top 5, class 2 leaves
    got = topk.agreement("p", 2, keras, onnx)
    assert got["agree"] is False and got["images"][0]["overlap"] == 4


def test_top5_needs_a_score_matrix_wider_than_k():
    assert topk.agreement("p", 1, np.zeros((1, 5), "float32"), np.zeros((1, 5), "float32")) is None
    assert topk.agreement("p", 1, np.zeros((1, 3, 8), "float32"), np.zeros((1, 3, 8), "float32")) is None
