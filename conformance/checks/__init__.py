"""Checks of a converted model, run inside the worker: validity, runtime, comparison, top-k, deployability."""
