"""Custom Keras layers some layer-library cases build on, in a module that imports only Keras (Keras 3: its
name starts with "_", so it is no case module and the Keras 2 stacks never import it).

A case whose model holds one of these names this file in ``Case.custom_objects``: a model saved from it
loads again wherever this file is imported first (the worker's repro writes it beside ``repro.py``; the
reducer's candidates are loaded with it), so the model file, its repro and its minimised model run
outside the checkout too.  Registered under the package ``conformance``.
"""
import keras
from keras import ops


@keras.saving.register_keras_serializable(package="conformance")
class SplitHeadsAttention(keras.layers.Layer):
    """Splits query and key into ``heads`` heads the way KerasHub's MiT/SegFormer attention does: reshape with
    the batch size read from ``ops.shape(x)`` (a tensor), the head axis moved in front of the sequence, then
    query @ key^T.  With one head the transposes move only a size-1 axis."""

    def __init__(self, heads: int = 1, dim: int = 8, **kwargs):
        super().__init__(**kwargs)
        self.heads, self.dim = int(heads), int(dim)
        self.q, self.k = keras.layers.Dense(self.dim), keras.layers.Dense(self.dim)

    def call(self, x):
        shape = ops.shape(x)
        batch, length, dim = shape[0], shape[1], shape[2]
        heads = self.heads
        q = ops.transpose(ops.reshape(self.q(x), (batch, length, heads, dim // heads)), [0, 2, 1, 3])
        k = ops.transpose(ops.reshape(self.k(x), [batch, -1, heads, dim // heads]), [0, 2, 1, 3])
        return q @ ops.transpose(k, [0, 1, 3, 2])

    def get_config(self):
        return {**super().get_config(), "heads": self.heads, "dim": self.dim}


custom_objects = {"SplitHeadsAttention": SplitHeadsAttention}
