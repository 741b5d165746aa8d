"""The layer library's section of expectations.toml, grouped by cause, from a run's results.

    pytest conformance/ -n 2 -m layers --tier full            # (or with --expectations none)
    python tools/layer_expectations.py reports/results.json > section.toml

Each failing cell of the TensorFlow rows is matched to a cause by a regex on its observed reason
(``RULES``: one reason and one link per cause, written by hand after reading the converter's
source and issue tracker); cells no rule explains are listed on stderr as UNMATCHED, and get no
entry until a rule is written for them.  The JAX and PyTorch rows quote their error.  Cells of the
same cause, converter and opsets are merged into one entry.  The output replaces the entries after
the layer-library comment block of expectations.toml (the hand-written ``strict = false`` entry at
its top stays); then ``python -m conformance.report propose RESULTS --check`` must report nothing
unexplained.  Only for the modern stack so far (``WHEN``); another stack needs its own ``WHEN``."""
import collections
import json
import re
import sys

RECS = json.load(open(sys.argv[1]))["records"]
for _r in RECS:  # records decided with expectations: the observed words follow "Observed: "
    if ". Observed: " in _r["reason"]:
        _r["reason"] = _r["reason"].split(". Observed: ", 1)[1]
TF_ROWS = ["tf2onnx-keras", "tf2onnx-cli", "keras-export", "tf2onnx-graphdef", "tf2onnx-graphdef-functional"]
WHEN = {"tf": ["tf2onnx==1.17.0", "keras==3.15.*"], "jax": ["keras==3.15.*", "jax2onnx==0.17.*"],
        "torch": ["keras==3.15.*", "torch==2.13.*"]}
ANSI = re.compile(r"\x1b\[[0-9;]*m|\[1m|\[0m")

# (regex on the reason, status or None, reason text, link)
RULES = [
    (r"No Op registered for StatefulPartitionedCall", None,
     "Keras 3's TensorFlow backend runs grouped convolutions (groups > 1) and 5-D channels_first convolutions through "
     "a nested tf.function(jit_compile=True) (keras/src/backend/tensorflow/nn.py, _conv_xla); tf2onnx does not inline "
     "it and leaves a raw StatefulPartitionedCall in the graph: onnx.checker 'No Op registered for StatefulPartitionedCall'",
     "https://github.com/onnx/tensorflow-onnx/issues/2099"),
    (r"pads must not contain negative values", None,
     "Conv2DTranspose with output_padding: tf2onnx computes ConvTranspose pads as stride*(in-1) + kernel - output_shape "
     "and never sets ONNX's output_padding, so the pads come out negative (tf2onnx/onnx_opset/nn.py); strict shape "
     "inference rejects the model ('Attribute pads must not contain negative values'). Not reported upstream yet; the "
     "1-D case converts.", "https://github.com/onnx/tensorflow-onnx/blob/main/tf2onnx/onnx_opset/nn.py"),
    (r"No Op registered for ScaleAndTranslate", None,
     "lanczos3/lanczos5 interpolation and antialiased bilinear resizing run through TensorFlow's ScaleAndTranslate, "
     "for which tf2onnx has no handler (tf2onnx/onnx_opset/nn.py handles ResizeBilinear, ResizeNearestNeighbor, "
     "ResizeBicubic, ResizeArea only): the raw TF op stays in the graph. No upstream issue found.",
     "https://github.com/onnx/tensorflow-onnx/blob/main/tf2onnx/onnx_opset/nn.py"),
    (r"No Op registered for Expm1", None,
     "keras.activations.celu uses tf.math.expm1; tf2onnx has no Expm1 handler (tf2onnx/onnx_opset/math.py), so the raw "
     "TF op stays in the graph. No upstream issue found.",
     "https://github.com/onnx/tensorflow-onnx/blob/main/tf2onnx/onnx_opset/math.py"),
    (r"No Op registered for Erfc", None,
     "exact GELU (keras.activations.gelu, approximate=False) is computed with Erfc in TensorFlow 2.21; tf2onnx 1.17 has "
     "no Erfc handler and leaves the raw op (PR 2463 adds a rewriter, open)",
     "https://github.com/onnx/tensorflow-onnx/pull/2463"),
    (r"No Op registered for TensorListReserve", None,
     "frozen with lower_control_flow=True, the recurrent loop of Bidirectional and ConvLSTM layers becomes "
     "Enter/Merge/Switch; tf2onnx's TensorListReserve handler only works inside a While node, so the TensorList ops "
     "stay (No Op registered for TensorListReserve); frozen with lower_control_flow=False the same models convert",
     "https://github.com/onnx/tensorflow-onnx/issues/2271"),
    (r"No Op registered for Bucketize", None,
     "Discretization runs TensorFlow's Bucketize, which tf2onnx has no handler for: the raw op stays in the graph",
     "https://github.com/onnx/tensorflow-onnx/issues/2222"),
    (r"No Op registered for SparseCross", None,
     "HashedCrossing runs TensorFlow's SparseCross, which tf2onnx has no handler for: the raw op stays in the graph",
     "https://github.com/onnx/tensorflow-onnx/issues/2222"),
    (r"No Op registered for StringToHashBucket(Fast|Strong)", None,
     "Hashing turns its input into strings and hashes them (StringToHashBucketFast, or StringToHashBucketStrong with a "
     "salt); tf2onnx converts StringToHashBucketFast only into the ai.onnx.contrib domain when asked for it (needs "
     "onnxruntime-extensions) and has no handler for the salted op, so the raw op stays",
     "https://github.com/onnx/tensorflow-onnx/blob/main/tf2onnx/custom_opsets/string_ops.py"),
    (r"No Op registered for (HashTableV2|LookupTableFindV2)", None,
     "IntegerLookup/StringLookup with one-hot output: the table lookup (HashTableV2 / LookupTableFindV2) is left in the "
     "graph; tf2onnx maps LookupTableFindV2 to ai.onnx.ml CategoryMapper only for string<->int64 tables found through "
     "the graph's initializers, which this route does not give it",
     "https://github.com/onnx/tensorflow-onnx/issues/2222"),
    (r"Only lookup tables of type string<->int64", None,
     "IntegerLookup uses an int64 -> int64 hash table; tf2onnx converts lookups only for string<->int64 tables "
     "('Only lookup tables of type string<->int64 are currently supported', tf2onnx/custom_opsets/onnx_ml.py)",
     "https://github.com/onnx/tensorflow-onnx/issues/2222"),
    (r"Could not determine table shared name", None,
     "a frozen GraphDef of a model with a lookup table (IntegerLookup, StringLookup, TextVectorization): tf2onnx "
     "cannot find the hash table's shared name in the frozen graph ('Could not determine table shared name for ... "
     "LookupTableFindV2') and gives up",
     "https://github.com/onnx/tensorflow-onnx/issues/2222"),
    (r"No Op registered for StaticRegexReplace", None,
     "TextVectorization's standardization (lower-case and strip punctuation) uses StaticRegexReplace, which tf2onnx "
     "converts only into the ai.onnx.contrib domain (onnxruntime-extensions); on this route the raw op stays",
     "https://github.com/onnx/tensorflow-onnx/blob/main/tf2onnx/custom_opsets/string_ops.py"),
    (r"Field 'shape' of 'type' is required but missing", None,
     "the converted model declares a tensor type without a shape (tf2onnx writes value_info whose rank it could not "
     "infer with no shape field, utils.make_onnx_shape(None)); onnx.checker's full check rejects it, although "
     "onnxruntime may run it. Seen for lookup tables (IntegerLookup, StringLookup, TextVectorization multi_hot) at every "
     "opset; MultiHeadAttention over two attention axes does it at opset 13 only some of the time (the strict = false "
     "entry at the top of this section). No upstream issue found.",
     "https://github.com/onnx/tensorflow-onnx/blob/main/tf2onnx/utils.py"),
    (r"No Op registered for RFFT", None,
     "MelSpectrogram's STFT is an RFFT followed by a magnitude of complex values; tf2onnx converts RFFT only when its "
     "consumer is ComplexAbs, which Keras's real/imaginary arithmetic is not, and leaves the raw RFFT",
     "https://github.com/onnx/tensorflow-onnx/blob/main/tf2onnx/onnx_opset/signal.py"),
    (r"RFFT or FFT only allows ComplexAbs", None,
     "MelSpectrogram's STFT is an RFFT followed by real/imaginary arithmetic; tf2onnx refuses it: 'RFFT or FFT only "
     "allows ComplexAbs as consumer'",
     "https://github.com/onnx/tensorflow-onnx/blob/main/tf2onnx/onnx_opset/signal.py"),
    (r"Shapes must be equal rank", None,
     "IntegerLookup(output_mode='multi_hot') with a mask token: tracing the model for export fails inside TensorFlow "
     "('Shapes must be equal rank, but are 0 and 2'), although Keras runs the same model eagerly",
     "https://github.com/onnx/tensorflow-onnx/issues/2222"),
    (r"No Op registered for (StatelessRandom\w+|RGBToHSV|BroadcastArgs)", None,
     "the exported SavedModel runs the augmentation layer in training mode: Keras's model.export traces the serving "
     "function without training=False and the image augmentation layers default to training=True, so random ops "
     "(StatelessRandomUniformV2, StatelessRandomUniformIntV2, stateless gamma's BroadcastArgs, RGBToHSV) are in the "
     "graph and tf2onnx leaves them. tf2onnx-keras (which calls the model with training=False) converts the same "
     "models.", "https://github.com/onnx/tensorflow-onnx/issues/2395"),
    (r"incompatible with expected resource", None,
     "freezing a model with a random augmentation layer whose seed generator is a variable: tf2onnx's GraphDef import "
     "fails on AssignVariableOp ('passed int64 ... incompatible with expected resource')",
     "https://github.com/onnx/tensorflow-onnx/issues/2395"),
    (r"head: shape", "MISMATCH",
     "silently wrong shape: the exported model runs RandomCrop in training mode (model.export traces serving without "
     "training=False), so ONNX gives a randomly cropped 8x8 feature map (output 6x6x4) where Keras at inference "
     "returns the whole 12x10 image (output 10x8x4)", "https://github.com/keras-team/keras/issues/21346"),
    (r"959/960 elements outside", "MISMATCH",
     "silently wrong numbers: the exported model applies Equalization (model.export traces serving without "
     "training=False), while Keras at inference leaves the image unchanged: 959 of 960 outputs differ, by up to 15",
     "https://github.com/keras-team/keras/issues/21346"),
    (r"KeyError: 'keras_tensor_", None,
     "from_keras maps a Keras 3 Sequential model's output names (keras_tensor_N) onto the traced function's outputs and "
     "fails: KeyError: 'keras_tensor_N_clone'", "https://github.com/onnx/tensorflow-onnx/issues/2448"),
    (r"input names \['xclone'\]", None,
     "the Sequential model's input is named 'xCLONE' by Keras (it clones the input around Equalization's cycle); the "
     "SavedModel signature lower-cases it to 'xclone', so the ONNX input name differs from Keras's (outputs match)",
     "https://github.com/keras-team/keras/blob/master/keras/src/export/saved_model.py"),
    (r"Required inputs \(\['functional_\d+_1/normalization", None,
     "Keras's own ONNX export of a Normalization layer leaves the layer's mean and variance constants as graph inputs "
     "(Required inputs ['.../normalization/Sub/y:0', '.../Sqrt/x:0'] are missing from the feed): onnxruntime cannot run "
     "the model with the Keras inputs alone; the tf2onnx rows convert the same models. Not reported upstream yet.",
     "https://github.com/keras-team/keras/blob/master/keras/src/export/onnx.py"),
    (r"ShapeInferenceError\] Inference error\(s\): \(op_type:Transpose", None,
     "Resizing (bilinear, nearest, bicubic, area): the converted model declares a Transpose output of one size and "
     "strict shape inference infers another (e.g. 6 vs 7) from the Resize before it; onnx.checker's full check rejects "
     "the model, onnxruntime runs it and matches Keras. No upstream issue found.",
     "https://github.com/onnx/tensorflow-onnx/blob/main/tf2onnx/onnx_opset/nn.py"),
    (r"shape \(\d+, 11, 4\) where Keras gives \(\d+, 12, 4\)", "MISMATCH",
     "silently wrong shape at opset 11: a strided Conv1DTranspose with output_padding (output 12 steps) converts to a "
     "ConvTranspose whose output is one step short (11): for a transposed convolution with strides > 1 and a "
     "non-constant output shape tf2onnx needs a zero-padding workaround that it only builds from opset 12, and below "
     "that it only logs a warning ('Conv Backprop Input with strides > 1 and non-constant shape has known bug. "
     "Workaround requires opset 12.', tf2onnx/onnx_opset/nn.py, ConvTranspose). Opsets 13-18 match; opset 9 is "
     "refused outright (opset 10 needed).",
     "https://github.com/onnx/tensorflow-onnx/blob/main/tf2onnx/onnx_opset/nn.py"),
    (r"first divergent layer: masking \(Masking", "MISMATCH",
     "silently wrong numbers at opset 9: the Masking layer on its own (before a masked GlobalAveragePooling1D) "
     "converts and runs, but its output already differs from Keras (first divergent layer: masking, 18 of 72 "
     "elements); the same cause as the masked LSTM/GRU at opset 9 (entry above): the converted SelectV2 zeroes valid "
     "timesteps. Opset 11 and later match. Not yet reported upstream.", ""),
    (r"No Op registered for Einsum with domain_version of (9|10|11)\b", None,
     "MultiHeadAttention, GroupedQueryAttention and EinsumDense compute with tf.einsum; ONNX has Einsum from opset "
     "12 and tf2onnx's Einsum handler starts there (tf2onnx/onnx_opset/math.py, Einsum.version_12), so at opsets 9 "
     "and 11 the conversion leaves the raw TF Einsum op in the graph",
     "https://github.com/onnx/tensorflow-onnx/blob/main/tf2onnx/onnx_opset/math.py"),
    (r"No Op registered for ReverseV2 with domain_version of 9\b", None,
     "tf2onnx converts TensorFlow's ReverseV2 only from opset 10 (tf2onnx/onnx_opset/tensor.py, ReverseV2.version_10); "
     "at opset 9 the raw op stays in the graph: the backward half of Bidirectional (go_backwards) and RandomFlip's "
     "flip (entry above for go_backwards RNNs)",
     "https://github.com/onnx/tensorflow-onnx/blob/main/tf2onnx/onnx_opset/tensor.py"),
    (r"Opset 11 is required for (half_pixel_centers=True|bicubic interpolation)|No Op registered for "
     r"(ResizeBilinear|ResizeNearestNeighbor|ResizeBicubic) with domain_version of 9\b", None,
     "Keras resizes with half_pixel_centers=True (Resizing, UpSampling2D bilinear, CenterCrop upsizing, RandomCrop) "
     "or bicubic interpolation, which tf2onnx converts only from opset 11 (tf2onnx/onnx_opset/nn.py: 'Opset 11 is "
     "required for half_pixel_centers=True'); at opset 9 the command-line routes stop with that error and the "
     "in-process routes (from_keras, model.export) leave the raw TF resize op in the graph",
     "https://github.com/onnx/tensorflow-onnx/blob/main/tf2onnx/onnx_opset/nn.py"),
    (r"StridedSlice: attribute new_axis_mask not supported|No Op registered for StridedSlice with domain_version of 9\b",
     None,
     "at opset 9 (ONNX Slice-1 takes its bounds as attributes) tf2onnx's StridedSlice handler cannot take a "
     "new_axis_mask or non-constant bounds (tf2onnx/onnx_opset/tensor.py, StridedSlice.version_1: 'attribute "
     "new_axis_mask not supported'): the command-line routes stop, the in-process routes leave the raw op. Seen for "
     "the image augmentation layers' affine transforms, CLAHE, MelSpectrogram and Resizing(crop_to_aspect_ratio)",
     "https://github.com/onnx/tensorflow-onnx/blob/main/tf2onnx/onnx_opset/tensor.py"),
    (r"must be Const", None,
     "at opset 9 tf2onnx needs a constant where the graph computes one (sparsemax's top-k size, MelSpectrogram's "
     "frame bounds, MixUp/CutMix batch sizes, Resizing(crop_to_aspect_ratio) crop bounds): 'get tensor value: ... "
     "must be Const' (opset-9 handlers take these as attributes; from opset 10/11 they are inputs)",
     "https://github.com/onnx/tensorflow-onnx/blob/main/tf2onnx/graph.py"),
    (r"schema\(::TopK:1\) has input size 2", None,
     "sparsemax sorts with TopKV2 whose k is computed; at opset 9 ONNX TopK-1 takes k as an attribute, but the "
     "in-process routes leave a TopK node with k as a second input, which onnx.checker rejects ('TopK:1 has input "
     "size 2'); the command-line routes stop on the same k ('must be Const'). Opset 11 and later convert.",
     "https://github.com/onnx/tensorflow-onnx/blob/main/tf2onnx/onnx_opset/tensor.py"),
    (r"No Op registered for DenseBincount with domain_version of 9\b", None,
     "CategoryEncoding (count, multi_hot) and Equalization's histogram run TensorFlow's DenseBincount; tf2onnx's "
     "Bincount handler needs ONNX ops of later opsets, so at opset 9 the raw DenseBincount stays in the graph",
     "https://github.com/onnx/tensorflow-onnx/blob/main/tf2onnx/onnx_opset/tensor.py"),
    (r"Opset 10 needed for Conv Backprop Input|op_type:ConvTranspose", None,
     "a strided Conv1DTranspose has a non-constant output shape, which tf2onnx handles only from opset 10 ('Opset 10 "
     "needed for Conv Backprop Input with non-constant shape', tf2onnx/onnx_opset/nn.py): the command-line routes "
     "stop, and the in-process routes write a ConvTranspose whose declared output shape strict shape inference "
     "rejects",
     "https://github.com/onnx/tensorflow-onnx/blob/main/tf2onnx/onnx_opset/nn.py"),
    (r"No Op registered for StringLower with domain_version of 9\b", None,
     "TextVectorization's standardization lower-cases with StringLower, which tf2onnx converts only into the "
     "ai.onnx.contrib domain (onnxruntime-extensions) and only from later opsets; at opset 9 the raw op stays",
     "https://github.com/onnx/tensorflow-onnx/blob/main/tf2onnx/custom_opsets/string_ops.py"),

]


def clean(text: str) -> str:
    return re.sub(r"\s+", " ", ANSI.sub("", text)).strip()


def rule_for(rec):
    st = rec.get("observed_status") or rec["status"]
    for rx, status, reason, link in RULES:
        if (status is None or status == st) and re.search(rx, rec["reason"]):
            return reason, link
    return None


def backend_kind(conv):
    return "jax" if conv.endswith("-jax") else "torch" if conv.endswith("-torch") else "tf"


def backend_reason(rec):
    """jax/torch rows: the observed error, quoted."""
    conv = rec["converter"]
    text = clean(rec["reason"])
    text = re.sub(r"functional_\d+(_\d+)?", "functional_N", text)
    text = re.sub(r"%\d+", "%N", text)
    text = re.sub(r"'\d+ defined in", "'N defined in", text)
    text = re.sub(r"opset version \d+", "this opset", text)
    text = re.sub(r"domain_version of \d+", "this opset", text)
    for cut in ("==> Context", " Name:", " Name '", "[Caused by", ", scope:", "Please send", "Please feel free", " Support for",
                "Exception encountered when calling", "(op_type"):
        i = text.find(cut)
        if i > 40:
            text = text[:i].rstrip(" .:;,") + (" (" + cut.strip(" [(,") + " ...)" if cut.startswith("Exception") else "")
    text = re.sub(r"batch 3: (\w+): .*", r"batch 3: \1: wrong output", text) if "shape (3" in text else text
    who = ("Keras's export on the JAX backend (jax2onnx 0.17)" if conv.endswith("-jax")
           else "Keras's export on the PyTorch backend (torch.onnx, torch 2.13)")
    return f"{who}: {text[:300]}"


groups = collections.defaultdict(set)  # (kind, status, reason, link) -> {(case, conv, opset)}
unmatched = []
for r in RECS:
    st = r.get("observed_status") or r["status"]
    if st in ("PASS", "NOT_APPLICABLE") or r["converter"] in ("keras2onnx", "keras2onnx-api"):
        continue
    if r["converter"] in TF_ROWS and (r["case"], int(r["opset"])) == ("attn_mha_attention_axes", 13):
        continue  # comes and goes between runs: the hand-written strict = false entry before the generated ones
    if r["converter"] in TF_ROWS:
        got = rule_for(r)
        if got is None:
            unmatched.append(r)
            continue
        key = ("tf", st) + got
    else:
        key = (backend_kind(r["converter"]), st, backend_reason(r), "")
    groups[key].add((r["case"], r["converter"], int(r["opset"])))

if unmatched:
    for r in unmatched:
        print("UNMATCHED", r["case"], r["converter"], r["opset"], clean(r["reason"])[:200], file=sys.stderr)


OVERRIDES = {
    "Keras's export on the JAX backend (jax2onnx 0.17): case failed to build: TypeError: Exception encountered when calling MultiHeadAttention.call(). cannot reshape array of shape (3, 4, 3, 1, 5) (size 180) into shape (3, 4, 3, 2) (size 72) Arguments received by MultiHeadAttention.call(): • query=jnp.ndarray(shape=(3, 4, 8), dtype=float32) • value=jnp.n":
    "Keras 3.15 on the JAX backend cannot run this model (not a converter failure): MultiHeadAttention with value_dim (5) different from key_dim (2) fails in Keras's JAX dot-product attention: TypeError: cannot reshape array of shape (3, 4, 3, 1, 5) (size 180) into shape (3, 4, 3, 2) (size 72) Arguments received by MultiHeadAttention.call(): • query=jnp.ndarray(shape=(3, 4, 8), dtype=float32) • value=jnp.n",
    "Keras's export on the JAX backend (jax2onnx 0.17): conversion failed: InconclusiveDimensionOperation (Exception encountered when calling ...)":
    "Keras's export on the JAX backend (jax2onnx 0.17) traces the model with a symbolic batch dimension, and Keras's resize code computes a shape from it: InconclusiveDimensionOperation (UpSampling2D, Resizing and CenterCrop calls)",
}


def q(s):
    return json.dumps(s, ensure_ascii=False)


out = []
# merge (case-set x converter-set x opset-set) blocks
for (kind, st, reason, link), cells in sorted(groups.items()):
    per_conv = collections.defaultdict(lambda: collections.defaultdict(set))
    for case, conv, opset in cells:
        per_conv[conv][case].add(opset)
    blocks = collections.defaultdict(list)  # (cases, opsets) -> convs
    for conv, cases in per_conv.items():
        by_ops = collections.defaultdict(list)
        for case, ops in cases.items():
            by_ops[tuple(sorted(ops))].append(case)
        for ops, cs in by_ops.items():
            blocks[(tuple(sorted(cs)), ops)].append(conv)
    for (cs, ops), convs in sorted(blocks.items()):
        convs = sorted(convs)
        out.append("[[expected]]")
        out.append(f"case = {q(list(cs)) if len(cs) > 1 else q(cs[0])}")
        out.append(f"converter = {q(convs) if len(convs) > 1 else q(convs[0])}")
        out.append(f"opsets = {list(ops) if len(ops) > 1 else ops[0]}")
        out.append(f"when = {q(WHEN[kind])}")
        out.append(f"status = {q(st)}")
        out.append(f"reason = {q(OVERRIDES.get(reason, reason))}")
        if link:
            out.append(f"link = {q(link)}")
        out.append("")
print("\n".join(out))
