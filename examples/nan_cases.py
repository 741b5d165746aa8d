"""A user case whose graph computes NaN on the way: ``where(x > 0, log(x), 0)``.

    pytest conformance/ --cases-module examples/nan_cases.py --converters tf2onnx-keras,keras-export --opsets 13 \\
        --causes none

``log`` of the non-positive half of its inputs is NaN or -inf; ``where`` keeps only the defined half, so
Keras's output is finite.  Measured on the modern stack (TensorFlow 2.21, tf2onnx 1.17, Keras 3.15):
both converters give NaN where Keras gives 0 (MISMATCH at opset 13), and ONNX's reference evaluator
agrees with onnxruntime (second opinion: graph suspected).  Every failing step of such a cell sees
non-finite numbers (the comparison, the first divergent layer, the repro); the cell must still be
decided and recorded (tests/test_second_task.py).

The ``Lambda`` holds a lambda expression that imports what it uses: Keras saves a lambda as bytecode,
so the repro's ``model.keras`` loads in a fresh process (a named function would be saved by name only).
"""
from cases.api import Case


def _build_where_log():
    import keras

    x = keras.Input((6,), name="x")
    h = keras.layers.Dense(6, name="dense")(x)
    y = keras.layers.Lambda(
        lambda t: __import__("keras").ops.where(t > 0, __import__("keras").ops.log(t), 0.0), name="where_log")(h)
    return keras.Model(x, y, name="where_log_model")


WHERE_LOG = Case("nan_where_log", family="user", build=_build_where_log,
                 inputs=lambda rng, batch: [rng.standard_normal((batch, 6)).astype("float32")],
                 description="Dense -> where(h > 0, log(h), 0): log's NaN for h <= 0 must not reach the output")
