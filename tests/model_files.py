"""Saved models for the tests of ``--model``: a small classifier trained for a few steps, saved as
``.keras``, as ``.h5`` and as a SavedModel directory, plus ``.npz`` inputs that fit and that do not.

    python tests/model_files.py OUT_DIR        # run with the Python whose Keras should write the files

It is a script (run in a subprocess) so that the tests themselves never import TensorFlow.
"""
import sys


def main(out: str) -> None:
    import numpy as np
    import keras

    keras.utils.set_random_seed(1)
    x = keras.Input((8,), name="features")
    h = keras.layers.Dense(16, activation="tanh")(x)
    model = keras.Model(x, keras.layers.Dense(3, activation="softmax")(h))
    model.compile("adam", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    data = rng.standard_normal((64, 8)).astype("float32")
    labels = rng.integers(0, 3, 64)
    before = model.get_weights()[0].copy()
    model.fit(data, labels, epochs=3, batch_size=16, verbose=0)
    assert not np.allclose(before, model.get_weights()[0]), "training changed nothing"
    model.save(f"{out}/trained_mlp.keras")
    model.save(f"{out}/trained_mlp_h5.h5")
    model.export(f"{out}/trained_mlp_savedmodel", format="tf_saved_model", verbose=False)
    np.savez(f"{out}/good.npz", features=data[:4])
    np.savez(f"{out}/wrong_name.npz", x=data[:4])
    np.savez(f"{out}/wrong_dtype.npz", features=data[:4].astype("float64"))
    np.savez(f"{out}/wrong_shape.npz", features=data[:4, :5])
    with open(f"{out}/broken.keras", "wb") as fh:
        fh.write(b"this is not a zip archive")


if __name__ == "__main__":
    main(sys.argv[1])
