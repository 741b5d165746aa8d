"""A functional Keras 3 model as a graph the reducer can cut: its nodes in topological order, every
tensor's recorded value, and sub-models rebuilt from the same layers (same weights).

A *candidate* is three things over the original graph:

- ``outputs``: the tensors it returns (truncating the tail: an earlier tensor becomes the output);
- ``cuts``: the tensors that become new ``keras.Input``s, fed their recorded values (cutting the head);
- ``skipped``: nodes replaced by their input (delta debugging: a shape-preserving layer removed).

:meth:`Graph.build` turns a candidate into a ``keras.Model`` by calling the original layers again on new
symbolic inputs, node by node (``node.arguments.fill_in``, as Keras's own ``Function`` runs its graph), so
nothing is re-initialised.  What cannot be cut is said, not guessed: :class:`CutError` names why.

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


@dataclasses.dataclass
class NodeInfo:
    index: int
    node: object
    layer: object
    inputs: list[int]      # tensor ids of its symbolic arguments
    outputs: list[int]     # tensor ids it produces

    @property
    def name(self) -> str:
        return f"{type(self.layer).__name__}({getattr(self.layer, 'name', '?')})"


class Graph:
    """The nodes of a functional model in topological order, and its tensors' recorded values."""

    def __init__(self, model):
        import keras

        if not hasattr(model, "_nodes_by_depth") or not hasattr(model, "inputs"):
            raise CutError(f"{type(model).__name__} is not a functional Keras 3 model (a subclassed model has no "
                           "graph of layers to cut)")
        self.model = model
        self.keras = keras
        self.tensors: dict[int, object] = {}
        self.nodes: list[NodeInfo] = []
        self.input_ids = [id(t) for t in model.inputs]
        for t in model.inputs:
            self.tensors[id(t)] = t
        for depth in sorted(model._nodes_by_depth, reverse=True):
            for node in model._nodes_by_depth[depth]:
                layer = node.operation
                if type(layer).__name__ == "InputLayer":
                    continue
                ins = [id(t) for t in node.arguments.keras_tensors]
                outs = [id(t) for t in node.outputs]
                for t in list(node.arguments.keras_tensors) + list(node.outputs):
                    self.tensors.setdefault(id(t), t)
                self.nodes.append(NodeInfo(len(self.nodes), node, layer, ins, outs))
        self.output_ids = [id(t) for t in model.outputs]
        self.producer = {t: n.index for n in self.nodes for t in n.outputs}
        self.values: dict[int, np.ndarray] = {}

    # -- recording -------------------------------------------------------------------------------
    def record(self, arrays: list[np.ndarray]) -> None:
        """Every tensor's value on ``arrays`` (the model's inputs, in its input order), once."""
        ids = [t for n in self.nodes for t in n.outputs]
        probe = self.keras.Model(self.model.inputs, [self.tensors[t] for t in ids])
        values = probe(list(arrays) if len(arrays) > 1 else arrays[0], training=False)
        values = values if isinstance(values, (list, tuple)) else [values]
        self.values = {t: np.asarray(v) for t, v in zip(ids, values)}
        self.values.update({t: np.asarray(a) for t, a in zip(self.input_ids, arrays)})

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

    # -- building --------------------------------------------------------------------------------
    def build(self, c: Candidate):
        """(model, input arrays) of candidate ``c``: new inputs for the model inputs and cuts it needs, the
        original layers called again on them."""
        keras = self.keras
        stop = set(c.cuts)
        needed = self.ancestors(c.outputs, stop)
        sources = self.sources(c.outputs, stop)
        memo: dict[int, object] = {}
        inputs, arrays = [], []
        for t in [*self.input_ids, *c.cuts]:
            if t not in sources or t in memo:
                continue
            sym = self.tensors[t]
            name = f"cut_{len(inputs)}" if t not in self.input_ids else getattr(sym, "name", None)
            new = keras.Input(shape=tuple(sym.shape[1:]), dtype=sym.dtype, name=name)
            memo[t] = new
            inputs.append(new)
            arrays.append(self.values[t])
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
            args, kwargs = n.node.arguments.fill_in(memo)
            out = n.layer(*args, **kwargs)
            flat = keras.tree.flatten(out) if hasattr(keras, "tree") else (out if isinstance(out, (list, tuple)) else [out])
            if len(flat) != len(n.outputs):
                raise CutError(f"{n.name} gave {len(flat)} outputs when called again, {len(n.outputs)} before")
            for t, v in zip(n.outputs, flat):
                memo[t] = v
        outs = [memo[t] for t in c.outputs]
        model = keras.Model(inputs if len(inputs) > 1 else inputs[0], outs if len(outs) > 1 else outs[0])
        return model, arrays
