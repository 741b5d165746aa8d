"""The first divergent layer of a failing cell (worker side).

Keras's output of every layer, in topological order, against the converted model's value for the
same point (the batch that failed); the first layer whose output exceeds the case's tolerance is
where the conversion goes wrong.  Two ways to get the ONNX side, tried in this order:

``onnx-outputs``
    Expose intermediate tensors as graph outputs (Polygraphy's ``--onnx-outputs mark all``) where
    the converter keeps names that map to layers: tf2onnx keeps TensorFlow's name scopes
    (``functional_1/lstm_1/...``), so the tensors that leave a layer's scope are its outputs.  One
    onnxruntime run gives every mapped layer's value.  Inconclusive when every mapped layer agrees.
``bisect``
    Convert truncated Keras sub-models that end at a layer, with the same converter and opset, and
    bisect for the first one whose output (or conversion, session, run) fails.  Works for any
    converter of Keras models; assumes that once a layer diverges, later ones do too.

It runs after the verdict, on failing cells only, and never changes a status: the result is the
record's ``divergence`` (plain data), shown in the terminal reason and on the page.
``CONFORMANCE_DIVERGENCE`` = ``auto`` (default: onnx-outputs, then bisect), ``onnx-outputs``,
``bisect`` or ``off``.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from cases.model_io import call_model
from conformance.checks.compare import compare, tolerance_for
from conformance.errors import error_text
from conformance.lines import divergence_line as summary, number  # noqa: F401  (the one-line texts, shared with the page)
from conformance.statuses import DIVERGE

ENV = "CONFORMANCE_DIVERGENCE"
METHODS = ("onnx-outputs", "bisect")
#: statuses (observed) for which the search runs
STATUSES = DIVERGE  # the status table says which failing cells get a search
#: longest layer config kept in a record (characters of JSON)
CONFIG_LIMIT = 1500


def methods_from_env(value: str | None = None) -> tuple[str, ...]:
    value = (value if value is not None else os.environ.get(ENV, "auto")).strip().lower() or "auto"
    if value == "auto":
        return METHODS
    if value == "off":
        return ()
    chosen = tuple(m.strip() for m in value.split(",") if m.strip())
    bad = [m for m in chosen if m not in METHODS]
    if bad:
        raise ValueError(f"{ENV}={value!r}: use auto, off or a list of {', '.join(METHODS)}")
    return chosen


# ---------------------------------------------------------------- Keras side

@dataclasses.dataclass
class LayerOut:
    """One output of one layer: where it is in the model and Keras's value at the point."""

    index: int          # position among the probed layers (topological order)
    layer: object
    name: str           # layer name, or "name[i]" for the i-th output of a multi-output layer
    tensor: object      # the symbolic Keras tensor
    value: np.ndarray | None = None
    is_model_output: int | None = None   # index into the model's outputs

    @property
    def layer_name(self) -> str:
        return self.layer.name


def _keras_module(model):
    mod = type(model).__module__
    if mod.startswith("tf_keras") or mod.startswith("keras.src.engine") or mod.startswith("tensorflow"):
        from cases.api import import_tf_keras

        return import_tf_keras()
    import keras

    return keras


def _flatten(x) -> list:
    if isinstance(x, dict):
        return [v for k in sorted(x) for v in _flatten(x[k])]
    if isinstance(x, (list, tuple)):
        return [v for item in x for v in _flatten(item)]
    return [x]


def layer_outputs(model) -> list[LayerOut]:
    """Every layer output of the model's top level that can be probed, in topological order."""
    K = _keras_module(model)
    outs: list[LayerOut] = []
    model_outputs = _flatten(getattr(model, "outputs", None) or [])
    input_layer = getattr(K.layers, "InputLayer", ())
    layers = [lay for lay in getattr(model, "layers", []) if not isinstance(lay, input_layer)]
    for i, lay in enumerate(layers):
        try:
            tensors = _flatten(lay.output)
        except Exception:  # shared layer (several call sites) or never called: no single output
            continue
        for j, t in enumerate(tensors):
            name = lay.name if len(tensors) == 1 else f"{lay.name}[{j}]"
            is_out = next((k for k, o in enumerate(model_outputs) if o is t), None)
            outs.append(LayerOut(i, lay, name, t, is_model_output=is_out))
    return outs


def keras_values(model, outs: list[LayerOut], arrays: list) -> None:
    """Fill each LayerOut's value: one probe model with every layer output, run once."""
    K = _keras_module(model)
    probe = K.Model(model.inputs, [o.tensor for o in outs])  # takes the flat list, in model.inputs order
    vals = call_model(probe, arrays)
    vals = vals if isinstance(vals, (list, tuple)) else [vals]
    for o, v in zip(outs, vals):
        o.value = np.asarray(v)


def layer_config(layer) -> dict:
    try:
        cfg = layer.get_config()
    except Exception as exc:  # custom layers without get_config
        return {"error": error_text(exc, 200)}
    text = json.dumps(cfg, default=str, sort_keys=True)
    if len(text) > CONFIG_LIMIT:
        keep = {k: v for k, v in cfg.items() if not isinstance(v, (dict, list)) or len(json.dumps(v, default=str)) < 200}
        text = json.dumps(keep, default=str, sort_keys=True)[:CONFIG_LIMIT]
        return {"truncated": True, **json.loads(text)} if text.endswith("}") else {"truncated": True, "text": text}
    return json.loads(text)


def _tolerance(value: np.ndarray, case):
    return tolerance_for(str(value.dtype), case.tolerance)


def _compare(o: LayerOut, actual, case):
    tol = _tolerance(o.value, case)
    return compare(o.name, o.value, actual, tol.rtol, tol.atol)


# ---------------------------------------------------------------- ONNX side: intermediate outputs

def _tf_unique(used: dict, name: str) -> str:
    """tf.Graph.unique_name: how TensorFlow names a scope entered again (dense, dense_1, dense_1_1, ...)."""
    key = name.lower()
    i = used.get(key, 0)
    used[key] = i + 1
    if i > 0:
        base = key
        while key in used:
            key = f"{base}_{i}"
            i += 1
        used[key] = 1
        return f"{name}_{i - 1}"
    return name


def layer_scopes(layer_names: list[str], components: set[str]) -> dict[str, str]:
    """Layer name -> the TensorFlow name scope its ops carry in the converted graph.

    Keras enters a layer's name scope once (tf_keras) or twice (Keras 3: ``dense`` -> ``dense_1``)
    per call; simulate TensorFlow's uniquifying both ways and keep the one that explains more of
    the graph's scope names."""
    best: dict[str, str] = {}
    best_hits = -1
    for entries in (2, 1):
        used: dict = {}
        scopes = {}
        for name in layer_names:
            for _ in range(entries):
                scope = _tf_unique(used, name)
            scopes[name] = scope
        hits = sum(s in components for s in scopes.values())
        if hits > best_hits:
            best, best_hits = scopes, hits
    return {k: v for k, v in best.items() if v in components}


def _subgraph_inputs(node) -> set[str]:
    names = set()
    for attr in node.attribute:
        graphs = ([attr.g] if attr.HasField("g") else []) + list(attr.graphs)
        for g in graphs:
            for n in g.node:
                names.update(n.input)
                names |= _subgraph_inputs(n)
    return names


def map_tensors(model_proto, outs: list[LayerOut]) -> dict[str, list[str]]:
    """Layer name -> candidate ONNX tensors (outputs of ops in the layer's scope that leave it), in graph order."""
    graph = model_proto.graph
    components: set[str] = set()
    for node in graph.node:
        components.update(node.name.split("/")[:-1])
    names = list(dict.fromkeys(o.layer_name for o in outs))
    scopes = layer_scopes(names, components)
    by_scope = {v: k for k, v in scopes.items()}

    def owner(node) -> str | None:
        for comp in node.name.split("/")[:-1]:
            if comp in by_scope:
                return by_scope[comp]
        return None

    owners = [owner(n) for n in graph.node]
    consumers: dict[str, set] = {}
    for n, own in zip(graph.node, owners):
        for t in list(n.input) + sorted(_subgraph_inputs(n)):
            consumers.setdefault(t, set()).add(own)
    graph_outputs = {o.name for o in graph.output}
    cands: dict[str, list[str]] = {}
    inner: dict[str, list[str]] = {}
    for n, own in zip(graph.node, owners):
        if own is None:
            continue
        for t in n.output:
            if not t:
                continue
            inner.setdefault(own, []).append(t)
            if t in graph_outputs or any(c != own for c in consumers.get(t, ())):
                cands.setdefault(own, []).append(t)
    # a layer whose ops never leave its scope by name (fused away): any of its tensors, checked by shape later
    for own, ts in inner.items():
        cands.setdefault(own, ts)
    return cands


def _feeds(sess, inputs, arrays) -> dict:
    names = [i.name for i in sess.get_inputs()]
    keras_names = [n for n, _, _ in inputs]
    order = keras_names if set(keras_names) == set(names) else names[: len(arrays)]
    return dict(zip(order, arrays))


def onnx_outputs(model_bytes: bytes, outs: list[LayerOut], arrays, inputs, output_order: list[str],
                 case, threads: int) -> dict:
    """Method ``onnx-outputs``: the mapped layers' values from one onnxruntime run."""
    import onnx
    from onnx import helper

    from conformance.checks.runtime import cpu_session, session_options

    proto = onnx.load_from_string(model_bytes)
    cands = map_tensors(proto, outs)
    mapped = {o.name: cands.get(o.layer_name, []) for o in outs if o.is_model_output is None}
    present = {o.name for o in proto.graph.output}
    producible = {t for n in proto.graph.node for t in n.output}
    extra = sorted({t for ts in mapped.values() for t in ts if t not in present and t in producible})
    for t in extra:
        proto.graph.output.append(helper.make_empty_tensor_value_info(t))
    if not any(mapped.values()):
        return {"ok": False, "reason": "no ONNX tensor names map to the Keras layers (the converter does not keep "
                                       "TensorFlow's name scopes)"}
    try:
        sess = cpu_session(proto.SerializeToString(), session_options(threads, 1))
        names = [o.name for o in sess.get_outputs()]
        values = dict(zip(names, sess.run(names, _feeds(sess, inputs, arrays))))
    except Exception as exc:
        return {"ok": False, "reason": f"onnxruntime cannot run the model with intermediate outputs: {error_text(exc, 300)}"}
    steps, unmapped, previous = [], [], None
    for o in outs:
        if o.is_model_output is not None:
            tensor = output_order[o.is_model_output] if o.is_model_output < len(output_order) else None
        else:
            shaped = [t for t in mapped.get(o.name, []) if t in values and np.shape(values[t]) == o.value.shape]
            tensor = shaped[-1] if shaped else None
        if tensor is None or tensor not in values:
            unmapped.append(o.name)
            continue
        cmp_ = _compare(o, values[tensor], case)
        steps.append({"layer": o.name, "tensor": tensor, "passed": cmp_.passed})
        if not cmp_.passed:
            return {"ok": True, "found": o, "comparison": cmp_, "tensor": tensor, "previous": previous,
                    "unmapped_before": list(unmapped), "mapped": len(steps)}
        previous = o.name
        unmapped = []
    return {"ok": False, "reason": f"every one of the {len(steps)} layer outputs mapped to ONNX tensors matches "
                                   "Keras (inconclusive)", "mapped": len(steps)}


# ---------------------------------------------------------------- ONNX side: truncated sub-models

def bisect(model, outs: list[LayerOut], arrays, built_inputs, conv, case, opset: int, deadline: float,
           launcher, threads: int, scratch: Path, known_bad_last: bool) -> dict:
    """Method ``bisect``: convert sub-models ending at a layer; find the first that fails."""
    from conformance.checks.runtime import cpu_session, output_order as order_of, session_options
    from conformance.converters.base import ConvertContext

    K = _keras_module(model)
    probes: list[dict] = []
    results: dict[int, tuple[bool, dict]] = {}

    def check(i: int) -> tuple[bool, dict]:
        if i in results:
            return results[i]
        o = outs[i]
        work = Path(tempfile.mkdtemp(prefix="probe-", dir=scratch))
        t0 = time.perf_counter()
        info: dict = {"layer": o.name}
        try:
            sub = K.Model(model.inputs, o.tensor, name=f"upto_{re.sub(r'[^A-Za-z0-9_]', '_', o.layer_name)}")
            sub_case = dataclasses.replace(case, name=f"{case.name}__upto_{i}")
            spec = [("output_0", tuple(o.value.shape[1:]), str(o.value.dtype))]
            ctx = ConvertContext(case=sub_case, opset=opset, workdir=work, case_dir=work / "case", inputs=built_inputs,
                                 outputs=spec, deadline=deadline, memo={}, launcher=launcher)
            ctx.case_dir.mkdir(parents=True, exist_ok=True)
            conversion = conv.convert(sub, ctx)
            try:
                sess = cpu_session(conversion.model.SerializeToString(), session_options(threads, 1))
            except Exception as exc:
                info["problem"] = f"onnxruntime cannot load it: {error_text(exc, 300)}"
                raise _Diverged from None
            order, _ = order_of(sess, conversion.output_names)
            try:
                got = sess.run(order[:1], _feeds(sess, built_inputs, arrays))[0]
            except Exception as exc:
                info["problem"] = f"onnxruntime cannot run it: {error_text(exc, 300)}"
                raise _Diverged from None
            cmp_ = _compare(o, got, case)
            info["comparison"] = cmp_
            ok = cmp_.passed
        except _Diverged:
            ok = False
        except Exception as exc:
            info["problem"] = f"the truncated model does not convert: {error_text(exc, 300)}"
            ok = False
        finally:
            shutil.rmtree(work, ignore_errors=True)
        info["ok"] = ok
        info["seconds"] = time.perf_counter() - t0
        probes.append({k: (dataclasses.asdict(v) if k == "comparison" else v) for k, v in info.items()})
        results[i] = (ok, info)
        return results[i]

    lo, hi = -1, len(outs) - 1
    if not known_bad_last and check(hi)[0]:
        return {"ok": False, "reason": "the sub-model ending at the last layer matches Keras (inconclusive)",
                "probes": probes}
    while hi - lo > 1:
        if time.monotonic() > deadline:
            return {"ok": False, "reason": f"out of time after {len(probes)} truncated conversions: the first divergent "
                                           f"layer is after {outs[lo].name if lo >= 0 else 'the inputs'} and at or before "
                                           f"{outs[hi].name}", "probes": probes}
        mid = (lo + hi) // 2
        if check(mid)[0]:
            lo = mid
        else:
            hi = mid
    found = outs[hi]
    info = results.get(hi, (False, {}))[1]
    return {"ok": True, "found": found, "comparison": info.get("comparison"), "problem": info.get("problem"),
            "previous": outs[lo].name if lo >= 0 else None, "probes": probes}


class _Diverged(Exception):
    pass


# ---------------------------------------------------------------- the search

def failing_batch(stages: dict) -> int:
    """Index of the first batch whose comparison failed (0 when none did or none was compared)."""
    for k, b in enumerate((stages.get("compare") or {}).get("batches") or []):
        if any(not o.get("passed") for o in b.get("outputs", [])):
            return k
    return 0


def _failing_batch(stages: dict, batches) -> int:
    return failing_batch(stages)


def find(*, model, built, conv, case, opset: int, model_bytes: bytes | None, output_names, stages: dict,
         deadline: float, launcher, threads: int, scratch: Path, methods=None) -> dict:
    """The first divergent layer of one failing cell, as plain data for ``record["divergence"]``."""
    t0 = time.perf_counter()
    methods = methods_from_env() if methods is None else tuple(methods)
    if not methods:
        return {"ok": False, "reason": f"off ({ENV}=off)"}
    if not hasattr(model, "layers") or not hasattr(model, "inputs"):
        return {"ok": False, "reason": "not computable: the model is not a Keras model with layers"}
    if (stages.get("signature") or {}).get("ok") is False and (stages.get("compare") or {}).get("ok") is True:
        return {"ok": False, "reason": "not applicable: the outputs match Keras; only the I/O signature differs"}
    k = _failing_batch(stages, built.batches)
    batch = built.batches[k]
    try:
        outs = layer_outputs(model)
        if not outs:
            return {"ok": False, "reason": "not computable: no layer of the model has a single output to probe"}
        keras_values(model, outs, batch.arrays)
    except Exception as exc:
        return {"ok": False, "reason": f"not computable: Keras's per-layer outputs: {error_text(exc, 300)}"}
    tried: list[str] = []
    notes: list[str] = []
    res: dict | None = None
    ran = (stages.get("run") or {}).get("ok") and (stages.get("session") or {}).get("ok")
    for method in methods:
        if method == "onnx-outputs":
            if model_bytes is None or not ran:
                notes.append("onnx-outputs: not applicable (onnxruntime did not run the converted model)")
                continue
            tried.append(method)
            order = _output_order(model_bytes, output_names)
            res = onnx_outputs(model_bytes, outs, batch.arrays, built.inputs, order, case, threads)
        else:
            tried.append(method)
            known_bad = len(_flatten(model.outputs)) == 1 and outs[-1].is_model_output == 0
            res = bisect(model, outs, batch.arrays, built.inputs, conv, case, opset, deadline, launcher, threads,
                         scratch, known_bad and (stages.get("compare") or {}).get("ok") is False)
        if res.get("ok"):
            break
        notes.append(f"{method}: {res.get('reason')}")
    seconds = time.perf_counter() - t0
    if not res or not res.get("ok"):
        return {"ok": False, "reason": "; ".join(notes) or "no method applies", "methods_tried": tried,
                "batch": batch.size, "seconds": seconds, "probes": (res or {}).get("probes", [])}
    o: LayerOut = res["found"]
    cmp_ = res.get("comparison")
    return {
        "ok": True,
        "method": tried[-1],
        "methods_tried": tried,
        "notes": notes,
        "layer": o.name,
        "class": type(o.layer).__name__,
        "config": layer_config(o.layer),
        "position": o.index + 1,
        "layers": max(x.index for x in outs) + 1,
        "batch": batch.size,
        "tensor": res.get("tensor"),
        "previous": res.get("previous"),
        "unmapped_before": res.get("unmapped_before") or [],
        "comparison": dataclasses.asdict(cmp_) if cmp_ is not None else None,
        "problem": res.get("problem"),
        "probes": res.get("probes", []),
        "seconds": seconds,
    }


def _output_order(model_bytes: bytes, preferred) -> list[str]:
    import onnx

    names = [o.name for o in onnx.load_from_string(model_bytes).graph.output]
    if preferred and all(p in names for p in preferred):
        return list(preferred)
    return names
