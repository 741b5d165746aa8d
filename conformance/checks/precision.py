"""The precision a model computes in, and its float32 truth: the yardstick of a half-precision model.

A model built under ``mixed_float16`` (or ``mixed_bfloat16``, or layers with a ``float16`` policy)
computes in half precision although its inputs and often its outputs are float32.  Keras's own output
is then no float32 truth: it differs from the same model computed in float32 by about what float16
rounding gives.  So the comparison of such a model:

- uses the tolerance of its compute dtype (:func:`compute_dtype`: the lowest precision among its
  layers' dtype policies), whatever the dtype of its outputs;
- recomputes the model in float32 with the same weights (:func:`float32_outputs`: the model rebuilt
  from its config with every dtype policy set to float32); an output outside that tolerance still
  passes when the converted model is no farther from the float32 truth than Keras itself
  (:func:`judge`).

Duck-typed over Keras 3 and tf_keras (no import of either at module level).
"""
from __future__ import annotations

import dataclasses

import numpy as np

#: half-precision compute dtypes, loosest tolerance last (a model with both is judged by the last)
HALF = ("float16", "bfloat16")
#: the class names of dtype policies in saved configs (Keras 3: DTypePolicy, FloatDTypePolicy; tf_keras: Policy)
_POLICY_CLASSES = ("DTypePolicy", "FloatDTypePolicy", "Policy", "QuantizedDTypePolicy")


@dataclasses.dataclass(frozen=True)
class Precision:
    """What sets a model's tolerance: its compute dtype, and the policy that says so."""

    compute_dtype: str
    policy: str

    def describe(self) -> str:
        return f"{self.compute_dtype} (the layers' dtype policy {self.policy})"


def _layers(model) -> list:
    fn = getattr(model, "_flatten_layers", None)
    if callable(fn):
        try:
            return list(fn(include_self=True, recursive=True))
        except TypeError:
            pass
    return [model, *list(getattr(model, "layers", []) or [])]


def _policy_of(layer) -> tuple[str, str] | None:
    """(compute dtype, policy name) of one layer, or None when it does not say."""
    policy = getattr(layer, "dtype_policy", None) or getattr(layer, "_dtype_policy", None)
    compute = getattr(policy, "compute_dtype", None) or getattr(layer, "compute_dtype", None)
    name = getattr(policy, "name", None) or str(compute or "")
    if compute is None:
        return None
    compute = getattr(compute, "name", None) or str(compute)
    return str(compute), str(name)


def compute_dtype(model) -> Precision | None:
    """The half-precision dtype the model's layers compute in (bfloat16 over float16 when both), or None
    for a model that computes in float32 or wider (its outputs' dtype sets the tolerance, as always)."""
    found: dict[str, str] = {}
    try:
        layers = _layers(model)
    except Exception:  # a model that cannot be walked: no claim
        return None
    for layer in layers:
        try:
            got = _policy_of(layer)
        except Exception:
            continue
        if got and got[0] in HALF:
            found.setdefault(got[0], got[1])
    for dtype in reversed(HALF):
        if dtype in found:
            return Precision(dtype, found[dtype])
    return None


def _float32_config(cfg):
    if isinstance(cfg, dict):
        if cfg.get("class_name") in _POLICY_CLASSES and isinstance(cfg.get("config"), dict):
            return dict(cfg, class_name=cfg["class_name"].replace("Quantized", ""),
                        config={**cfg["config"], "name": "float32"})
        return {k: ("float32" if k == "dtype" and v in ("mixed_float16", "mixed_bfloat16", "float16", "bfloat16")
                    else _float32_config(v)) for k, v in cfg.items()}
    if isinstance(cfg, list):
        return [_float32_config(v) for v in cfg]
    return cfg


def float32_model(model, custom_objects: dict | None = None):
    """The same model with every dtype policy float32 and the same weights (rebuilt from its config)."""
    config = _float32_config(model.get_config())
    clone = type(model).from_config(config, custom_objects=custom_objects) if custom_objects else \
        type(model).from_config(config)
    clone.set_weights([np.asarray(w, dtype=np.float32) if np.asarray(w).dtype.kind == "f" else w
                       for w in model.get_weights()])
    return clone


def judge(comparison: dict, ref, out, truth) -> dict:
    """The float32 yardstick of one output that missed its tolerance: Keras's own and the converted model's
    largest error against the float32 truth; ``passed`` when the converted model is no farther from it."""
    ref64, out64, truth64 = (np.asarray(a, dtype=np.float64) for a in (ref, out, truth))
    if ref64.shape != truth64.shape or out64.shape != truth64.shape:
        return {"output": comparison["output"], "passed": False, "problem": "shapes differ from the float32 recompute"}
    with np.errstate(invalid="ignore", over="ignore"):
        keras_err = float(np.max(np.abs(ref64 - truth64))) if truth64.size else 0.0
        onnx_err = float(np.max(np.abs(out64 - truth64))) if truth64.size else 0.0
    # a NaN on either side is no agreement (NaN <= x is False)
    return {"output": comparison["output"], "keras_vs_float32": keras_err, "onnx_vs_float32": onnx_err,
            "passed": bool(onnx_err <= keras_err)}


def yardstick_line(j: dict) -> str:
    """The words of a float32 yardstick for a failure line."""
    if "keras_vs_float32" not in j:
        return f"{j['output']}: {j.get('problem', 'no float32 recompute')}"
    verdict = "no farther from it than Keras" if j["passed"] else "farther from it than Keras"
    return (f"{j['output']}: against the float32 recompute ONNX is off by {j['onnx_vs_float32']:.3g}, Keras itself by "
            f"{j['keras_vs_float32']:.3g} ({verdict})")
