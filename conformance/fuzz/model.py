"""Generated models: a configuration, its case name, the Keras source it builds, and its Case.

One configuration has three faces that always agree:

* ``Config`` - plain data (what hypothesis generates and shrinks);
* ``config.name`` - a readable case name that encodes *all* of it, e.g.
  ``g.s3.f2.b1.mask.lstm4_relu_recsigm_seq.dense2_sigm``; :func:`decode` inverts
  it, so a conversion worker rebuilds the case from its name alone (through
  :func:`resolve_case`, which :func:`conformance.loader.find_case` asks);
* ``config.source()`` - a self-contained ``case_<name>()`` function (Keras and
  NumPy only) returning ``(model, inputs)``.  The generated Case *is* that
  source, executed, so the repro a failure records is exactly what was tested;
  paste it into a ``--cases-module`` file to pin it as a regular case.

The name is decoded against fixed tables and integers only, so a name can
never smuggle code into the source that is executed.
"""
from __future__ import annotations

import dataclasses
import re
import textwrap

from cases.api import KERAS, Case

MODULE = "conformance.fuzz.model"
FAMILY = "generated"
PREFIX = "g"

#: activation code (as it appears in names) -> Keras activation name
ACTIVATIONS = {"tanh": "tanh", "relu": "relu", "sigm": "sigmoid", "lin": "linear", "hsig": "hard_sigmoid"}
RECURRENT_ACTIVATIONS = ("sigm", "hsig", "tanh")
KINDS = ("simplernn", "gru", "lstm")
LAYER_CLASS = {"simplernn": "SimpleRNN", "gru": "GRU", "lstm": "LSTM"}
#: merge-mode code -> Keras merge_mode
MERGE_MODES = {"cat": "concat", "sum": "sum", "mul": "mul", "ave": "ave"}
N_STATES = {"simplernn": 1, "gru": 1, "lstm": 2}

LIMITS = {"units": (1, 16), "seq": (1, 32), "features": (1, 16), "batch": (1, 8)}


class ConfigError(ValueError):
    """A configuration (or a name) that does not describe a model this module builds."""


def _check_int(what: str, value, lo_hi=None) -> None:
    lo, hi = lo_hi or LIMITS[what]
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ConfigError(f"{what} must be an integer in {lo}..{hi}, not {value!r}")


@dataclasses.dataclass(frozen=True)
class Recurrent:
    """One recurrent layer: ``keras.layers.<KIND>`` or ``keras.layers.RNN(<KIND>Cell)``, maybe Bidirectional."""

    kind: str
    units: int
    activation: str = "tanh"
    recurrent_activation: str = "sigm"   # GRU and LSTM only; SimpleRNN keeps "sigm"
    use_bias: bool = True
    return_sequences: bool = False
    go_backwards: bool = False
    cell: bool = False
    bidirectional: str | None = None     # merge-mode code, or None

    def check(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"recurrent kind must be one of {KINDS}, not {self.kind!r}")
        _check_int("units", self.units)
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"activation must be one of {sorted(ACTIVATIONS)}, not {self.activation!r}")
        if self.recurrent_activation not in RECURRENT_ACTIVATIONS:
            raise ConfigError(f"recurrent_activation must be one of {RECURRENT_ACTIVATIONS}")
        if self.kind == "simplernn" and self.recurrent_activation != "sigm":
            raise ConfigError("SimpleRNN has no recurrent_activation (keep 'sigm')")
        for flag in ("use_bias", "return_sequences", "go_backwards", "cell"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"{flag} must be a bool")
        if self.bidirectional is not None and self.bidirectional not in MERGE_MODES:
            raise ConfigError(f"bidirectional must be None or one of {sorted(MERGE_MODES)}")
        if self.bidirectional and self.go_backwards:
            # Keras 3 refuses it (the backward copy would run backwards too); Bidirectional covers both ways
            raise ConfigError("a Bidirectional layer's inner layer keeps go_backwards=False")

    def token(self) -> str:
        parts = [f"{self.kind}{self.units}", self.activation]
        if self.kind != "simplernn":
            parts.append(f"rec{self.recurrent_activation}")
        if not self.use_bias:
            parts.append("nobias")
        if self.return_sequences:
            parts.append("seq")
        if self.go_backwards:
            parts.append("bwd")
        if self.cell:
            parts.append("cell")
        if self.bidirectional:
            parts.append(f"bi{self.bidirectional}")
        return "_".join(parts)

    def describe(self) -> str:
        core = f"RNN({LAYER_CLASS[self.kind]}Cell" if self.cell else LAYER_CLASS[self.kind]
        bits = [str(self.units), ACTIVATIONS[self.activation]]
        if self.kind != "simplernn":
            bits.append(f"rec {ACTIVATIONS[self.recurrent_activation]}")
        bits += [b for b, on in (("no bias", not self.use_bias), ("sequences", self.return_sequences),
                                 ("backwards", self.go_backwards)) if on]
        text = f"{core}({', '.join(bits)}){')' if self.cell else ''}"
        return f"Bidirectional[{MERGE_MODES[self.bidirectional]}]({text})" if self.bidirectional else text


@dataclasses.dataclass(frozen=True)
class Dense:
    units: int
    activation: str = "lin"
    use_bias: bool = True

    def check(self) -> None:
        _check_int("units", self.units)
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"activation must be one of {sorted(ACTIVATIONS)}, not {self.activation!r}")
        if not isinstance(self.use_bias, bool):
            raise ConfigError("use_bias must be a bool")

    def token(self) -> str:
        return f"dense{self.units}_{self.activation}" + ("" if self.use_bias else "_nobias")

    def describe(self) -> str:
        return f"Dense({self.units}, {ACTIVATIONS[self.activation]}{'' if self.use_bias else ', no bias'})"


@dataclasses.dataclass(frozen=True)
class Config:
    """A whole model: stacked recurrent layers (or none) then Dense layers, and its inputs.

    seq:           sequence length; None for a Dense-only model on ``Input((features,))``
    masking:       ``Masking(0.0)`` first, and every input row zero-padded after a different length
    initial_state: state inputs for the first recurrent layer (h; h and c for LSTM)
    return_state:  the last recurrent layer's final states are extra model outputs
    """

    seq: int | None
    features: int
    batch: int
    recurrent: tuple[Recurrent, ...] = ()
    dense: tuple[Dense, ...] = ()
    masking: bool = False
    initial_state: bool = False
    return_state: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "recurrent", tuple(self.recurrent))
        object.__setattr__(self, "dense", tuple(self.dense))
        self.check()

    def check(self) -> None:
        _check_int("features", self.features)
        _check_int("batch", self.batch)
        for layer in (*self.recurrent, *self.dense):
            layer.check()
        if len(self.recurrent) > 4 or len(self.dense) > 4:
            raise ConfigError("at most 4 recurrent and 4 Dense layers")
        if not self.recurrent:
            if self.seq is not None:
                raise ConfigError("a Dense-only model has no sequence length (seq=None)")
            if not self.dense:
                raise ConfigError("a model needs at least one layer")
            if self.masking or self.initial_state or self.return_state:
                raise ConfigError("masking, initial_state and return_state need a recurrent layer")
            return
        _check_int("seq", self.seq)
        for layer in self.recurrent[:-1]:
            if not layer.return_sequences:
                raise ConfigError("every recurrent layer but the last must return sequences")
        if self.masking and self.seq < 2:
            raise ConfigError("masking needs seq >= 2 so that rows can be padded")
        if self.initial_state and self.recurrent[0].bidirectional:
            raise ConfigError("initial_state is generated only for a first layer that is not Bidirectional")
        if self.return_state and self.recurrent[-1].bidirectional:
            raise ConfigError("return_state is generated only for a last layer that is not Bidirectional")

    # -- the name ------------------------------------------------------------------------
    @property
    def name(self) -> str:
        parts = [PREFIX]
        if self.recurrent:
            parts.append(f"s{self.seq}")
        parts += [f"f{self.features}", f"b{self.batch}"]
        parts += [flag for flag, on in (("mask", self.masking), ("init", self.initial_state),
                                        ("state", self.return_state)) if on]
        parts += [layer.token() for layer in self.recurrent]
        parts += [layer.token() for layer in self.dense]
        return ".".join(parts)

    @property
    def function_name(self) -> str:
        """``case_<name>`` with dots as underscores (still unambiguous, and a Python identifier)."""
        return "case_" + self.name.replace(".", "_")

    def describe(self) -> str:
        layers = [layer.describe() for layer in (*self.recurrent, *self.dense)]
        if self.masking:
            layers.insert(0, "Masking(0.0)")
        where = (f"seq {self.seq}, {self.features} features" if self.recurrent else f"{self.features} features")
        extras = [e for e, on in (("zero-padded rows", self.masking), ("initial-state inputs", self.initial_state),
                                  ("final states as outputs", self.return_state)) if on]
        return f"generated: {' -> '.join(layers)}; {where}, batch {self.batch}" + (
            f"; {', '.join(extras)}" if extras else "")

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Config":
        try:
            return cls(seq=data["seq"], features=data["features"], batch=data["batch"],
                       recurrent=tuple(Recurrent(**r) for r in data.get("recurrent", ())),
                       dense=tuple(Dense(**d) for d in data.get("dense", ())),
                       masking=data.get("masking", False), initial_state=data.get("initial_state", False),
                       return_state=data.get("return_state", False))
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"not a configuration: {exc}") from None

    # -- the source ------------------------------------------------------------------------
    def padding(self) -> list[int]:
        """Real timesteps kept in each input row (the rest is zero padding, masked)."""
        return [1 + (self.seq - 2 - i) % (self.seq - 1) for i in range(self.batch)]

    def source(self) -> str:
        """A ready-to-paste ``case_<name>()`` returning ``(model, inputs)``; Keras and NumPy only."""
        return _source(self)

    def case(self) -> Case:
        return Case(name=self.name, family=FAMILY, build=_compile(self), build_returns_inputs=True,
                    batch=self.batch, keras=KERAS, tags=frozenset({"generated"}),
                    description=self.describe(), module=MODULE)


def _rnn_call(layer: Recurrent, return_state: bool) -> str:
    kw = [f'activation="{ACTIVATIONS[layer.activation]}"']
    if layer.kind != "simplernn":
        kw.append(f'recurrent_activation="{ACTIVATIONS[layer.recurrent_activation]}"')
    if not layer.use_bias:
        kw.append("use_bias=False")
    outer = []
    if layer.return_sequences:
        outer.append("return_sequences=True")
    if layer.go_backwards:
        outer.append("go_backwards=True")
    if return_state:
        outer.append("return_state=True")
    cls = LAYER_CLASS[layer.kind]
    if layer.cell:
        text = f"keras.layers.RNN(keras.layers.{cls}Cell({', '.join([str(layer.units)] + kw)})" + \
               "".join(f", {o}" for o in outer) + ")"
    else:
        text = f"keras.layers.{cls}({', '.join([str(layer.units)] + kw + outer)})"
    if layer.bidirectional:
        text = f'keras.layers.Bidirectional({text}, merge_mode="{MERGE_MODES[layer.bidirectional]}")'
    return text


def _source(c: Config) -> str:
    body = ["import keras", "import numpy as np", ""]
    inputs, data = ["x"], []
    if c.recurrent:
        body.append(f'x = keras.Input(({c.seq}, {c.features}), name="x")')
    else:
        body.append(f'x = keras.Input(({c.features},), name="x")')
    states = []
    if c.initial_state:
        first = c.recurrent[0]
        states = ["h0", "c0"][:N_STATES[first.kind]]
        for s in states:
            body.append(f'{s} = keras.Input(({first.units},), name="{s}")')
        inputs += states
    body.append("y = keras.layers.Masking(mask_value=0.0)(x)" if c.masking else "y = x")
    for i, layer in enumerate(c.recurrent):
        last = i == len(c.recurrent) - 1
        with_state = last and c.return_state
        call = _rnn_call(layer, with_state)
        arg = f"y, initial_state=[{', '.join(states)}]" if i == 0 and states else "y"
        target = "y, *states" if with_state else "y"
        body.append(f"{target} = {call}({arg})")
    for layer in c.dense:
        bias = "" if layer.use_bias else ", use_bias=False"
        body.append(f'y = keras.layers.Dense({layer.units}, activation="{ACTIVATIONS[layer.activation]}"{bias})(y)')
    model_in = f"[{', '.join(inputs)}]" if len(inputs) > 1 else "x"
    model_out = "[y, *states]" if c.return_state else "y"
    body.append(f"model = keras.Model({model_in}, {model_out})")
    body += ["", "rng = np.random.default_rng(0)"]
    shape = f"({c.batch}, {c.seq}, {c.features})" if c.recurrent else f"({c.batch}, {c.features})"
    body.append(f'x_data = rng.standard_normal({shape}).astype("float32")')
    data.append("x_data")
    if c.masking:
        body.append(f"for row, keep in enumerate({c.padding()}):")
        body.append("    x_data[row, keep:] = 0.0  # zero padding after `keep` real steps; Masking hides it")
    for s in states:
        body.append(f'{s}_data = rng.standard_normal(({c.batch}, {c.recurrent[0].units})).astype("float32")')
        data.append(f"{s}_data")
    body.append(f"return model, [{', '.join(data)}]")
    doc = f'"""{c.describe()} (conformance.fuzz case {c.name})"""'
    return f"def {c.function_name}():\n" + textwrap.indent("\n".join([doc] + body), "    ").replace("    \n", "\n") + "\n"


def _compile(c: Config):
    namespace: dict = {}
    exec(compile(c.source(), f"<generated case {c.name}>", "exec"), namespace)  # noqa: S102 - our own source
    return namespace[c.function_name]


# -- names back to configurations ----------------------------------------------------------
_LAYER = re.compile(r"^(simplernn|gru|lstm|dense)([0-9]+)$")
_TOP = re.compile(r"^([sfb])([0-9]+)$")


def decode(name: str) -> Config:
    """The configuration a generated case name encodes (ConfigError if it encodes none)."""
    parts = name.split(".")
    if len(parts) < 2 or parts[0] != PREFIX:
        raise ConfigError(f"{name!r} is not a generated case name (it starts with '{PREFIX}.')")
    nums: dict = {}
    flags: set = set()
    recurrent, dense = [], []
    for part in parts[1:]:
        top = _TOP.match(part)
        if top and not (recurrent or dense):
            nums[top.group(1)] = int(top.group(2))
            continue
        if part in ("mask", "init", "state") and not (recurrent or dense):
            flags.add(part)
            continue
        tokens = part.split("_")
        head = _LAYER.match(tokens[0])
        if not head or len(tokens) < 2:
            raise ConfigError(f"{name!r}: cannot read {part!r}")
        kind, units = head.group(1), int(head.group(2))
        act, rest = tokens[1], tokens[2:]
        if kind == "dense":
            if rest not in ([], ["nobias"]):
                raise ConfigError(f"{name!r}: cannot read {part!r}")
            dense.append(Dense(units, act, use_bias=not rest))
            continue
        if dense:
            raise ConfigError(f"{name!r}: recurrent layer {part!r} after a Dense layer")
        rec = "sigm"
        if kind != "simplernn":
            if not rest or not rest[0].startswith("rec"):
                raise ConfigError(f"{name!r}: {part!r} lacks its recurrent activation")
            rec, rest = rest[0][3:], rest[1:]
        bi = [t for t in rest if t.startswith("bi")]
        known = {"nobias", "seq", "bwd", "cell"}
        if len(bi) > 1 or any(t not in known and not t.startswith("bi") for t in rest):
            raise ConfigError(f"{name!r}: cannot read {part!r}")
        recurrent.append(Recurrent(kind, units, act, rec, use_bias="nobias" not in rest,
                                   return_sequences="seq" in rest, go_backwards="bwd" in rest,
                                   cell="cell" in rest, bidirectional=bi[0][2:] if bi else None))
    try:
        config = Config(seq=nums.get("s"), features=nums.get("f"), batch=nums.get("b"), recurrent=tuple(recurrent),
                        dense=tuple(dense), masking="mask" in flags, initial_state="init" in flags,
                        return_state="state" in flags)
    except ConfigError as exc:
        raise ConfigError(f"{name!r}: {exc}") from None
    if config.name != name:  # one spelling per configuration
        raise ConfigError(f"{name!r} is not canonical; the configuration it describes is named {config.name!r}")
    return config


def resolve_case(name: str) -> Case | None:
    """The loader's hook (see :func:`conformance.loader.find_case`): a generated case from its name."""
    try:
        return decode(name).case()
    except ConfigError:
        return None
