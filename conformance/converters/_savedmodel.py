"""Saving a case's model as a SavedModel once per worker, the way its Keras documents."""
from __future__ import annotations

from pathlib import Path

from cases.api import KERAS, SAVED_MODEL
from conformance.converters.base import ConvertContext, keras_major


def save_for_serving(model, path, flavour: str, n_outputs: int) -> tuple[list[str], str]:
    """Save ``model`` (a case of ``flavour``, with ``n_outputs`` outputs) as a SavedModel at ``path``: Keras 3's
    ``model.export(format="tf_saved_model")``, else ``tf.saved_model.save``.  Returns (the serving output keys
    in Keras's output order, how it was saved)."""
    if flavour == KERAS and keras_major() >= 3:
        import inspect

        # Model.export(verbose=) came with Keras 3.6; older Keras 3 prints its summary regardless
        quiet = {"verbose": False} if "verbose" in inspect.signature(model.export).parameters else {}
        model.export(str(path), format="tf_saved_model", **quiet)
        return [f"output_{i}" for i in range(n_outputs)], 'model.export(path, format="tf_saved_model")'
    import tensorflow as tf

    tf.saved_model.save(model, str(path))
    return list(getattr(model, "output_names", []) or []), "tf.saved_model.save(model, path)"


def saved_model(model, ctx: ConvertContext) -> tuple[Path, list[str], str]:
    """(directory, serving output keys in Keras output order, how it was saved); shared across opsets.

    A SavedModel case (``--model DIR``) is its own directory, untouched."""
    if ctx.case.keras == SAVED_MODEL:
        return Path(ctx.case.source), list(model.output_names), "the SavedModel directory as given (--model)"

    def make():
        path = ctx.case_dir / "saved_model"
        keys, how = save_for_serving(model, path, ctx.case.keras, len(ctx.outputs))
        return path, keys, how

    return ctx.shared("saved_model", make)
