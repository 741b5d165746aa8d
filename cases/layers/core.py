"""Core layers: Dense, Embedding, ReversibleEmbedding, Identity, Lambda, Masking, and the layers that are
identities at inference (Dropout, SpatialDropout1D/2D/3D, GaussianDropout, GaussianNoise, AlphaDropout,
ActivityRegularization), each placed between two trainable layers so the model is no bare identity.

``Masking -> LSTM/GRU`` and ``Embedding(mask_zero=True) -> GRU`` are in ``cases.recurrent`` already;
here the mask feeds a pooling layer instead.
"""
from __future__ import annotations

from functools import partial

import numpy as np

from cases.layers import integers, layer_case, model_case, normal

FAMILY = "core"
VOCAB, EMB, TOKENS = 20, 6, 8


def _build_dense(shape: tuple, kwargs: dict):
    import keras

    x = keras.Input(shape, name="x")
    layer = keras.layers.Dense(**kwargs)
    y = layer(x)
    if kwargs.get("use_bias", True):  # the bias starts at zero: make it count
        kernel, bias = layer.get_weights()
        layer.set_weights([kernel, np.random.default_rng(2).standard_normal(bias.shape).astype("float32")])
    return keras.Model(x, y)


def _build_op_constant():
    """A functional model that scales by a constant computed with keras.ops while the model is built, as
    KerasHub's Gemma scales its embeddings by sqrt(hidden_dim): Dense, then ``h * ops.cast(ops.sqrt(32), ...)``."""
    import keras
    from keras import ops

    x = keras.Input((4, 6), name="x")
    h = keras.layers.Dense(8)(x)
    return keras.Model(x, h * ops.cast(ops.sqrt(32), h.dtype))


def _padded_tokens(rng: np.random.Generator, batch: int):
    """Token ids 1..VOCAB-1, zero-padded at the end to a different length in each row."""
    t = rng.integers(1, VOCAB, size=(batch, TOKENS)).astype("int32")
    for i in range(batch):
        t[i, TOKENS - (1 + 2 * i) % 7:] = 0
    return [t]


def _build_embedding_mask_pool():
    import keras

    tokens = keras.Input((TOKENS,), dtype="int32", name="tokens")
    y = keras.layers.Embedding(VOCAB, EMB, mask_zero=True)(tokens)
    y = keras.layers.GlobalAveragePooling1D()(y)  # averages over the unmasked positions only
    return keras.Model(tokens, keras.layers.Dense(3)(y))


def _build_reversible(tie_weights: bool, soft_cap):
    """Tokens -> ReversibleEmbedding -> Dense -> the same embedding with reverse=True: vocabulary logits."""
    import keras

    tokens = keras.Input((TOKENS,), dtype="int32", name="tokens")
    emb = keras.layers.ReversibleEmbedding(VOCAB, EMB, tie_weights=tie_weights, logit_soft_cap=soft_cap)
    h = emb(tokens)
    h = keras.layers.Dense(EMB, activation="tanh")(h)
    return keras.Model(tokens, emb(h, reverse=True))


def _build_reversible_forward():
    import keras

    tokens = keras.Input((TOKENS,), dtype="int32", name="tokens")
    return keras.Model(tokens, keras.layers.ReversibleEmbedding(VOCAB, EMB)(tokens))


def _build_lambda():
    import keras

    x = keras.Input((4, 6), name="x")
    y = keras.layers.Lambda(lambda t: keras.ops.sqrt(keras.ops.abs(t)) * keras.ops.sin(t))(x)
    return keras.Model(x, keras.layers.Dense(3)(y))


def _build_masking_pool():
    import keras

    x = keras.Input((TOKENS, 3), name="x")
    y = keras.layers.Masking(mask_value=0.0)(x)
    y = keras.layers.GlobalAveragePooling1D()(y)  # the mean over the unmasked timesteps
    return keras.Model(x, keras.layers.Dense(2)(y))


def _masked_inputs(rng: np.random.Generator, batch: int):
    x = rng.standard_normal((batch, TOKENS, 3)).astype("float32")
    for i in range(batch):
        x[i, TOKENS - (2 + 2 * i) % 7:] = 0.0
    return [x]


#: the identity-at-inference layers: (case suffix, class, kwargs, rank of the feature maps it sits between)
_SANDWICHED = (
    ("dropout", "Dropout", {"rate": 0.5}, 1),
    ("dropout_noise_shape", "Dropout", {"rate": 0.3, "noise_shape": (None, 1, 6)}, 1),
    ("spatial_dropout1d", "SpatialDropout1D", {"rate": 0.5}, 1),
    ("spatial_dropout2d", "SpatialDropout2D", {"rate": 0.5}, 2),
    ("spatial_dropout3d", "SpatialDropout3D", {"rate": 0.5}, 3),
    ("gaussian_dropout", "GaussianDropout", {"rate": 0.4}, 1),
    ("gaussian_noise", "GaussianNoise", {"stddev": 0.5}, 1),
    ("alpha_dropout", "AlphaDropout", {"rate": 0.4}, 1),
    ("activity_regularization", "ActivityRegularization", {"l1": 0.01, "l2": 0.01}, 1),
    ("identity", "Identity", {}, 1),
)
_SANDWICH_SHAPES = {1: (5, 4), 2: (5, 5, 2), 3: (4, 4, 4, 2)}


def _build_sandwich(cls: str, kwargs: dict, rank: int):
    """conv/dense -> <layer> -> conv/dense: the layer must vanish without taking its neighbours along."""
    import keras

    x = keras.Input(_SANDWICH_SHAPES[rank], name="x")
    if rank == 1:
        before, after = keras.layers.Conv1D(6, 2, padding="same", activation="relu"), keras.layers.Dense(3)
    elif rank == 2:
        before, after = keras.layers.Conv2D(4, 3, padding="same", activation="relu"), keras.layers.Conv2D(2, 2)
    else:
        before, after = keras.layers.Conv3D(3, 2, padding="same", activation="relu"), keras.layers.Conv3D(2, 2)
    y = after(getattr(keras.layers, cls)(**kwargs)(before(x)))
    return keras.Model(x, y)


def _sandwich(suffix: str, cls: str, kwargs: dict, rank: int):
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return model_case(f"core_{suffix}", FAMILY, partial(_build_sandwich, cls, kwargs, rank),
                      partial(normal, _SANDWICH_SHAPES[rank]),
                      description=f"{cls}({args}) between two trainable layers (rank-{rank} feature maps); "
                                  "an identity at inference")


CASES = [
    model_case("core_op_constant", FAMILY, _build_op_constant, partial(normal, (4, 6)),
               description="Dense, then a keras.ops constant applied while the functional model is built "
                           "(h * sqrt(32), Gemma's embedding scale)"),
    model_case("core_dense_2d", FAMILY, partial(_build_dense, (6,), {"units": 4, "activation": "tanh"}),
               partial(normal, (6,)), description="Dense(4, tanh) on (6,), random bias"),
    model_case("core_dense_3d", FAMILY, partial(_build_dense, (4, 6), {"units": 5}), partial(normal, (4, 6)),
               description="Dense(5) on a 3-D input (4, 6), random bias"),
    model_case("core_dense_3d_no_bias", FAMILY, partial(_build_dense, (4, 6), {"units": 5, "use_bias": False}),
               partial(normal, (4, 6)), description="Dense(5, use_bias=False) on a 3-D input (4, 6)"),
    model_case("core_dense_4d", FAMILY, partial(_build_dense, (2, 3, 6), {"units": 4, "activation": "relu"}),
               partial(normal, (2, 3, 6)), description="Dense(4, relu) on a 4-D input (2, 3, 6), random bias"),
    layer_case("core_embedding", FAMILY, "Embedding", {"input_dim": VOCAB, "output_dim": EMB}, shape=(TOKENS,),
               dtype="int32", inputs=partial(integers, (TOKENS,), VOCAB)),
    layer_case("core_embedding_int64", FAMILY, "Embedding", {"input_dim": VOCAB, "output_dim": EMB}, shape=(TOKENS,),
               dtype="int64", inputs=partial(integers, (TOKENS,), VOCAB, dtype="int64")),
    model_case("core_embedding_mask_zero_pool", FAMILY, _build_embedding_mask_pool, _padded_tokens,
               description="Embedding(mask_zero=True) -> GlobalAveragePooling1D (masked mean) -> Dense(3)"),
    model_case("core_reversible_embedding", FAMILY, _build_reversible_forward, partial(integers, (TOKENS,), VOCAB),
               description=f"ReversibleEmbedding({VOCAB}, {EMB}) forward: a lookup"),
    model_case("core_reversible_embedding_reverse", FAMILY, partial(_build_reversible, True, None),
               partial(integers, (TOKENS,), VOCAB),
               description="ReversibleEmbedding tied: lookup -> Dense(tanh) -> reverse=True (logits by the table)"),
    model_case("core_reversible_embedding_untied_softcap", FAMILY, partial(_build_reversible, False, 2.0),
               partial(integers, (TOKENS,), VOCAB),
               description="ReversibleEmbedding(tie_weights=False, logit_soft_cap=2.0): lookup, Dense, reverse"),
    model_case("core_lambda_ops", FAMILY, _build_lambda, partial(normal, (4, 6), scale=2.0),
               description="Lambda(sqrt(abs(t)) * sin(t)) in keras.ops -> Dense(3)"),
    model_case("core_masking_pool", FAMILY, _build_masking_pool, _masked_inputs,
               description="Masking(0.0) -> GlobalAveragePooling1D (masked mean) -> Dense(2), zero-padded rows"),
    *[_sandwich(*spec) for spec in _SANDWICHED],
]
