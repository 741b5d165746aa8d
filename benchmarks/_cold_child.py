"""One cold start: a fresh process loads a saved model and predicts once.

Run by benchmarks/_bench.py as ``python _cold_child.py SPEC_JSON``; prints one
JSON line with its timings.  It imports nothing from the suite, only what a
user's own script would.  Timings (seconds, wall clock):

    since_launch_s  from the parent's timestamp taken just before it started
                    this process, to the end of the first prediction
    in_process_s    from this file's first line to the end of the first prediction
    import_s, load_s, predict_s   the parts of in_process_s
"""
import time

T_START = time.time()

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402


def _keras_input(np, data, n):
    arrays = [data[f"x{i}"] for i in range(n)]
    return arrays[0] if n == 1 else arrays


def main() -> None:
    spec = json.loads(sys.argv[1])
    kind, path, intra, inter = spec["kind"], spec["path"], int(spec["intra_op"]), int(spec["inter_op"])
    names = spec["feed_names"]
    t_import = time.time()
    import numpy as np

    if kind == "onnxruntime":
        import onnxruntime as ort

        t_load = time.time()
        so = ort.SessionOptions()
        so.intra_op_num_threads = intra
        so.inter_op_num_threads = inter
        so.log_severity_level = 3
        if spec.get("allow_spinning") is not None:
            so.add_session_config_entry("session.intra_op.allow_spinning", spec["allow_spinning"])
            so.add_session_config_entry("session.inter_op.allow_spinning", spec["allow_spinning"])
        sess = ort.InferenceSession(path, sess_options=so, providers=["CPUExecutionProvider"])
        data = np.load(spec["inputs"])
        feeds = {name: data[f"x{i}"] for i, name in enumerate(names)}
        t_predict = time.time()
        out = sess.run(None, feeds)
    else:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
        if kind == "keras":
            import keras

            t_load = time.time()
            model = keras.models.load_model(path)
        elif kind == "tf_keras":
            import tf_keras

            custom = {}
            try:  # a hub.KerasLayer inside the SavedModel needs its class to load as Keras
                import tensorflow_hub as hub

                custom["KerasLayer"] = hub.KerasLayer
            except ImportError:
                pass
            t_load = time.time()
            model = tf_keras.models.load_model(path, custom_objects=custom)
        else:
            raise SystemExit(f"unknown kind {kind!r}")
        data = np.load(spec["inputs"])
        t_predict = time.time()
        out = model.predict(_keras_input(np, data, len(names)), verbose=0)
    t_end = time.time()
    first = out[0] if isinstance(out, (list, tuple)) else out
    print(json.dumps({
        "since_launch_s": t_end - float(spec["launched_at"]),
        "in_process_s": t_end - T_START,
        "import_s": t_load - t_import,
        "load_s": t_predict - t_load,
        "predict_s": t_end - t_predict,
        "output_shape": list(np.asarray(first).shape),
        "pid": os.getpid(),
    }), flush=True)


if __name__ == "__main__":
    main()
