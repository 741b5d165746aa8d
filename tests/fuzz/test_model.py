"""Generated configurations: name <-> config <-> source agree, and a repro pins as a regular case.
Fast: nothing here builds a model (no TensorFlow)."""
from __future__ import annotations

import ast

import pytest
from hypothesis import given, settings

from conformance.loader import CaseLoadError, find_case, load_cases
from conformance.fuzz.model import MODULE, Config, ConfigError, Dense, Recurrent, decode, resolve_case
from conformance.fuzz.strategies import configs

FAST = settings(max_examples=200, deadline=None, database=None)


@FAST
@given(configs())
def test_the_name_encodes_the_whole_configuration(config):
    assert decode(config.name) == config
    assert Config.from_json(config.to_json()) == config


@FAST
@given(configs())
def test_the_source_is_a_self_contained_case_function(config):
    tree = ast.parse(config.source())
    (fn,) = tree.body
    assert isinstance(fn, ast.FunctionDef) and fn.name == config.function_name and not fn.args.args
    imported = {a.name for node in ast.walk(fn) if isinstance(node, ast.Import) for a in node.names}
    assert imported == {"keras", "numpy"}
    assert config.case().name == config.name and config.case().family == "generated"


def test_the_worker_finds_a_generated_case_by_name():
    config = Config(seq=2, features=3, batch=1, recurrent=(Recurrent("lstm", 4, bidirectional="sum"),),
                    dense=(Dense(2, "sigm"),), masking=True)
    case = find_case(MODULE, config.name)
    assert case.module == MODULE and case.description == config.describe() and case.build_returns_inputs
    with pytest.raises(CaseLoadError, match="not found"):
        find_case(MODULE, "g.s2.f3.b1.lstm4_nosuchactivation_recsigm")


@pytest.mark.parametrize("name", [
    "g.s2.f3.b1.lstm4_tanh",                     # LSTM without its recurrent activation
    "g.s2.f3.b1.simplernn4_tanh_recsigm",        # SimpleRNN has none
    "g.s2.f3.b1.simplernn4_tanh_bwd_seq",        # flags out of order: not canonical
    "g.s2.f3.b1.simplernn0_tanh",                # no units
    "g.f3.b1",                                   # no layer
    "g.s1.f3.b1.mask.simplernn2_tanh",           # masking needs seq >= 2
    "g.s2.f3.b1.simplernn2_tanh.simplernn2_tanh",  # a lower layer must return sequences
    "g.s2.f3.b1.dense2_tanh.simplernn2_tanh",    # recurrent after Dense
    "g.s2.f3.b1.simplernn2_tanh_bicat_bwd",      # Bidirectional over a backwards layer
    "g.s2.f3.b1.simplernn2_tanh\"__import__('os')",  # nothing but table entries and integers
    "x.s2.f3.b1.simplernn2_tanh",
])
def test_names_that_encode_no_configuration_are_refused(name):
    with pytest.raises(ConfigError):
        decode(name)
    assert resolve_case(name) is None


def test_a_repro_pins_as_a_regular_case(tmp_path):
    config = Config(seq=3, features=2, batch=2, recurrent=(Recurrent("gru", 3, "relu", "hsig", go_backwards=True),),
                    initial_state=True, return_state=True)
    path = tmp_path / "pinned.py"
    path.write_text(config.source())
    (case,) = load_cases([str(path)])
    assert case.name == config.function_name[len("case_"):]
    assert case.family == "user" and case.build_returns_inputs
    assert config.name in case.description  # the docstring names the generated case it came from


def test_padding_is_real_and_differs_between_rows():
    config = Config(seq=5, features=1, batch=4, recurrent=(Recurrent("lstm", 2),), masking=True)
    keep = config.padding()
    assert all(1 <= k < config.seq for k in keep) and len(set(keep)) > 1
