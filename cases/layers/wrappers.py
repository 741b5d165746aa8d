"""Wrappers and convolutional recurrent layers: TimeDistributed, Bidirectional, ConvLSTM1D/2D/3D.

``cases.recurrent`` already holds Bidirectional(LSTM) in every merge mode and RNN(StackedRNNCells);
here Bidirectional wraps SimpleRNN and GRU, an LSTM that returns only its last output, and a GRU with
an explicit backward layer.
"""
from __future__ import annotations

from functools import partial

from cases.layers import model_case, normal

FAMILY = "wrappers"


def _build_td(kind: str):
    import keras

    if kind == "dense":
        x = keras.Input((5, 6), name="x")
        y = keras.layers.TimeDistributed(keras.layers.Dense(4, activation="tanh"))(x)
    elif kind == "conv2d":
        x = keras.Input((3, 6, 6, 2), name="x")
        y = keras.layers.TimeDistributed(keras.layers.Conv2D(3, 3, activation="relu"))(x)
        y = keras.layers.TimeDistributed(keras.layers.GlobalAveragePooling2D())(y)
    elif kind == "sequential":
        x = keras.Input((4, 5, 3), name="x")
        inner = keras.Sequential([keras.layers.Conv1D(4, 2, activation="relu"), keras.layers.Flatten(),
                                  keras.layers.Dense(3)])
        y = keras.layers.TimeDistributed(inner)(x)
    elif kind == "flatten":
        x = keras.Input((3, 4, 2), name="x")
        y = keras.layers.TimeDistributed(keras.layers.Flatten())(x)
        y = keras.layers.Dense(3)(y)
    else:
        raise ValueError(kind)
    return keras.Model(x, y)


def _rnn(kind: str, units: int, return_sequences: bool = True, **kwargs):
    import keras

    cls = {"simplernn": keras.layers.SimpleRNN, "gru": keras.layers.GRU, "lstm": keras.layers.LSTM}[kind]
    return cls(units, return_sequences=return_sequences, **kwargs)


def _build_bidir(kind: str, merge_mode: str, return_sequences: bool, backward: bool):
    import keras

    x = keras.Input((6, 3), name="x")
    fwd = _rnn(kind, 4, return_sequences)
    kwargs = {}
    if backward:  # a backward layer of its own configuration (the same units, another activation)
        kwargs["backward_layer"] = _rnn(kind, 4, return_sequences, go_backwards=True, activation="relu")
    y = keras.layers.Bidirectional(fwd, merge_mode=merge_mode, **kwargs)(x)
    return keras.Model(x, keras.layers.Dense(2)(y))


_CONVLSTM_SHAPES = {1: (4, 8, 2), 2: (3, 6, 6, 2), 3: (3, 4, 4, 4, 1)}


def _build_convlstm(rank: int, return_sequences: bool, padding: str):
    import keras

    x = keras.Input(_CONVLSTM_SHAPES[rank], name="x")
    cls = getattr(keras.layers, f"ConvLSTM{rank}D")
    return keras.Model(x, cls(3, 3, padding=padding, return_sequences=return_sequences)(x))


def _td(kind: str, shape, description: str):
    return model_case(f"wrap_td_{kind}", FAMILY, partial(_build_td, kind), partial(normal, shape),
                      description=description)


def _bidir(kind: str, merge_mode: str, return_sequences: bool = True, backward: bool = False):
    name = f"wrap_bidir_{kind}_{merge_mode}" + ("" if return_sequences else "_last") + ("_backward_layer" if backward else "")
    return model_case(name, FAMILY, partial(_build_bidir, kind, merge_mode, return_sequences, backward),
                      partial(normal, (6, 3)),
                      description=f"Bidirectional({kind}(4, return_sequences={return_sequences}), merge_mode="
                                  f"{merge_mode!r}{', backward_layer=relu ' + kind if backward else ''}) -> Dense(2)")


def _convlstm(rank: int, return_sequences: bool, padding: str = "same"):
    name = f"wrap_convlstm{rank}d_{'seq' if return_sequences else 'last'}" + ("" if padding == "same" else f"_{padding}")
    return model_case(name, FAMILY, partial(_build_convlstm, rank, return_sequences, padding),
                      partial(normal, _CONVLSTM_SHAPES[rank]),
                      description=f"ConvLSTM{rank}D(3, 3, padding={padding!r}, return_sequences={return_sequences})"
                                  f" on {_CONVLSTM_SHAPES[rank]}")


CASES = [
    _td("dense", (5, 6), "TimeDistributed(Dense(4, tanh)) over 5 steps"),
    _td("conv2d", (3, 6, 6, 2), "TimeDistributed(Conv2D(3, 3, relu)) -> TimeDistributed(GlobalAveragePooling2D)"),
    _td("sequential", (4, 5, 3), "TimeDistributed(Sequential([Conv1D, Flatten, Dense(3)])) over 4 steps"),
    _td("flatten", (3, 4, 2), "TimeDistributed(Flatten()) -> Dense(3)"),
    _bidir("simplernn", "concat"),
    _bidir("simplernn", "sum"),
    _bidir("gru", "mul"),
    _bidir("gru", "ave"),
    _bidir("gru", "concat", backward=True),
    _bidir("lstm", "concat", return_sequences=False),
    _bidir("simplernn", "ave", return_sequences=False),
    _convlstm(1, True),
    _convlstm(1, False),
    _convlstm(1, True, padding="valid"),
    _convlstm(2, True),
    _convlstm(2, False),
    _convlstm(3, True),
    _convlstm(3, False),
]
