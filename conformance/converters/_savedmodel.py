"""Saving a case's model as a SavedModel once per worker, the way its Keras documents."""
from __future__ import annotations

from pathlib import Path

from cases.api import KERAS, SAVED_MODEL
from conformance.converters.base import ConvertContext, keras_major


def saved_model(model, ctx: ConvertContext) -> tuple[Path, list[str], str]:
    """(directory, serving output keys in Keras output order, how it was saved); shared across opsets.

    A SavedModel case (``--model DIR``) is its own directory, untouched."""
    if ctx.case.keras == SAVED_MODEL:
        return Path(ctx.case.source), list(model.output_names), "the SavedModel directory as given (--model)"

    def make():
        path = ctx.case_dir / "saved_model"
        if ctx.case.keras == KERAS and keras_major() >= 3:
            import inspect

            # Model.export(verbose=) came with Keras 3.6; older Keras 3 prints its summary regardless
            quiet = {"verbose": False} if "verbose" in inspect.signature(model.export).parameters else {}
            model.export(str(path), format="tf_saved_model", **quiet)
            how = 'model.export(path, format="tf_saved_model")'
            keys = [f"output_{i}" for i in range(len(ctx.outputs))]
            if len(ctx.outputs) == 1:
                keys = ["output_0"]
        else:
            import tensorflow as tf

            tf.saved_model.save(model, str(path))
            how = "tf.saved_model.save(model, path)"
            keys = list(getattr(model, "output_names", []) or [])
        return path, keys, how

    return ctx.shared("saved_model", make)
