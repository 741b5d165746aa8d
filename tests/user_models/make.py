"""Twelve models built the way users build them, saved with their inputs: the your-model tests' data.

    python tests/user_models/make.py OUT_DIR [NAME ...]

Writes ``OUT_DIR/<name>.keras`` (``.h5`` for the Keras 2 file) and ``OUT_DIR/<name>.npz`` for each
model (all, or the names given).  It is a script, run in a subprocess with the Python whose Keras
should write the files, so that the tests themselves never import TensorFlow.  The custom layer and
the activation come from ``userlayers.py`` beside it (the module a user hands over with
``--custom-objects``).
"""
import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _userlayers():
    spec = importlib.util.spec_from_file_location("userlayers", HERE / "userlayers.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["userlayers"] = mod
    spec.loader.exec_module(mod)
    return mod


def custom_layer(keras, np, rng):
    ul = _userlayers()
    x = keras.Input((6,), name="features")
    h = ul.ScaledDense(8, name="scaled")(x)
    y = keras.layers.Dense(3, activation=ul.swish_ish, name="head")(h)
    return keras.Model(x, y), {"features": rng.standard_normal((4, 6)).astype("float32")}


def trained_convnet(keras, np, rng):
    x = keras.Input((12, 12, 1), name="image")
    h = keras.layers.Conv2D(4, 3, padding="same")(x)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Dropout(0.3)(h)
    h = keras.layers.Flatten()(h)
    model = keras.Model(x, keras.layers.Dense(3, activation="softmax")(h))
    model.compile("adam", "sparse_categorical_crossentropy")
    data = rng.standard_normal((32, 12, 12, 1)).astype("float32")
    model.fit(data, rng.integers(0, 3, 32), epochs=2, batch_size=8, verbose=0)
    return model, {"image": data[:4]}


def two_heads(keras, np, rng):
    x = keras.Input((10,), name="features")
    h = keras.layers.Dense(16, activation="relu")(x)
    outputs = {"label": keras.layers.Dense(4, activation="softmax", name="label")(h),
               "score": keras.layers.Dense(1, name="score")(h)}
    return keras.Model(x, outputs), {"features": rng.standard_normal((4, 10)).astype("float32")}


def lambda_layer(keras, np, rng):
    x = keras.Input((5,), name="features")
    h = keras.layers.Lambda(lambda t: t * 2.0 + 1.0, name="affine")(x)
    return keras.Model(x, keras.layers.Dense(2)(h)), {"features": rng.standard_normal((4, 5)).astype("float32")}


def embedding_lstm(keras, np, rng):
    x = keras.Input((7,), dtype="int32", name="token_ids")
    h = keras.layers.Embedding(30, 8, mask_zero=True)(x)
    h = keras.layers.LSTM(6)(h)
    ids = rng.integers(1, 30, (4, 7)).astype("int32")
    ids[0, 4:] = 0
    return keras.Model(x, keras.layers.Dense(2)(h)), {"token_ids": ids}


def timedistributed_gru(keras, np, rng):
    x = keras.Input((3, 8, 8, 1), name="frames")
    h = keras.layers.TimeDistributed(keras.layers.Conv2D(2, 3, activation="relu"))(x)
    h = keras.layers.TimeDistributed(keras.layers.GlobalAveragePooling2D())(h)
    h = keras.layers.GRU(5)(h)
    return keras.Model(x, keras.layers.Dense(2)(h)), {"frames": rng.standard_normal((4, 3, 8, 8, 1)).astype("float32")}


def conv_autoencoder(keras, np, rng):
    x = keras.Input((8, 8, 1), name="image")
    h = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu")(x)
    h = keras.layers.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu")(h)
    y = keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")(h)
    return keras.Model(x, y), {"image": rng.random((4, 8, 8, 1)).astype("float32")}


def mixed_float16(keras, np, rng):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        x = keras.Input((16,), name="features")
        h = keras.layers.Dense(32, activation="relu")(x)
        h = keras.layers.Dense(32, activation="relu")(h)
        y = keras.layers.Dense(4)(h)
        y = keras.layers.Activation("linear", dtype="float32", name="out")(y)
        model = keras.Model(x, y)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return model, {"features": rng.standard_normal((4, 16)).astype("float32")}


def fixed_batch(keras, np, rng):
    x = keras.Input((6,), batch_size=1, name="features")
    h = keras.layers.Dense(8, activation="tanh")(x)
    return keras.Model(x, keras.layers.Dense(2)(h)), {"features": rng.standard_normal((1, 6)).astype("float32")}


def keras_ops(keras, np, rng):
    x = keras.Input((6,), name="features")
    h = keras.layers.Dense(8)(x)
    h = keras.ops.tanh(h) * keras.ops.sigmoid(h) + keras.ops.mean(h, axis=-1, keepdims=True)
    return keras.Model(x, keras.layers.Dense(2)(h)), {"features": rng.standard_normal((4, 6)).astype("float32")}


def keras2_h5(keras, np, rng):
    import tf_keras

    x = tf_keras.Input((6,), name="features")
    h = tf_keras.layers.Dense(8, activation="relu")(x)
    return tf_keras.Model(x, tf_keras.layers.Dense(2)(h)), {"features": rng.standard_normal((4, 6)).astype("float32")}


def attention_encoder(keras, np, rng):
    x = keras.Input((6, 16), name="embeddings")
    a = keras.layers.MultiHeadAttention(num_heads=2, key_dim=8)(x, x)
    h = keras.layers.LayerNormalization()(x + a)
    f = keras.layers.Dense(32, activation="gelu")(h)
    f = keras.layers.Dense(16)(f)
    y = keras.layers.LayerNormalization()(h + f)
    return keras.Model(x, y), {"embeddings": rng.standard_normal((4, 6, 16)).astype("float32")}


def grouped_conv(keras, np, rng):
    x = keras.Input((8, 8, 4), name="image")
    h = keras.layers.Conv2D(8, 3, groups=2, padding="same", activation="relu")(x)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(x, keras.layers.Dense(3)(h)), {"image": rng.standard_normal((4, 8, 8, 4)).astype("float32")}


def masked_lstm(keras, np, rng):
    x = keras.Input((6, 3), name="series")
    h = keras.layers.Masking(mask_value=0.0)(x)
    h = keras.layers.LSTM(5, return_sequences=True)(h)
    h = keras.layers.LSTM(4)(h)
    data = rng.standard_normal((4, 6, 3)).astype("float32")
    data[0, 3:] = 0.0
    data[2, 5:] = 0.0
    return keras.Model(x, keras.layers.Dense(2)(h)), {"series": data}


def celu_head(keras, np, rng):
    x = keras.Input((6,), name="features")
    h = keras.layers.Dense(8)(x)
    h = keras.layers.Activation("celu")(h)
    return keras.Model(x, keras.layers.Dense(2)(h)), {"features": rng.standard_normal((4, 6)).astype("float32")}


def augmented_classifier(keras, np, rng):
    x = keras.Input((8, 8, 3), name="image")
    h = keras.layers.RandomFlip("horizontal")(x)
    h = keras.layers.RandomContrast(0.2)(h)
    h = keras.layers.Conv2D(4, 3, activation="relu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(x, keras.layers.Dense(3)(h)), {"image": rng.random((4, 8, 8, 3)).astype("float32")}


def lanczos_resize(keras, np, rng):
    x = keras.Input((8, 8, 3), name="image")
    h = keras.layers.Resizing(12, 12, interpolation="lanczos3")(x)
    h = keras.layers.Conv2D(2, 3)(h)
    return keras.Model(x, h), {"image": rng.random((4, 8, 8, 3)).astype("float32")}


def sequential_mlp(keras, np, rng):
    model = keras.Sequential([keras.Input((6,), name="features"), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(2)])
    return model, {"features": rng.standard_normal((4, 6)).astype("float32")}


def subclassed(keras, np, rng):
    ul = _userlayers()
    model = ul.TwoTower()
    model(np.zeros((1, 6), "float32"))
    return model, {"args_0": rng.standard_normal((4, 6)).astype("float32")}


def encoder_two_blocks(keras, np, rng):
    x = keras.Input((6, 16), name="embeddings")
    h = x
    for _ in range(2):
        a = keras.layers.MultiHeadAttention(num_heads=2, key_dim=8)(h, h)
        h = keras.layers.LayerNormalization()(h + a)
        f = keras.layers.Dense(32, activation="gelu")(h)
        h = keras.layers.LayerNormalization()(h + keras.layers.Dense(16)(f))
    return keras.Model(x, keras.layers.Dense(4)(keras.layers.GlobalAveragePooling1D()(h))), \
        {"embeddings": rng.standard_normal((3, 6, 16)).astype("float32")}


def convnext_like(keras, np, rng):
    x = keras.Input((16, 16, 3), name="image")
    h = keras.layers.Conv2D(16, 2, strides=2)(x)
    h = keras.layers.LayerNormalization(epsilon=1e-6)(h)
    for _ in range(2):
        r = h
        h = keras.layers.Conv2D(16, 3, padding="same", groups=16)(h)
        h = keras.layers.LayerNormalization(epsilon=1e-6)(h)
        h = keras.layers.Dense(32, activation="relu")(h)
        h = keras.layers.Dense(16)(h)
        h = keras.layers.Add()([r, h])
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(x, keras.layers.Dense(5)(h)), {"image": rng.standard_normal((3, 16, 16, 3)).astype("float32")}


def embedding_conv_rnn(keras, np, rng):
    x = keras.Input((10,), dtype="int32", name="token_ids")
    h = keras.layers.Embedding(40, 8)(x)
    h = keras.layers.Conv1D(8, 3, padding="same", activation="relu")(h)
    h = keras.layers.GRU(8, return_sequences=True)(h)
    h = keras.layers.LSTM(6)(h)
    return keras.Model(x, keras.layers.Dense(3)(h)), {"token_ids": rng.integers(1, 40, (3, 10)).astype("int32")}


def softsign_stack(keras, np, rng):
    x = keras.Input((6,), name="features")
    h = keras.layers.Dense(8, activation="relu")(x)
    h = keras.layers.Dense(8)(h)
    h = keras.layers.Activation("softsign")(h)
    h = keras.layers.Dense(4, activation="tanh")(h)
    return keras.Model(x, keras.layers.Dense(2)(h)), {"features": rng.standard_normal((3, 6)).astype("float32")}


#: the twelve kinds of the your-model issue, then models that meet the needs of documented causes
MODELS = {f.__name__: f for f in (custom_layer, trained_convnet, two_heads, lambda_layer, embedding_lstm,
                                  timedistributed_gru, conv_autoencoder, mixed_float16, fixed_batch, keras_ops,
                                  keras2_h5, attention_encoder, grouped_conv, masked_lstm, celu_head,
                                  augmented_classifier, lanczos_resize, sequential_mlp, subclassed,
                                  encoder_two_blocks, convnext_like, embedding_conv_rnn, softsign_stack)}


def main(out: str, names: list[str]) -> None:
    import numpy as np
    import keras

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in names or list(MODELS):
        keras.utils.set_random_seed(7)
        model, inputs = MODELS[name](keras, np, np.random.default_rng(7))
        path = out_dir / (f"{name}.h5" if name == "keras2_h5" else f"{name}.keras")
        model.save(path)
        np.savez(out_dir / f"{name}.npz", **inputs)
        print(path)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
