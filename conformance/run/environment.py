"""The software stack a run used, read from package metadata (nothing heavy is imported)."""
from __future__ import annotations

import importlib.metadata as md
import os
import platform
import sys

from conformance.loader import converter_packages, target_packages

#: the suite's own stack: reported name -> distributions that provide it, first installed wins
STACK_PACKAGES = {
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-intel", "tensorflow-macos"),
    "keras": ("keras",),
    "tf_keras": ("tf-keras", "tf_keras"),
    "onnx": ("onnx",),
    "onnxruntime": ("onnxruntime",),
    "numpy": ("numpy",),
    "protobuf": ("protobuf",),
    "tensorflow_hub": ("tensorflow-hub",),
}
#: reported name -> distributions: the stack, then what the converters need (their modules' ``packages``:
#: tf2onnx, keras2onnx, Keras 3's other backends, ...) and what the targets need (openvino, onnxsim, ...)
PACKAGES = {**STACK_PACKAGES, **{name: (name.replace("_", "-"),) for name in converter_packages() + target_packages()
                                 if name not in STACK_PACKAGES}}


def version_of(*dists: str) -> str | None:
    for d in dists:
        try:
            return md.version(d)
        except md.PackageNotFoundError:
            continue
    return None


def package_versions() -> dict[str, str | None]:
    return {name: version_of(*dists) for name, dists in PACKAGES.items()}


def requirement_versions() -> dict[str, str | None]:
    """Versions keyed for matching requirements ('tensorflow-cpu>=2.13' and 'tensorflow>=2.13' both work)."""
    out = dict(package_versions())
    for dists in PACKAGES.values():
        for d in dists:
            v = version_of(d)
            if v is not None:
                out[d] = v
    return out


def describe(stack: str) -> dict:
    return {
        "stack": stack,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "packages": package_versions(),
        # the interpreter's name, not its path: results files are committed (baselines) and compared
        "executable": os.path.basename(sys.executable),
    }
