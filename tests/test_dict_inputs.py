"""Models that take a dict of named inputs (KerasHub text backbones): built, called, converted and fed
by name on every row, with generated inputs that fit the model.

The first tests are TF-free: the generated inputs (token ids inside the vocabulary, padding masks with
real padding, segment ids in range), the packing of the suite's flat arrays into a model's dict
(:func:`cases.model_io.call_model`) on duck-typed fakes, the hints read from a model's layers, and
the ONNX feed by name.  The last one saves tiny KerasHub backbones (``tests/hub_models.py``, in a
subprocess) and runs ``pytest --pyargs conformance --model ...`` on them, as a user would; it is
skipped where keras_hub is not installed (the ``models`` extra).
"""
from __future__ import annotations

import importlib.util
import time
import types
from pathlib import Path

import numpy as np
import pytest

from cases import model_io
from cases.inputs import SEQUENCE_LENGTH, InputHint, from_specs, input_hints, text_lengths
from conformance.checks.runtime import feed_names
from tests import helpers

BERT_SPECS = [("padding_mask", (None, None), "int32"), ("segment_ids", (None, None), "int32"),
              ("token_ids", (None, None), "int32")]
BERT_HINTS = {"padding_mask": InputHint(max_length=16), "segment_ids": InputHint(vocabulary=2, max_length=16),
              "token_ids": InputHint(vocabulary=100, max_length=16)}


# --- generated inputs (pure NumPy) ---------------------------------------------------------------

@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("batch", [1, 2, 3, 7])
def test_generated_token_ids_stay_in_the_vocabulary_and_masks_pad(seed, batch):
    mask, segments, tokens = from_specs(BERT_SPECS, np.random.default_rng(seed), batch, BERT_HINTS)
    assert mask.shape == segments.shape == tokens.shape == (batch, SEQUENCE_LENGTH)
    assert mask.dtype == segments.dtype == tokens.dtype == np.int32
    assert tokens.min() >= 0 and tokens.max() < 100
    assert segments.min() >= 0 and segments.max() < 2
    # real padding: each row is ones then zeros, with at least one real token
    for row in mask:
        n = int(row.sum())
        assert n >= 1 and row[:n].all() and not row[n:].any()
    assert mask[0].sum() < SEQUENCE_LENGTH, "the first row (the single-row batch) is padded"
    if batch > 1:
        assert mask[-1].all(), "the last row of a larger batch is full"
    # padding positions hold the padding id and segment 0; real tokens are real ids
    assert not tokens[mask == 0].any() and not segments[mask == 0].any()
    assert (tokens[mask == 1] >= 1).all()
    # segment ids: 0 then 1 within the real tokens (both segments in any row of two tokens or more)
    for row, m in zip(segments, mask):
        real = row[m == 1]
        assert (np.diff(real) >= 0).all()
        if len(real) >= 2:
            assert real[0] == 0 and real[-1] == 1


def test_a_tiny_vocabulary_and_a_short_position_table_are_respected():
    specs = [("token_ids", (None, None), "int64"), ("padding_mask", (None, None), "bool")]
    hints = {"token_ids": InputHint(vocabulary=3, max_length=5), "padding_mask": InputHint(max_length=5)}
    for seed in range(10):
        tokens, mask = from_specs(specs, np.random.default_rng(seed), 4, hints)
        assert tokens.shape == mask.shape == (4, 5) and mask.dtype == np.bool_
        assert set(np.unique(tokens)) <= {0, 1, 2}


def test_a_fixed_sequence_length_is_kept():
    specs = [("token_ids", (None, 12), "int32"), ("padding_mask", (None, 12), "int32")]
    tokens, mask = from_specs(specs, np.random.default_rng(0), 3, {"token_ids": InputHint(vocabulary=50)})
    assert tokens.shape == mask.shape == (3, 12) and tokens.max() < 50


def test_without_hints_the_plain_draw_is_unchanged():
    specs = [("x", (None, 3), "float32"), ("ids", (None, 2), "int32"), ("flag", (None, 1), "bool")]
    got = from_specs(specs, np.random.default_rng(7), 3)
    rng = np.random.default_rng(7)
    want = [rng.standard_normal((3, 3)).astype("float32"), rng.integers(0, 10, size=(3, 2)).astype("int32"),
            rng.random((3, 1)) > 0.5]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    assert got[0].dtype == np.float32


def test_pixels_for_a_model_that_rescales_its_images():
    (img,) = from_specs([("image", (None, 8, 8, 3), "float32")], np.random.default_rng(0), 2,
                        {"image": InputHint(value_range=(0.0, 255.0))})
    assert img.min() >= 0 and img.max() <= 255 and img.max() > 50


@pytest.mark.parametrize("length", [1, 2, 8])
def test_text_lengths(length):
    for seed in range(10):
        n = text_lengths(np.random.default_rng(seed), 3, length)
        assert ((1 <= n) & (n <= length)).all() and n[-1] == length
        assert length == 1 or n[0] < length


# --- packing into the model's structure (duck-typed fakes: no Keras) -------------------------------

def _tensor(name, shape=(None, None), dtype="int32"):
    return types.SimpleNamespace(name=name, shape=shape, dtype=dtype)


class DictModel:
    """Like a Keras 3 functional model built on a dict: ``input`` is the dict (constructor order),
    ``inputs`` its flat list (sorted by key, as keras.tree flattens a dict); records what it was called with."""

    def __init__(self, keys=("token_ids", "segment_ids", "padding_mask")):
        self.input = {k: _tensor(k) for k in keys}
        self.inputs = [self.input[k] for k in sorted(keys)]
        self.seen = None

    def __call__(self, x, training=False):
        self.seen = x
        return x


def test_dict_model_gets_a_dict_by_name():
    m = DictModel()
    assert model_io.input_specs(m) == BERT_SPECS and model_io.is_structured(m)
    arrays = [np.full((2, 4), i) for i in range(3)]  # in the order of the specs: mask, segments, tokens
    model_io.call_model(m, arrays)
    assert set(m.seen) == {"token_ids", "segment_ids", "padding_mask"}
    assert m.seen["padding_mask"] is arrays[0] and m.seen["segment_ids"] is arrays[1] and m.seen["token_ids"] is arrays[2]
    # names in another order, or a mapping: matched by name, never by position
    model_io.call_model(m, arrays[::-1], ["token_ids", "segment_ids", "padding_mask"])
    assert m.seen["padding_mask"] is arrays[0] and m.seen["token_ids"] is arrays[2]
    model_io.call_model(m, {"token_ids": arrays[2], "segment_ids": arrays[1], "padding_mask": arrays[0]})
    assert m.seen["token_ids"] is arrays[2]


def test_dict_keys_name_the_inputs_even_when_the_tensors_are_named_otherwise():
    m = DictModel(("b", "a"))
    m.input = {"b": _tensor("input_b"), "a": _tensor("input_a")}
    m.inputs = [m.input["a"], m.input["b"]]
    assert model_io.input_names(m) == ["a", "b"]
    assert model_io.input_aliases(m) == {"a": ["input_a"], "b": ["input_b"]}
    model_io.call_model(m, ["A", "B"])
    assert m.seen == {"b": "B", "a": "A"}


def test_nested_structures_are_packed():
    m = DictModel()
    x, y, z = _tensor("x"), _tensor("y"), _tensor("z")
    m.input, m.inputs = [{"x": x, "y": y}, z], [x, y, z]
    assert model_io.is_structured(m)
    model_io.call_model(m, [1, 2, 3])
    assert m.seen == [{"x": 1, "y": 2}, 3]


def test_single_and_flat_list_models_are_called_as_before():
    one = DictModel()
    one.input = _tensor("x")
    one.inputs = [one.input]
    a = np.zeros((2, 3))
    model_io.call_model(one, [a])
    assert one.seen is a and not model_io.is_structured(one)
    flat = DictModel()
    flat.inputs = [_tensor("a"), _tensor("b")]
    flat.input = list(flat.inputs)
    model_io.call_model(flat, [1, 2])
    assert flat.seen == [1, 2]
    no_struct = types.SimpleNamespace(inputs=[_tensor("x")])  # Sequential, a SavedModel: no `input`
    assert model_io.model_input(no_struct, [5]) == 5 and model_io.input_structure(no_struct) is None


def test_the_signature_of_a_dict_model_is_its_structure():
    m = DictModel()
    specs = ["mask-spec", "segment-spec", "token-spec"]
    assert model_io.model_input(m, specs, [n for n, _, _ in BERT_SPECS]) == {
        "token_ids": "token-spec", "segment_ids": "segment-spec", "padding_mask": "mask-spec"}


# --- hints from the model's layers (duck-typed fakes) ------------------------------------------------

class Embedding:
    def __init__(self, input_dim):
        self.input_dim = input_dim


class ReversibleEmbedding(Embedding):
    pass


class PositionEmbedding:
    def __init__(self, sequence_length):
        self.sequence_length = sequence_length


class TokenAndPositionEmbedding:
    """A composite layer: the vocabulary is the token table's inside it."""

    def __init__(self, vocab, length):
        self.parts = [ReversibleEmbedding(vocab), PositionEmbedding(length)]

    def _flatten_layers(self, include_self=True, recursive=True):
        return [self, *self.parts]


def _consumes(layer, *tensors):
    layer._inbound_nodes = [types.SimpleNamespace(input_tensors=list(tensors))]
    return layer


def test_hints_read_the_vocabulary_from_the_embedding_that_takes_the_input():
    m = DictModel()
    tok, seg = m.input["token_ids"], m.input["segment_ids"]
    layers = [_consumes(TokenAndPositionEmbedding(30522, 512), tok), _consumes(Embedding(2), seg),
              _consumes(types.SimpleNamespace(), m.input["padding_mask"])]
    m.layers = layers
    m._flatten_layers = lambda include_self=True, recursive=True: [m, *layers, *layers[0].parts]
    hints = input_hints(m)
    assert hints["token_ids"].vocabulary == 30522 and hints["segment_ids"].vocabulary == 2
    assert hints["padding_mask"].vocabulary is None
    assert {h.max_length for h in hints.values()} == {512}
    assert input_hints(types.SimpleNamespace()) == {}  # nothing to walk: no hints, no failure


# --- feeding onnxruntime by name ---------------------------------------------------------------------

def test_feed_by_name_in_any_order_then_loose_names_then_position():
    keras_names = ["padding_mask", "segment_ids", "token_ids"]
    assert feed_names(keras_names, ["token_ids", "padding_mask", "segment_ids"]) == (keras_names, "name")
    assert feed_names(keras_names, ["token_ids:0", "Padding_Mask:0", "segment_ids:0"]) == (
        ["Padding_Mask:0", "segment_ids:0", "token_ids:0"], "loose name")
    assert feed_names(keras_names, ["a", "b", "c"]) == (["a", "b", "c"], "position")
    # a dict key over a keras.Input named otherwise: a converter may name the ONNX input after either
    aliases = {"padding_mask": ["mask_tensor"], "token_ids": ["ids_tensor"]}
    assert feed_names(keras_names, ["ids_tensor", "segment_ids", "mask_tensor"], aliases) == (
        ["mask_tensor", "segment_ids", "ids_tensor"], "name")
    assert feed_names(["x"], ["x", "y"]) == (["x"], "position")  # a count mismatch is the signature's problem


# --- real KerasHub backbones through the rows --------------------------------------------------------

ROWS = "tf2onnx-keras,tf2onnx-cli,keras-export"
#: statuses that a conversion decides (the cell got to the convert stage or later)
NOT_DECIDED_BY_A_CONVERSION = {"CASE_ERROR", "NOT_APPLICABLE", "UNAVAILABLE"}


@pytest.fixture(scope="module")
def hub_models(tmp_path_factory) -> Path:
    # find_spec, not importorskip: importing keras_hub here would load TensorFlow into the tests
    if importlib.util.find_spec("keras_hub") is None:
        pytest.skip("keras_hub is not installed (pip install '.[modern,models]')")
    return helpers.model_files(Path(__file__).with_name("hub_models.py"), tmp_path_factory.mktemp("hub_models"))


def test_keras_hub_backbones_go_through_every_row(hub_models, tmp_path):
    """BERT with generated inputs, GPT-2 with its .npz: every cell decided by a conversion, fed by name."""
    reports = tmp_path / "reports"
    t0 = time.monotonic()
    proc = helpers.run_pytest(
        "--pyargs", "conformance", "-q", "-p", "no:cacheprovider",
        # the N-th --inputs belongs to the N-th --model: GPT-2 fed its .npz, BERT's inputs generated
        "--model", str(hub_models / "gpt2.keras"), "--inputs", str(hub_models / "gpt2.npz"),
        "--model", str(hub_models / "bert.keras"),
        "--converters", ROWS, "--opsets", "13", "--causes", "none", "--report-dir", str(reports),
        cwd=tmp_path, timeout=900)
    seconds = time.monotonic() - t0
    results = reports / "results.json"
    assert results.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    import json

    doc = json.loads(results.read_text())
    got = {(r["case"], r["converter"]): r for r in doc["records"]}
    assert set(got) == {(c, r) for c in ("bert", "gpt2") for r in ROWS.split(",")}, sorted(got)
    for (case, conv), r in sorted(got.items()):
        print(f"{case} {conv}: {r['status']} at {r['stage']}: {r['reason'][:200]}")
        assert r["status"] not in NOT_DECIDED_BY_A_CONVERSION, (case, conv, r["reason"])
        assert "convert" in r["stages"], (case, conv, r["stages"])
        if "signature" in r["stages"]:
            assert r["stages"]["signature"]["fed_by"] == "name", (case, conv, r["stages"]["signature"])
        assert r["facts"]["keras_inputs"], r["facts"]
    bert = got["bert", "tf2onnx-keras"]
    assert [i["name"] for i in bert["facts"]["keras_inputs"]] == ["padding_mask", "segment_ids", "token_ids"]
    assert bert["stages"]["build"]["batches"] == [3, 1]                          # generated: 3 rows, then 1
    assert got["gpt2", "tf2onnx-keras"]["stages"]["build"]["batches"] == [4, 1]  # the .npz rows, then its first
    print(f"two KerasHub backbones x {len(ROWS.split(','))} rows at opset 13: {seconds:.0f} s")
