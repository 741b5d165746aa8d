"""Hypothesis strategies for generated model configurations.

Every draw is a valid :class:`conformance.fuzz.model.Config`.  Each choice is
ordered so that shrinking moves toward the plainest model: SimpleRNN, one
layer, sequence length 1, batch 1, tanh, biases on, no flags, no head.
"""
from __future__ import annotations

from hypothesis import strategies as st

from conformance.fuzz.model import (ACTIVATIONS, KINDS, MERGE_MODES, RECURRENT_ACTIVATIONS, Config, Dense,
                                    Recurrent)

#: bounds of what is generated (the model module accepts wider values)
MAX_RECURRENT = 2
MAX_DENSE = 2
MAX_UNITS = 6
MAX_SEQ = 6
MAX_FEATURES = 4
MAX_BATCH = 4

_activations = st.sampled_from(list(ACTIVATIONS))          # "tanh" first: shrinks to the default
_recurrent_activations = st.sampled_from(list(RECURRENT_ACTIVATIONS))
_flag = st.booleans()                                      # shrinks to False
_bias = st.booleans().map(lambda b: not b)                 # shrinks to True (Keras's default)
_merge = st.one_of(st.none(), st.sampled_from(list(MERGE_MODES)))


@st.composite
def recurrent_layers(draw, last: bool) -> Recurrent:
    kind = draw(st.sampled_from(KINDS))
    units = draw(st.integers(1, MAX_UNITS))
    activation = draw(_activations)
    recurrent_activation = "sigm" if kind == "simplernn" else draw(_recurrent_activations)
    use_bias = draw(_bias)
    return_sequences = draw(_flag) if last else True
    cell = draw(_flag)
    bidirectional = draw(_merge)
    return Recurrent(kind=kind, units=units, activation=activation, recurrent_activation=recurrent_activation,
                     use_bias=use_bias, return_sequences=return_sequences,
                     go_backwards=False if bidirectional else draw(_flag), cell=cell, bidirectional=bidirectional)


def dense_layers(min_size: int = 0):
    layer = st.builds(Dense, units=st.integers(1, MAX_UNITS), activation=_activations, use_bias=_bias)
    return st.lists(layer, min_size=min_size, max_size=MAX_DENSE).map(tuple)


@st.composite
def recurrent_configs(draw) -> Config:
    n = draw(st.integers(1, MAX_RECURRENT))
    layers = tuple(draw(recurrent_layers(last=i == n - 1)) for i in range(n))
    seq = draw(st.integers(1, MAX_SEQ))
    return Config(
        seq=seq,
        features=draw(st.integers(1, MAX_FEATURES)),
        batch=draw(st.integers(1, MAX_BATCH)),
        recurrent=layers,
        dense=draw(dense_layers()),
        masking=draw(_flag) if seq >= 2 else False,
        initial_state=draw(_flag) if not layers[0].bidirectional else False,
        return_state=draw(_flag) if not layers[-1].bidirectional else False,
    )


@st.composite
def dense_configs(draw) -> Config:
    return Config(seq=None, features=draw(st.integers(1, MAX_FEATURES)), batch=draw(st.integers(1, MAX_BATCH)),
                  dense=draw(dense_layers(min_size=1)))


def configs() -> st.SearchStrategy[Config]:
    """Recurrent models mostly (the interesting part), Dense-only models sometimes."""
    return st.one_of(recurrent_configs(), recurrent_configs(), recurrent_configs(), dense_configs())
