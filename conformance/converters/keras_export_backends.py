"""Keras 3's own ONNX export from its JAX and PyTorch backends: two more rows beside ``keras-export``.

``model.export(path, format="onnx", opset_version=N)`` is one call, but three converters: on
TensorFlow it runs tf2onnx (row ``keras-export``), on JAX it runs the ``jax2onnx`` package, on
PyTorch ``torch.onnx.export``.  The case's model is built, and Keras's reference computed, under
the row's backend: its cells run in a worker started with ``KERAS_BACKEND`` set (``backend`` below;
the matrix keeps one worker pool per backend).  The packages come from the ``backends`` extra;
where they are missing the row is UNAVAILABLE with the import error.
"""
from __future__ import annotations

import re

from cases.api import KERAS, TF_ONLY_TAG, Case
from conformance.converters.base import Conversion, Converter, ConvertContext, OpsetRejected, Repro, keras_major
from conformance.converters.keras_export import export_onnx

#: how the backends' exporters refuse an opset they do not support
_OPSET_REFUSAL = re.compile(r"(opset|opset_version)\b[^\n]{0,80}\b(not supported|unsupported|must be|is not|too (low|old))"
                            r"|(not supported|unsupported)[^\n]{0,40}\bopset", re.IGNORECASE)


def jax_export_ready() -> None:
    """Raises when Keras's ONNX export cannot run on JAX here (Keras 3 on the JAX backend, jax2onnx)."""
    import jax2onnx  # noqa: F401
    import keras

    if keras.backend.backend() != "jax":
        raise RuntimeError(f"Keras runs on {keras.backend.backend()}; set KERAS_BACKEND=jax before importing it")


def torch_export_ready() -> None:
    """Raises when Keras's ONNX export cannot run on PyTorch here (Keras 3 on the torch backend)."""
    import keras
    import torch  # noqa: F401

    if keras.backend.backend() != "torch":
        raise RuntimeError(f"Keras runs on {keras.backend.backend()}; set KERAS_BACKEND=torch before importing it")


class KerasExportBackend(Converter):
    keras_flavours = frozenset({KERAS})
    #: the import names the row needs besides Keras (the first one's distribution is ``distribution``)
    modules: tuple[str, ...] = ()

    def load(self) -> str:
        import importlib
        import importlib.metadata

        import keras

        if keras_major() < 3:
            raise RuntimeError(f"Keras {keras.__version__} has no backends; model.export(format='onnx') needs Keras 3")
        running = keras.backend.backend()
        if running != self.backend:
            raise RuntimeError(f"this worker runs Keras on {running}; the row needs KERAS_BACKEND={self.backend}")
        self.ready()   # the same check as the standalone repro's
        versions = [f"keras {keras.__version__}"]
        for name in self.modules:
            importlib.import_module(name)
            versions.append(f"{name} {importlib.metadata.version(name)}")
        import keras.src.export.onnx  # noqa: F401

        self.configure()
        return ", ".join(versions)

    def configure(self) -> None:
        """Backend settings for the worker, once (after the imports)."""

    def accepts(self, case: Case) -> str | None:
        why = super().accepts(case)
        if why:
            return why
        if TF_ONLY_TAG in case.tags:
            return (f"the case uses TensorFlow-only layers (tag {TF_ONLY_TAG!r}); {self.name} builds it with Keras on "
                    f"{self.backend}")
        return None

    def convert(self, model, ctx: ConvertContext) -> Conversion:
        import onnx

        path = ctx.workdir / "model.onnx"
        try:
            export_onnx(model, path, ctx.opset)
        except Exception as exc:
            if _OPSET_REFUSAL.search(str(exc)):
                raise OpsetRejected(f"{type(exc).__name__}: {exc}") from exc
            raise
        return Conversion(onnx.load(str(path)),
                          command=f'KERAS_BACKEND={self.backend}; model.export("model.onnx", format="onnx", '
                                  f'opset_version={ctx.opset})')


    def repro(self) -> Repro:
        return Repro(check=self.ready, helpers=(export_onnx,), environment=(("KERAS_BACKEND", self.backend),),
                     convert='''
    path = os.path.join(work, "model.onnx")
    export_onnx(model, path, OPSET)
    return onnx.load(path), None
''')


class KerasExportJax(KerasExportBackend):
    name = "keras-export-jax"
    distribution = "jax2onnx"
    summary = 'model.export(path, format="onnx", opset_version=N) (Keras 3, JAX backend: jax2onnx)'
    backend = "jax"
    modules = ("jax2onnx", "jax", "jaxlib")
    packages = ("keras", *modules)
    ready = staticmethod(jax_export_ready)


class KerasExportTorch(KerasExportBackend):
    name = "keras-export-torch"
    distribution = "torch"
    summary = 'model.export(path, format="onnx", opset_version=N) (Keras 3, PyTorch backend: torch.onnx.export)'
    backend = "torch"
    modules = ("torch",)
    packages = ("keras", *modules)
    ready = staticmethod(torch_export_ready)

    def configure(self) -> None:
        import os

        import torch

        threads = int(os.environ.get("OMP_NUM_THREADS") or 0)
        if threads > 0:
            torch.set_num_threads(threads)


CONVERTERS = [KerasExportJax(), KerasExportTorch()]
