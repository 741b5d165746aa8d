"""A functional Keras 3 model as a graph the reducer can cut: its nodes in topological order, every
tensor's recorded value, and sub-models rebuilt from the same layers (same weights).

A *candidate* is five things over the original graph:

- ``outputs``: the tensors it returns (truncating the tail: an earlier tensor becomes the output);
- ``cuts``: the tensors that become new ``keras.Input``s, fed their recorded values (cutting the head);
- ``skipped``: nodes replaced by their input (delta debugging: a shape-preserving layer removed);
- ``settings``: ``(node, config key, value)``: a layer's setting made smaller (units, filters, heads);
- ``sizes``: ``(tensor, axis, size)``: an input's axis cut to its first ``size`` entries (sequence length,
  image size, features), its recorded values sliced the same way.

:meth:`Graph.build` turns a candidate into a ``keras.Model`` by calling the original layers again on new
symbolic inputs, node by node (``node.arguments.fill_in``, as Keras's own ``Function`` runs its graph), so
nothing is re-initialised.  A layer whose setting changed, or whose input no longer has its original
shape, is made again from its config and given the original weights cut to the new shapes (the leading
slice of every axis).  What cannot be cut is said, not guessed: :class:`CutError` names why.

Imports Keras (the ``report minimize`` process builds candidates; the worker pool judges them).
"""
from __future__ import annotations

import dataclasses

import numpy as np


class CutError(ValueError):
    """A model or a candidate the reducer cannot build; the message says which part and why."""


@dataclasses.dataclass(frozen=True)
class Candidate:
    outputs: tuple[int, ...]           # tensor ids
    cuts: tuple[int, ...] = ()         # tensor ids that become inputs
    skipped: frozenset[int] = frozenset()  # node indices replaced by their input
    settings: frozenset[tuple[int, str, int]] = frozenset()  # (node index, config key, smaller value)
    sizes: frozenset[tuple[int, int, int]] = frozenset()     # (input tensor id, axis, smaller size)

    def with_setting(self, node: int, key: str, value: int) -> "Candidate":
        kept = frozenset(s for s in self.settings if s[:2] != (node, key))
        return dataclasses.replace(self, settings=kept | {(node, key, value)})

    def with_size(self, tensor: int, axis: int, size: int) -> "Candidate":
        kept = frozenset(s for s in self.sizes if s[:2] != (tensor, axis))
        return dataclasses.replace(self, sizes=kept | {(tensor, axis, size)})

    def setting(self, node: int, key: str, default):
        return next((v for n, k, v in self.settings if (n, k) == (node, key)), default)

    def size(self, tensor: int, axis: int, default):
        return next((v for t, a, v in self.sizes if (t, a) == (tensor, axis)), default)


@dataclasses.dataclass
class NodeInfo:
    index: int
    node: object
    layer: object
    inputs: list[int]      # tensor ids of its symbolic arguments (resolved: where their values are)
    outputs: list[int]     # tensor ids it produces
    args: list[int] = dataclasses.field(default_factory=list)  # the ids its call's arguments hold (unresolved)

    def fill_in(self, values: dict):
        """(args, kwargs) of its call with ``values`` (resolved tensor id -> value) in place of its tensors."""
        return self.node.arguments.fill_in({a: values.get(r) for a, r in zip(self.args, self.inputs)})

    @property
    def name(self) -> str:
        return f"{type(self.layer).__name__}({getattr(self.layer, 'name', '?')})"


def _config(layer) -> dict:
    """A layer's config, {} when its ``get_config`` raises (a KerasHub layer that cannot describe itself)."""
    try:
        return dict(layer.get_config())
    except Exception:  # noqa: BLE001 - nothing to shrink then; the layer itself still runs
        return {}


def _functional_of(model):
    """The functional model a layer runs as (itself, or a built Sequential's inner one); None: not one."""
    import keras

    if isinstance(model, keras.Sequential):
        return getattr(model, "_functional", None)
    if isinstance(model, keras.Model) and hasattr(model, "_nodes_by_depth") and hasattr(model, "inputs"):
        return model
    return None


class Graph:
    """The nodes of a functional model in topological order, and its tensors' recorded values."""

    def __init__(self, model):
        import keras

        self.keras = keras
        model = _functional_of(model) or model
        if not hasattr(model, "_nodes_by_depth") or not hasattr(model, "inputs"):
            raise CutError(f"{type(model).__name__} is not a functional Keras 3 model (a subclassed model has no "
                           "graph of layers to cut)")
        self.model = model
        self.tensors: dict[int, object] = {}
        self.nodes: list[NodeInfo] = []
        #: a tensor id -> the id that holds its value (a nested model's inputs and outputs are its caller's tensors)
        self.alias: dict[int, int] = {}
        #: the nested models opened into their layers, and those kept whole (with why)
        self.opened: list[str] = []
        self.kept_whole: list[str] = []
        self.input_ids = [id(t) for t in model.inputs]
        for t in model.inputs:
            self.tensors[id(t)] = t
        self._walk(model)
        self.output_ids = [self.resolve(id(t)) for t in model.outputs]
        self.producer = {t: n.index for n in self.nodes for t in n.outputs}
        self.values: dict[int, np.ndarray] = {}

    def resolve(self, t: int) -> int:
        while t in self.alias:
            t = self.alias[t]
        return t

    def _walk(self, model) -> None:
        """The nodes of ``model`` in topological order; a nested functional model (a KerasHub backbone inside a
        task model, an application's Sequential blocks) is opened into its own nodes, once."""
        for depth in sorted(model._nodes_by_depth, reverse=True):
            for node in model._nodes_by_depth[depth]:
                layer = node.operation
                if type(layer).__name__ == "InputLayer":
                    continue
                args = list(node.arguments.keras_tensors)
                inner = _functional_of(layer)
                if inner is not None:
                    why = self._why_whole(layer, inner, node, args)
                    if why is None:
                        for outer, inside in zip(args, inner.inputs):
                            self.alias[id(inside)] = self.resolve(id(outer))
                            self.tensors.setdefault(id(inside), inside)
                        self.opened.append(f"{type(layer).__name__}({layer.name})")
                        self._walk(inner)
                        for outer, inside in zip(node.outputs, inner.outputs):
                            self.alias[id(outer)] = self.resolve(id(inside))
                            self.tensors.setdefault(id(outer), outer)
                        continue
                    self.kept_whole.append(f"{type(layer).__name__}({layer.name}): {why}")
                for t in args + list(node.outputs):
                    self.tensors.setdefault(id(t), t)
                self.nodes.append(NodeInfo(len(self.nodes), node, layer, [self.resolve(id(t)) for t in args],
                                           [id(t) for t in node.outputs], [id(t) for t in args]))

    def _why_whole(self, layer, inner, node, args) -> str | None:
        """Why a nested model stays one node (None: it is opened)."""
        if f"{type(layer).__name__}({layer.name})" in self.opened:
            return "called more than once (a shared model is kept whole)"
        if len(args) != len(inner.inputs) or len(node.outputs) != len(inner.outputs):
            return "its call's tensors do not line up with its inputs and outputs"
        if any(isinstance(v, self.keras.KerasTensor) for v in self.keras.tree.flatten(node.arguments.kwargs)):
            return "called with keyword tensors"
        return None

    # -- recording -------------------------------------------------------------------------------
    def record(self, arrays: list[np.ndarray]) -> None:
        """Every tensor's value on ``arrays`` (the model's inputs, in its input order), once: the nodes run one by
        one in topological order (the layers of an opened nested model too), as the functional model runs them."""
        live: dict[int, object] = dict(zip(self.input_ids, arrays))
        for n in self.nodes:
            args, kwargs = n.fill_in(live)
            out = n.layer(*args, **kwargs)
            for t, v in zip(n.outputs, self.keras.tree.flatten(out)):
                live[t] = v
        self.values = {t: np.asarray(v) for t, v in live.items()}

    # -- structure -------------------------------------------------------------------------------
    def ancestors(self, tensor_ids, stop: set[int] = frozenset()) -> set[int]:
        """Node indices needed to compute ``tensor_ids`` from the model's inputs, or from ``stop`` tensors."""
        need, seen, todo = set(), set(), list(tensor_ids)
        while todo:
            t = todo.pop()
            if t in seen or t in stop or t not in self.producer:
                continue
            seen.add(t)
            n = self.nodes[self.producer[t]]
            need.add(n.index)
            todo.extend(n.inputs)
        return need

    def sources(self, tensor_ids, stop: set[int]) -> set[int]:
        """The tensors ``tensor_ids`` are computed from when the walk stops at ``stop``: model inputs or cuts."""
        found, seen, todo = set(), set(), list(tensor_ids)
        while todo:
            t = todo.pop()
            if t in seen:
                continue
            seen.add(t)
            if t in stop or t not in self.producer:
                found.add(t)
                continue
            todo.extend(self.nodes[self.producer[t]].inputs)
        return found

    def layers_in(self, c: Candidate) -> list[NodeInfo]:
        nodes = self.ancestors(c.outputs, set(c.cuts))
        return [self.nodes[i] for i in sorted(nodes) if i not in c.skipped]

    def removable(self, index: int) -> bool:
        """A node with one input and one output of the same shape and dtype (it can be replaced by its input)."""
        n = self.nodes[index]
        if len(n.inputs) != 1 or len(n.outputs) != 1:
            return False
        a, b = self.tensors[n.inputs[0]], self.tensors[n.outputs[0]]
        return tuple(a.shape) == tuple(b.shape) and str(a.dtype) == str(b.dtype)

    def describe(self, c: Candidate) -> str:
        return ", ".join(n.name for n in self.layers_in(c)) or "(no layer)"

    def composite(self, c: Candidate) -> list[str]:
        """The candidate's layers that hold layers of their own (a KerasHub encoder, Bidirectional): ``Name(n)
        with K sublayers``."""
        out = []
        for n in self.layers_in(c):
            inner = [x for x in n.layer._flatten_layers(include_self=False, recursive=True)] \
                if hasattr(n.layer, "_flatten_layers") else []
            if inner:
                out.append(f"{n.name} with {len(inner)} sublayers")
        return out

    def describe_smaller(self, c: Candidate) -> list[str]:
        """What the shrink passes changed: ``Dense(dense).units 64 -> 1``, ``input x axis 1: 32 -> 4``."""
        out = [f"{self.nodes[i].name}.{k} {_config(self.nodes[i].layer).get(k)} -> {v}"
               for i, k, v in sorted(c.settings)]
        for t, axis, size in sorted(c.sizes, key=lambda x: (str(getattr(self.tensors[x[0]], "name", "")), x[1])):
            name = getattr(self.tensors[t], "name", None) if t in self.input_ids else "cut"
            out.append(f"input {name} axis {axis}: {self.values[t].shape[axis]} -> {size}")
        return out

    # -- building --------------------------------------------------------------------------------
    def build(self, c: Candidate):
        """(model, input arrays) of candidate ``c``: new inputs for the model inputs and cuts it needs, the
        original layers called again on them."""
        keras = self.keras
        stop = set(c.cuts)
        needed = self.ancestors(c.outputs, stop)
        sources = self.sources(c.outputs, stop)
        memo: dict[int, object] = {}
        remade: dict[int, object] = {}   # id(original layer) -> the layer made again (a shared layer once)
        inputs, arrays = [], []
        for t in [*self.input_ids, *c.cuts]:
            if t not in sources or t in memo:
                continue
            sym = self.tensors[t]
            name = f"cut_{len(inputs)}" if t not in self.input_ids else getattr(sym, "name", None)
            shape = tuple(sym.shape[1:])
            value = self.values[t]
            for _t, axis, size in sorted(x for x in c.sizes if x[0] == t):
                shape = shape[:axis - 1] + ((None if shape[axis - 1] is None else size),) + shape[axis:]
                value = value[(slice(None),) * axis + (slice(0, size),)]
            new = keras.Input(shape=shape, dtype=sym.dtype, name=name)
            memo[t] = new
            inputs.append(new)
            arrays.append(value)
        if not inputs:
            raise CutError("the candidate has no input: its outputs are constants")
        for n in self.nodes:
            if n.index not in needed:
                continue
            if n.index in c.skipped:
                if not self.removable(n.index) or n.inputs[0] not in memo:
                    raise CutError(f"{n.name} cannot be removed")
                memo[n.outputs[0]] = memo[n.inputs[0]]
                continue
            missing = [t for t in n.inputs if t not in memo]
            if missing:
                raise CutError(f"{n.name} needs a tensor the candidate does not compute")
            args, kwargs = n.fill_in(memo)
            layer = self._layer_for(n, c, [memo[t] for t in n.inputs], remade)
            out = layer(*args, **kwargs)
            flat = keras.tree.flatten(out)
            if len(flat) != len(n.outputs):
                raise CutError(f"{n.name} gave {len(flat)} outputs when called again, {len(n.outputs)} before")
            for t, v in zip(n.outputs, flat):
                memo[t] = v
        if remade:
            self._give_weights(remade)
        outs = [memo[t] for t in c.outputs]
        model = keras.Model(inputs if len(inputs) > 1 else inputs[0], outs if len(outs) > 1 else outs[0])
        return model, arrays

    # -- a candidate as data (the worker rebuilds it from the original case: :mod:`conformance.minimize.spec`) --
    def ref_of(self, t: int) -> list:
        """A tensor by position, the same in every process that builds the same model: ``["input", k]`` or
        ``[node index, output position]``."""
        if t in self.input_ids:
            return ["input", self.input_ids.index(t)]
        n = self.producer[t]
        return [n, self.nodes[n].outputs.index(t)]

    def id_of(self, ref) -> int:
        return self.input_ids[ref[1]] if ref[0] == "input" else self.nodes[ref[0]].outputs[ref[1]]

    def to_spec(self, c: Candidate) -> dict:
        return {"outputs": [self.ref_of(t) for t in c.outputs], "cuts": [self.ref_of(t) for t in c.cuts],
                "skipped": sorted(c.skipped), "settings": sorted([n, k, v] for n, k, v in c.settings),
                "sizes": sorted(([self.ref_of(t), a, v] for t, a, v in c.sizes), key=repr)}

    def from_spec(self, spec: dict) -> Candidate:
        return Candidate(tuple(self.id_of(r) for r in spec["outputs"]), tuple(self.id_of(r) for r in spec["cuts"]),
                         frozenset(spec["skipped"]), frozenset((n, k, v) for n, k, v in spec["settings"]),
                         frozenset((self.id_of(r), a, v) for r, a, v in spec["sizes"]))

    # -- smaller settings ------------------------------------------------------------------------
    def _layer_for(self, n: NodeInfo, c: Candidate, inputs: list, remade: dict):
        """The original layer, or (a setting of it changed, or an input shape) a layer made again from its config."""
        overrides = {k: v for i, k, v in c.settings if i == n.index}
        same_shapes = all(tuple(getattr(new, "shape", ())) == tuple(self.tensors[t].shape)
                          for new, t in zip(inputs, n.inputs))
        if not overrides and same_shapes and id(n.layer) not in remade:
            return n.layer
        if id(n.layer) in remade:
            return remade[id(n.layer)][1]
        try:
            layer = type(n.layer).from_config(dict(n.layer.get_config(), **overrides))
        except Exception as exc:  # noqa: BLE001 - a setting the layer refuses: an unbuildable candidate
            raise CutError(f"{n.name} cannot be made with {overrides or 'its config'}: {type(exc).__name__}: "
                           f"{str(exc)[:160]}") from None
        remade[id(n.layer)] = (n.layer, layer)
        return layer

    @staticmethod
    def _give_weights(remade: dict) -> None:
        """Each remade layer gets its original's weights, cut to its own shapes (the leading slice of each axis)."""
        for old, new in remade.values():
            ow, nw = old.weights, new.weights
            if len(ow) != len(nw):
                raise CutError(f"{type(old).__name__}({old.name}) made again has {len(nw)} weights, {len(ow)} before")
            values = []
            for a, b in zip(ow, nw):
                va = np.asarray(a.numpy() if hasattr(a, "numpy") else a)
                want = tuple(b.shape)
                if len(want) != va.ndim or any(w > h for w, h in zip(want, va.shape)):
                    raise CutError(f"{type(old).__name__}({old.name}): weight {a.name} {va.shape} cannot be cut to {want}")
                values.append(va[tuple(slice(0, w) for w in want)])
            new.set_weights(values)

    def settings_of(self, c: Candidate) -> list[tuple[int, str, int]]:
        """(node, key, current value) of every setting the shrink pass may make smaller."""
        out = []
        for n in self.layers_in(c):
            config = _config(n.layer)
            for key in SHRINKABLE:
                value = c.setting(n.index, key, config.get(key))
                if isinstance(value, int) and not isinstance(value, bool) and value > 1:
                    out.append((n.index, key, value))
        return out

    def sizes_of(self, c: Candidate) -> list[tuple[int, int, int]]:
        """(input tensor, axis, current size) of every fixed axis of the candidate's inputs (not the batch)."""
        stop = set(c.cuts)
        out = []
        for t in [*self.input_ids, *c.cuts]:
            if t not in self.sources(c.outputs, stop):
                continue
            value = self.values[t]
            for axis in range(1, value.ndim):
                size = c.size(t, axis, value.shape[axis])
                if size > 1:
                    out.append((t, axis, size))
        return out


#: the integer settings of built-in layers the shrink pass makes smaller
SHRINKABLE = ("units", "filters", "num_heads", "num_query_heads", "num_key_value_heads", "key_dim", "value_dim",
              "head_dim", "output_dim", "intermediate_dim", "hidden_dim", "groups", "depth_multiplier")
