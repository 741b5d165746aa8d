"""KerasHub backbones at tiny configurations, built offline from their constructors.

Each case is ``keras_hub.models.<Backbone>(**config)`` with random weights (seeded): 2 layers, hidden
size 32 (or the smallest the constructor takes), a vocabulary of 64 ids, images of 32 x 32.  No
preset, no vocabulary file, no weights: nothing is downloaded.  The outputs are the backbone's hidden
states (``sequence_output``, ``pooled_output``, feature maps, CLIP's and SigLIP's logits), compared
element-wise and by cosine similarity (tag ``backbone``, :mod:`conformance.checks.agreement`).

Inputs (:func:`cases.models.fitted_inputs`): drawn from the built model's input specs; token ids inside
the vocabulary, padding masks with real padding (the first row shorter, token ids 0 where padded),
segment ids in two segments; images standard normal (the backbones take normalized images: the
preprocessing is the preprocessor's, not the model's).  Where the sequence axis is dynamic, the main
batch (3 rows) has 12 positions and the second (1 row) 7: each cell runs two batch sizes and two
sequence lengths.

Without keras_hub (no ``models`` extra; Keras 2; Python 3.10) the cells are NOT_APPLICABLE with one line
(:func:`cases.models.import_keras_hub`).  Every backbone issue 21 names exists in keras_hub 0.32 and
builds offline; SigLIP's text tower adds all its position embeddings, so it takes one sequence length
(16) at both batch sizes.
"""
from __future__ import annotations

import dataclasses
from functools import partial

from cases.api import CaseNotApplicable
from cases.models import BACKBONE_TAG, SEQUENCE_LENGTHS, import_keras_hub, models_case

FAMILY = "kerashub"
VOCABULARY = 64
MAX_LENGTH = 16
IMAGE = (32, 32, 3)
TEXT = dict(vocabulary_size=VOCABULARY, num_layers=2, num_heads=2, hidden_dim=32, intermediate_dim=64)
DECODER = dict(vocabulary_size=VOCABULARY, num_layers=2, num_query_heads=4, num_key_value_heads=2, hidden_dim=32,
               intermediate_dim=64)
VIT = dict(num_layers=2, num_heads=2, hidden_dim=32)
MIT = dict(layerwise_depths=[1, 1], num_layers=2, layerwise_num_heads=[1, 2], layerwise_sr_ratios=[4, 2],
           max_drop_path_rate=0.0, layerwise_patch_sizes=[7, 3], layerwise_strides=[4, 2], image_shape=IMAGE,
           hidden_dims=[16, 32])


@dataclasses.dataclass(frozen=True)
class Sub:
    """A constructor argument that is itself a KerasHub model (SegFormer's encoder, CLIP's towers)."""

    ctor: str
    kwargs: tuple


@dataclasses.dataclass(frozen=True)
class Hub:
    name: str
    ctor: str            # keras_hub.models.<ctor>
    kwargs: tuple        # (key, value) pairs; a value may be a Sub
    kind: str            # encoder, decoder, encoder-decoder, vision, multimodal, audio
    #: the sequence lengths of the main and the second batch (default: 12 and 7)
    lengths: tuple = SEQUENCE_LENGTHS

    def config(self) -> dict:
        return dict(self.kwargs)


def _t(**kw) -> tuple:
    return tuple(kw.items())


BACKBONES = [
    # encoders
    Hub("bert", "BertBackbone", _t(**TEXT, max_sequence_length=MAX_LENGTH), "encoder"),
    Hub("albert", "AlbertBackbone", _t(**TEXT, embedding_dim=16, max_sequence_length=MAX_LENGTH), "encoder"),
    Hub("roberta", "RobertaBackbone", _t(**TEXT, max_sequence_length=MAX_LENGTH), "encoder"),
    Hub("xlm_roberta", "XLMRobertaBackbone", _t(**TEXT, max_sequence_length=MAX_LENGTH), "encoder"),
    Hub("deberta_v3", "DebertaV3Backbone", _t(**TEXT, max_sequence_length=MAX_LENGTH, bucket_size=8), "encoder"),
    Hub("electra", "ElectraBackbone", _t(vocab_size=VOCABULARY, num_layers=2, num_heads=2, hidden_dim=32,
                                         embedding_dim=16, intermediate_dim=64, max_sequence_length=MAX_LENGTH),
        "encoder"),
    Hub("distil_bert", "DistilBertBackbone", _t(**TEXT, max_sequence_length=MAX_LENGTH), "encoder"),
    # decoders
    Hub("gpt2", "GPT2Backbone", _t(**TEXT, max_sequence_length=MAX_LENGTH), "decoder"),
    Hub("opt", "OPTBackbone", _t(**TEXT, max_sequence_length=MAX_LENGTH), "decoder"),
    Hub("llama", "LlamaBackbone", _t(**DECODER), "decoder"),
    Hub("mistral", "MistralBackbone", _t(**DECODER, sliding_window=MAX_LENGTH), "decoder"),
    Hub("gemma", "GemmaBackbone", _t(**DECODER, head_dim=8), "decoder"),
    Hub("phi3", "Phi3Backbone", _t(**DECODER, max_sequence_length=MAX_LENGTH, pretraining_sequence_length=MAX_LENGTH),
        "decoder"),
    Hub("qwen2", "QwenBackbone", _t(**DECODER), "decoder"),
    # encoder-decoders
    Hub("t5", "T5Backbone", _t(**TEXT), "encoder-decoder"),
    Hub("bart", "BartBackbone", _t(**TEXT, max_sequence_length=MAX_LENGTH), "encoder-decoder"),
    # vision
    Hub("vit", "ViTBackbone", _t(image_shape=IMAGE, patch_size=8, **VIT, mlp_dim=64), "vision"),
    Hub("deit", "DeiTBackbone", _t(image_shape=IMAGE, patch_size=8, **VIT, intermediate_dim=64), "vision"),
    Hub("dinov2", "DINOV2Backbone", _t(patch_size=8, **VIT, intermediate_dim=64, image_shape=IMAGE,
                                       position_embedding_shape=(64, 64, 3)), "vision"),
    Hub("swin", "SwinTransformerBackbone", _t(image_shape=IMAGE, embed_dim=16, depths=[2, 2], num_heads=[2, 4],
                                              window_size=4, patch_size=4, drop_path=0.0), "vision"),
    Hub("mit", "MiTBackbone", _t(**MIT), "vision"),
    Hub("segformer", "SegFormerBackbone", _t(image_encoder=Sub("MiTBackbone", _t(**MIT)), projection_filters=32),
        "vision"),
    # multimodal
    Hub("clip", "CLIPBackbone", _t(
        vision_encoder=Sub("CLIPVisionEncoder", _t(patch_size=8, **VIT, intermediate_dim=64, image_shape=IMAGE)),
        text_encoder=Sub("CLIPTextEncoder", _t(**TEXT, embedding_dim=32, max_sequence_length=MAX_LENGTH)),
        projection_dim=32), "multimodal"),
    Hub("siglip", "SigLIPBackbone", _t(
        vision_encoder=Sub("SigLIPVisionEncoder", _t(patch_size=8, **VIT, intermediate_dim=64, image_shape=IMAGE)),
        text_encoder=Sub("SigLIPTextEncoder", _t(**TEXT, embedding_dim=32, max_sequence_length=MAX_LENGTH))),
        "multimodal", (MAX_LENGTH, MAX_LENGTH)),  # SigLIP's text tower adds all its positions: one length
    # audio
    Hub("whisper", "WhisperBackbone", _t(**TEXT, num_mels=16, max_encoder_sequence_length=MAX_LENGTH * 2,
                                         max_decoder_sequence_length=MAX_LENGTH), "audio"),
]

def _ctor(keras_hub, name: str):
    ctor = getattr(keras_hub.models, name, None)
    if ctor is None:
        raise CaseNotApplicable(f"keras_hub {keras_hub.__version__} has no keras_hub.models.{name}")
    return ctor


def _make(keras_hub, ctor: str, kwargs: tuple):
    args = {k: _make(keras_hub, v.ctor, v.kwargs) if isinstance(v, Sub) else v for k, v in kwargs}
    return _ctor(keras_hub, ctor)(**args)


def _build(hub: Hub, seed: int = 0):
    keras_hub = import_keras_hub()
    import keras

    # KerasHub's backbones name their image inputs automatically (keras_tensor_<n>, n: how many Keras tensors
    # this process made before): a new session numbers from the start, so the name is the same in every
    # worker; the seed again, since the worker's seeding went with the old session
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    return _make(keras_hub, hub.ctor, hub.kwargs)


def _describe(ctor: str, kwargs: tuple) -> str:
    args = ", ".join(f"{k}={_describe(v.ctor, v.kwargs) if isinstance(v, Sub) else repr(v)}" for k, v in kwargs)
    return f"{ctor}({args})"


CASES = [models_case(f"kerashub_{hub.name}", FAMILY, partial(_build, hub), kind=BACKBONE_TAG, tags=("kerashub",),
                     lengths=hub.lengths,
                     description=f"{hub.kind}: keras_hub.models.{_describe(hub.ctor, hub.kwargs)}, random weights")
         for hub in BACKBONES]
