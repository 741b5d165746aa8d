"""Recurrent models: the seed SimpleRNN/GRU/LSTM models and the ways users widen them.

Seed shape (from the original reports): an RNN layer with initial-state inputs
(LSTM takes h and c), ``return_sequences=True``, ``activation="relu"``, then
``Dense(INP, activation="sigmoid")``; batch 3, sequence 1, input 2, hidden 5.
"""
from __future__ import annotations

from functools import partial

import numpy as np

from cases.api import Case

INP, HIDDEN, BATCH = 2, 5, 3
FAMILY = "recurrent"


def _layer_cls(kind: str):
    import keras

    return {"simplernn": keras.layers.SimpleRNN, "gru": keras.layers.GRU, "lstm": keras.layers.LSTM}[kind]


def _cell_cls(kind: str):
    import keras

    return {"simplernn": keras.layers.SimpleRNNCell, "gru": keras.layers.GRUCell, "lstm": keras.layers.LSTMCell}[kind]


def _state_inputs(kind: str):
    import keras

    names = ("h", "c") if kind == "lstm" else ("h",)
    return [keras.Input((HIDDEN,), name=n) for n in names]


def _seed_inputs(kind: str, seq: int, rng: np.random.Generator, batch: int):
    n_states = 2 if kind == "lstm" else 1
    x = rng.standard_normal((batch, seq, INP)).astype("float32")
    return [x] + [rng.standard_normal((batch, HIDDEN)).astype("float32") for _ in range(n_states)]


def _build_seed(kind: str, seq: int, use_cell: bool):
    import keras

    x = keras.Input((seq, INP), name="x")
    states = _state_inputs(kind)
    if use_cell:
        rnn = keras.layers.RNN(_cell_cls(kind)(HIDDEN, activation="relu"), return_sequences=True)
    else:
        rnn = _layer_cls(kind)(HIDDEN, activation="relu", return_sequences=True)
    y = rnn(x, initial_state=states)
    y = keras.layers.Dense(INP, activation="sigmoid")(y)
    return keras.Model([x, *states], y)


def _seed(kind: str, seq: int, use_cell: bool = False) -> Case:
    prefix = f"rnn_{kind}cell" if use_cell else f"seed_{kind}"
    suffix = "" if seq == 1 else f"_seq{seq}"
    what = f"keras.layers.RNN({kind}Cell)" if use_cell else kind
    return Case(
        name=prefix + suffix,
        family=FAMILY,
        build=partial(_build_seed, kind, seq, use_cell),
        inputs=partial(_seed_inputs, kind, seq),
        batch=BATCH,
        tags=frozenset({"seed"}),
        description=f"{what} with initial state, return_sequences, relu, Dense({INP}, sigmoid); seq {seq}",
    )


def _x_inputs(seq: int, feat: int, rng: np.random.Generator, batch: int):
    return [rng.standard_normal((batch, seq, feat)).astype("float32")]


def _build_bidirectional(merge_mode):
    import keras

    x = keras.Input((6, 3), name="x")
    y = keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True), merge_mode=merge_mode)(x)
    if merge_mode is None:  # two outputs: forward and backward sequences
        return keras.Model(x, y)
    return keras.Model(x, keras.layers.Dense(2, activation="sigmoid")(y))


def _build_return_state(kind: str):
    import keras

    x = keras.Input((6, 3), name="x")
    outs = _layer_cls(kind)(4, return_sequences=True, return_state=True)(x)
    seq_out, *states = outs
    head = keras.layers.Dense(2, activation="sigmoid")(seq_out)
    return keras.Model(x, [head, *states])


def _build_go_backwards(kind: str):
    import keras

    x = keras.Input((6, 3), name="x")
    y = _layer_cls(kind)(4, return_sequences=True, go_backwards=True)(x)
    return keras.Model(x, keras.layers.Dense(2, activation="sigmoid")(y))


def _build_stacked_layers():
    import keras

    x = keras.Input((6, 3), name="x")
    y = keras.layers.LSTM(8, return_sequences=True)(x)
    y = keras.layers.GRU(6, return_sequences=True)(y)
    y = keras.layers.SimpleRNN(4)(y)
    return keras.Model(x, keras.layers.Dense(3, activation="softmax")(y))


def _build_stacked_cells():
    import keras

    x = keras.Input((6, 3), name="x")
    cells = keras.layers.StackedRNNCells([keras.layers.LSTMCell(6), keras.layers.LSTMCell(4)])
    y = keras.layers.RNN(cells, return_sequences=True)(x)
    return keras.Model(x, keras.layers.Dense(2, activation="sigmoid")(y))


def _build_masking(kind: str):
    import keras

    x = keras.Input((8, 3), name="x")
    y = keras.layers.Masking(mask_value=0.0)(x)
    y = _layer_cls(kind)(5)(y)
    return keras.Model(x, keras.layers.Dense(2, activation="sigmoid")(y))


def _masked_inputs(rng: np.random.Generator, batch: int):
    """Real padding: each row keeps a different number of leading timesteps."""
    x = rng.standard_normal((batch, 8, 3)).astype("float32")
    for i in range(batch):
        x[i, 8 - (2 + 2 * i) % 7:] = 0.0
    return [x]


def _build_embedding_mask():
    import keras

    tokens = keras.Input((8,), dtype="int32", name="tokens")
    y = keras.layers.Embedding(20, 6, mask_zero=True)(tokens)
    y = keras.layers.GRU(5)(y)
    return keras.Model(tokens, keras.layers.Dense(2, activation="sigmoid")(y))


def _token_inputs(rng: np.random.Generator, batch: int):
    t = rng.integers(1, 20, size=(batch, 8)).astype("int32")
    for i in range(batch):
        t[i, 8 - (1 + 2 * i) % 7:] = 0  # zero padding at the end, different lengths
    return [t]


def _build_variable_length(kind: str):
    import keras

    x = keras.Input((None, 3), name="x")
    y = _layer_cls(kind)(5, return_sequences=True)(x)
    return keras.Model(x, keras.layers.Dense(2, activation="sigmoid")(y))


def _variable_length_inputs(rng: np.random.Generator, batch: int):
    # a different sequence length at each batch size, so the time axis must stay dynamic
    return [rng.standard_normal((batch, 4 + batch, 3)).astype("float32")]


def _build_gru_reset_before():
    import keras

    x = keras.Input((6, 3), name="x")
    y = keras.layers.GRU(5, reset_after=False, return_sequences=True)(x)
    return keras.Model(x, keras.layers.Dense(2, activation="sigmoid")(y))


_X63 = partial(_x_inputs, 6, 3)

CASES = [
    *[_seed(kind, seq) for kind in ("simplernn", "gru", "lstm") for seq in (1, 16)],
    *[_seed(kind, 1, use_cell=True) for kind in ("simplernn", "gru", "lstm")],
    *[Case(f"bidirectional_lstm_{mode or 'none'}", FAMILY, partial(_build_bidirectional, mode), _X63,
           description=f"Bidirectional(LSTM), merge_mode={mode!r}")
      for mode in ("concat", "sum", "mul", "ave", None)],
    *[Case(f"{kind}_return_state", FAMILY, partial(_build_return_state, kind), _X63,
           description=f"{kind} with return_state=True: sequence head and final states as outputs")
      for kind in ("simplernn", "gru", "lstm")],
    *[Case(f"{kind}_go_backwards", FAMILY, partial(_build_go_backwards, kind), _X63,
           description=f"{kind} with go_backwards=True")
      for kind in ("simplernn", "gru", "lstm")],
    Case("stacked_layers", FAMILY, _build_stacked_layers, _X63, description="LSTM -> GRU -> SimpleRNN -> Dense softmax"),
    Case("stacked_cells_lstm", FAMILY, _build_stacked_cells, _X63, description="RNN(StackedRNNCells([LSTMCell, LSTMCell]))"),
    *[Case(f"masking_{kind}", FAMILY, partial(_build_masking, kind), _masked_inputs,
           description=f"Masking(0.0) -> {kind}, inputs zero-padded to different lengths")
      for kind in ("lstm", "gru")],
    Case("embedding_mask_zero_gru", FAMILY, _build_embedding_mask, _token_inputs,
         description="Embedding(mask_zero=True) -> GRU, token ids zero-padded to different lengths"),
    *[Case(f"variable_length_{kind}", FAMILY, partial(_build_variable_length, kind), _variable_length_inputs,
           description=f"{kind} over Input((None, 3)): sequence length differs between the two batch sizes")
      for kind in ("lstm", "gru")],
    Case("gru_reset_after_false", FAMILY, _build_gru_reset_before, _X63, description="GRU(reset_after=False)"),
]
