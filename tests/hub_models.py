"""Tiny KerasHub text backbones saved as ``.keras``, for the tests of models that take a dict of inputs.

    python tests/hub_models.py OUT_DIR        # needs keras_hub (the `models` extra)

Each backbone is built from its constructor at a tiny configuration (random weights, seeded): nothing
is downloaded, no preset, no vocabulary.  Writes ``bert.keras`` (inputs ``token_ids``, ``segment_ids``,
``padding_mask``) and ``gpt2.keras`` (``token_ids``, ``padding_mask``), and ``gpt2.npz``: inputs by
name with real padding.  A script (run in a subprocess) so that the tests never import TensorFlow.
"""
import sys

#: the tiny configuration shared by the backbones
TINY = dict(vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=32, intermediate_dim=64,
            max_sequence_length=16)


def main(out: str) -> None:
    import numpy as np
    import keras
    import keras_hub

    keras.utils.set_random_seed(0)
    keras_hub.models.BertBackbone(**TINY).save(f"{out}/bert.keras")
    keras_hub.models.GPT2Backbone(**TINY).save(f"{out}/gpt2.keras")
    rng = np.random.default_rng(0)
    lengths = np.array([5, 12, 3, 12])
    mask = (np.arange(12)[None, :] < lengths[:, None]).astype("int32")
    tokens = np.where(mask == 1, rng.integers(1, TINY["vocabulary_size"], size=mask.shape), 0).astype("int32")
    np.savez(f"{out}/gpt2.npz", token_ids=tokens, padding_mask=mask)


if __name__ == "__main__":
    main(sys.argv[1])
