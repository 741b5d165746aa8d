"""A user's module of custom Keras objects, as ``--custom-objects userlayers.py`` takes it.

``ScaledDense`` is registered with ``keras.saving.register_keras_serializable`` (so a ``.keras`` file
names it ``userlayers>ScaledDense``); ``swish_ish`` is an activation given through the module-level
``custom_objects`` dict, the other way Keras resolves a name it does not know.
"""
import keras


@keras.saving.register_keras_serializable(package="userlayers")
class ScaledDense(keras.layers.Layer):
    """A dense layer whose output is multiplied by a learned scalar."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform", name="kernel")
        self.scale = self.add_weight(shape=(), initializer="ones", name="scale")

    def call(self, x):
        return keras.ops.matmul(x, self.kernel) * self.scale

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="userlayers")
class TwoTower(keras.Model):
    """A subclassed model: two dense towers added."""

    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.left = keras.layers.Dense(units, activation="relu")
        self.right = keras.layers.Dense(units, activation="tanh")

    def call(self, x):
        return self.left(x) + self.right(x)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def swish_ish(x):
    return x * keras.ops.sigmoid(1.5 * x)


custom_objects = {"swish_ish": swish_ish}
