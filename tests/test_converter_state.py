"""A converter's import must leave the worker's process as it found it.

One worker converts every case through every converter row, so a converter that changes a global of
TensorFlow changes every later cell of that worker, in whatever order xdist gave them.  Found on the
models tier: ``import keras2onnx`` calls ``tf.compat.v1.disable_tensor_equality()`` before it fails,
after which KerasHub's Swin backbone (its shifted-window mask is built with ``!=`` of two tensors) was a
CASE_ERROR on every row of that worker (IndexError in WindowAttention.call, a scalar mask).
"""
import subprocess
import sys
import textwrap

from tests.helpers import ROOT

PROBE = textwrap.dedent("""
    import os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import tensorflow as tf
    from conformance.loader import builtin_converters

    def equality():
        return bool(tf.Tensor._USE_EQUALITY), tuple((tf.constant([1, 2]) != tf.constant([1, 3])).shape)

    print("before", equality())
    for conv in builtin_converters():
        try:
            conv.load()
        except Exception as exc:  # an unavailable converter is a result here too
            print("unavailable", conv.name, type(exc).__name__)
        print("after", conv.name, equality())
""")


def test_loading_every_converter_keeps_tensor_equality(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    proc = subprocess.run([sys.executable, str(probe)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith(("before", "after"))]
    assert lines[0] == "before (True, (2,))"
    changed = [line for line in lines[1:] if not line.endswith("(True, (2,))")]
    assert len(lines) > 5 and not changed, proc.stdout
