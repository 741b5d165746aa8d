"""Attention layers: MultiHeadAttention, GroupQueryAttention, Attention, AdditiveAttention, EinsumDense."""
from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from cases.layers import model_case, normal

FAMILY = "attention"
SEQ, DIM = 5, 8
#: the module of the custom layers (imports only Keras: it travels with repros and minimised models)
CUSTOM = str(Path(__file__).with_name("_custom_layers.py"))


def _floats(*shapes, rng: np.random.Generator, batch: int):
    return [rng.standard_normal((batch, *s)).astype("float32") for s in shapes]


def _seqs(*shapes):
    def gen(rng: np.random.Generator, batch: int):
        return _floats(*shapes, rng=rng, batch=batch)
    return gen


def _with_mask(q_len: int, v_len: int, rng: np.random.Generator, batch: int):
    """A query sequence and a boolean (q_len, v_len) attention mask; every query sees at least one key."""
    x = rng.standard_normal((batch, q_len, DIM)).astype("float32")
    mask = rng.random((batch, q_len, v_len)) < 0.6
    mask[:, np.arange(q_len), np.arange(q_len) % v_len] = True
    return [x, mask]


def _build_mha(kind: str):
    import keras

    if kind == "cross":
        q, v = keras.Input((4, DIM), name="query"), keras.Input((SEQ + 2, 6), name="value")
        y = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)(q, v)
        return keras.Model([q, v], y)
    if kind == "cross_key":
        q = keras.Input((4, DIM), name="query")
        v, k = keras.Input((SEQ + 2, 6), name="value"), keras.Input((SEQ + 2, 3), name="key")
        y = keras.layers.MultiHeadAttention(num_heads=3, key_dim=2, value_dim=5, output_shape=7)(q, v, key=k)
        return keras.Model([q, v, k], y)
    x = keras.Input((SEQ, DIM), name="x")
    if kind == "self":
        y = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)(x, x)
        return keras.Model(x, y)
    if kind == "no_bias":
        y = keras.layers.MultiHeadAttention(num_heads=4, key_dim=2, use_bias=False)(x, x)
        return keras.Model(x, y)
    if kind == "causal":
        y = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)(x, x, use_causal_mask=True)
        return keras.Model(x, y)
    if kind == "mask":
        m = keras.Input((SEQ, SEQ), dtype="bool", name="attention_mask")
        y = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)(x, x, attention_mask=m)
        return keras.Model([x, m], y)
    if kind == "scores":
        y, scores = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)(x, x, return_attention_scores=True)
        return keras.Model(x, [y, scores])
    raise ValueError(kind)


def _build_mha_axes():
    """Attention over the two inner axes of a (3, 4, DIM) tensor: a 2-D attention map."""
    import keras

    x = keras.Input((3, 4, DIM), name="x")
    y = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3, attention_axes=(1, 2))(x, x)
    return keras.Model(x, y)


def _build_gqa(kind: str):
    import keras

    if kind == "cross":
        # GroupQueryAttention needs the same feature size in query and value
        q, v = keras.Input((4, DIM), name="query"), keras.Input((SEQ + 2, DIM), name="value")
        y = keras.layers.GroupQueryAttention(head_dim=3, num_query_heads=6, num_key_value_heads=3)(q, v)
        return keras.Model([q, v], y)
    x = keras.Input((SEQ, DIM), name="x")
    layer = keras.layers.GroupQueryAttention(head_dim=4, num_query_heads=4, num_key_value_heads=2)
    y = layer(x, x, use_causal_mask=True) if kind == "causal" else layer(x, x)
    return keras.Model(x, y)


def _build_attention(cls: str, kwargs: dict, key: bool, call: dict, weight_value: float | None):
    import keras

    q, v = keras.Input((4, 6), name="query"), keras.Input((SEQ, 6), name="value")
    inputs = [q, v]
    if key:
        inputs.append(keras.Input((SEQ, 6), name="key"))
    layer = getattr(keras.layers, cls)(**kwargs)
    y = layer(inputs, **call)
    if weight_value is not None:  # the learned scale starts at 1 (or zeros): give it a value that changes the answer
        rng = np.random.default_rng(7)
        layer.set_weights([np.full(w.shape, weight_value, "float32") if len(w.shape) == 0
                           else rng.uniform(0.3, 1.5, tuple(w.shape)).astype("float32") for w in layer.weights])
    return keras.Model(inputs, y)


def _build_causal_self_attention():
    """Attention()([x, x], use_causal_mask=True): query and value the same sequence, as in a decoder."""
    import keras

    x = keras.Input((SEQ, 6), name="x")
    return keras.Model(x, keras.layers.Attention()([x, x], use_causal_mask=True))


def _build_einsum(equation: str, output_shape, bias_axes, shape: tuple, activation=None):
    import keras

    x = keras.Input(shape, name="x")
    layer = keras.layers.EinsumDense(equation, output_shape=output_shape, bias_axes=bias_axes, activation=activation)
    y = layer(x)
    if bias_axes:  # the bias starts at zero: make it count
        rng = np.random.default_rng(3)
        layer.set_weights([w if i == 0 else rng.standard_normal(w.shape).astype("float32")
                           for i, w in enumerate(layer.get_weights())])
    return keras.Model(x, y)


def _build_one_head(heads: int):
    """A custom layer that splits its query and key into ``heads`` heads the way KerasHub's MiT/SegFormer
    attention does (:class:`cases.layers._custom_layers.SplitHeadsAttention`): reshape with the batch size
    read from ``ops.shape(x)`` (a tensor) and the head axis moved in front of the sequence, then
    query @ key^T.  With one head the transposes move only a size-1 axis (MiT-B0's first stage has one head)."""
    import keras

    from cases.layers._custom_layers import SplitHeadsAttention

    x = keras.Input((SEQ * 3, DIM), name="x")
    return keras.Model(x, SplitHeadsAttention(heads, DIM, name=f"split_{heads}_heads")(x))


def _mha(kind: str, inputs, description: str):
    return model_case(f"attn_mha_{kind}", FAMILY, partial(_build_mha, kind), inputs, description=description)


def _attention(name: str, cls: str, description: str, *, key: bool = False, call: dict | None = None,
               weight_value: float | None = None, **kwargs):
    shapes = [(4, 6), (SEQ, 6)] + ([(SEQ, 6)] if key else [])
    return model_case(f"attn_{name}", FAMILY, partial(_build_attention, cls, kwargs, key, dict(call or {}), weight_value),
                      _seqs(*shapes), description=description)


def _einsum(name: str, equation: str, output_shape, bias_axes, shape, activation=None):
    return model_case(f"attn_einsum_{name}", FAMILY,
                      partial(_build_einsum, equation, output_shape, bias_axes, tuple(shape), activation),
                      partial(normal, tuple(shape)),
                      description=f"EinsumDense({equation!r}, output_shape={output_shape!r}, bias_axes={bias_axes!r}"
                                  f"{', activation=' + repr(activation) if activation else ''}) on {tuple(shape)}")


CASES = [
    _mha("self", _seqs((SEQ, DIM)), "MultiHeadAttention(2 heads, key_dim 4) self-attention, no mask"),
    _mha("no_bias", _seqs((SEQ, DIM)), "MultiHeadAttention(4 heads, key_dim 2, use_bias=False) self-attention"),
    _mha("mask", partial(_with_mask, SEQ, SEQ), "MultiHeadAttention self-attention with a boolean attention_mask input"),
    _mha("causal", _seqs((SEQ, DIM)), "MultiHeadAttention self-attention with use_causal_mask=True"),
    _mha("cross", _seqs((4, DIM), (SEQ + 2, 6)), "MultiHeadAttention cross attention: query length 4, value length 7"),
    _mha("cross_key", _seqs((4, DIM), (SEQ + 2, 6), (SEQ + 2, 3)),
         "MultiHeadAttention(3 heads, key_dim 2, value_dim 5, output_shape 7) with separate query, value and key"),
    _mha("scores", _seqs((SEQ, DIM)), "MultiHeadAttention self-attention, return_attention_scores=True: two outputs"),
    model_case("attn_mha_attention_axes", FAMILY, _build_mha_axes, _seqs((3, 4, DIM)),
               description="MultiHeadAttention(attention_axes=(1, 2)) over a (3, 4, 8) input"),
    model_case("attn_gqa_self", FAMILY, partial(_build_gqa, "self"), _seqs((SEQ, DIM)),
               description="GroupQueryAttention(head_dim 4, 4 query heads, 2 key/value heads) self-attention"),
    model_case("attn_gqa_causal", FAMILY, partial(_build_gqa, "causal"), _seqs((SEQ, DIM)),
               description="GroupQueryAttention self-attention with use_causal_mask=True"),
    model_case("attn_gqa_cross", FAMILY, partial(_build_gqa, "cross"), _seqs((4, DIM), (SEQ + 2, DIM)),
               description="GroupQueryAttention(head_dim 3, 6 query heads, 3 key/value heads), query 4 vs value 7"),
    _attention("dot", "Attention", "Attention()([query, value]): dot-product attention, value used as key"),
    _attention("dot_key", "Attention", "Attention()([query, value, key])", key=True),
    _attention("dot_scale", "Attention", "Attention(use_scale=True) with the learned scale set to 0.6",
               use_scale=True, weight_value=0.6),
    _attention("concat_score", "Attention", "Attention(score_mode='concat', use_scale=True), concat_score_weight set",
               score_mode="concat", use_scale=True, weight_value=1.7),
    model_case("attn_dot_causal", FAMILY, _build_causal_self_attention, _seqs((SEQ, 6)),
               description="Attention()([x, x], use_causal_mask=True)"),
    _attention("additive", "AdditiveAttention", "AdditiveAttention(use_scale=True) with a random learned scale",
               weight_value=0.0),
    _attention("additive_no_scale", "AdditiveAttention", "AdditiveAttention(use_scale=False)", key=True,
               use_scale=False),
    model_case("attn_split_one_head", FAMILY, partial(_build_one_head, 1), _seqs((SEQ * 3, DIM)),
               description="a custom layer splitting query and key into one head with the batch from ops.shape "
                           "(KerasHub's MiT/SegFormer attention), then query @ key^T", custom_objects=(CUSTOM,)),
    model_case("attn_split_two_heads", FAMILY, partial(_build_one_head, 2), _seqs((SEQ * 3, DIM)),
               description="the same custom attention with two heads (the transposes move a real axis)",
               custom_objects=(CUSTOM,)),
    _einsum("ab_bc", "ab,bc->ac", 5, "c", (6,)),
    _einsum("abc_cd", "abc,cd->abd", (4, 5), None, (4, 6)),
    _einsum("abc_cde", "abc,cde->abde", (4, 2, 3), "de", (4, 6), activation="relu"),
]
