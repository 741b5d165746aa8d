"""Reshaping layers: Reshape, Permute, Flatten, RepeatVector, Cropping1D/2D/3D, ZeroPadding1D/2D/3D,
UpSampling1D/2D/3D.

UpSampling2D takes every interpolation Keras 3 accepts ("nearest", "bilinear", "bicubic",
"lanczos3", "lanczos5", "area"); "gaussian" and "mitchellcubic" are refused by Keras itself.
"""
from __future__ import annotations

from cases.api import TF_ONLY_TAG
from cases.layers import layer_case

FAMILY = "reshaping"


def _reshape(name: str, cls: str, shape, tags=(), **kwargs):
    return layer_case(name, FAMILY, cls, kwargs, shape=shape, tags=tags)


CASES = [
    _reshape("reshape_reshape", "Reshape", (4, 6), target_shape=(3, 8)),
    _reshape("reshape_reshape_minus1", "Reshape", (4, 6, 2), target_shape=(-1, 4)),
    _reshape("reshape_permute", "Permute", (4, 5, 3), dims=(3, 1, 2)),
    _reshape("reshape_permute_2d", "Permute", (4, 5), dims=(2, 1)),
    _reshape("reshape_flatten", "Flatten", (4, 5, 3)),
    _reshape("reshape_flatten_channels_first", "Flatten", (3, 4, 5), data_format="channels_first"),
    _reshape("reshape_repeat_vector", "RepeatVector", (5,), n=3),
    # Cropping
    _reshape("reshape_cropping1d", "Cropping1D", (10, 3), cropping=(2, 1)),
    _reshape("reshape_cropping2d_symmetric", "Cropping2D", (8, 8, 3), cropping=1),
    _reshape("reshape_cropping2d_asymmetric", "Cropping2D", (8, 9, 3), cropping=((1, 2), (3, 0))),
    _reshape("reshape_cropping2d_channels_first", "Cropping2D", (3, 8, 8), cropping=((2, 1), (0, 1)),
             data_format="channels_first"),
    _reshape("reshape_cropping3d", "Cropping3D", (6, 6, 6, 2), cropping=((1, 0), (2, 1), (0, 2))),
    # ZeroPadding
    _reshape("reshape_zero_padding1d_symmetric", "ZeroPadding1D", (6, 3), padding=2),
    _reshape("reshape_zero_padding1d_asymmetric", "ZeroPadding1D", (6, 3), padding=(0, 3)),
    _reshape("reshape_zero_padding2d_symmetric", "ZeroPadding2D", (5, 5, 3), padding=1),
    _reshape("reshape_zero_padding2d_asymmetric", "ZeroPadding2D", (5, 4, 3), padding=((1, 0), (2, 3))),
    _reshape("reshape_zero_padding2d_channels_first", "ZeroPadding2D", (3, 5, 4), padding=((0, 1), (1, 2)),
             data_format="channels_first"),
    _reshape("reshape_zero_padding3d_symmetric", "ZeroPadding3D", (3, 3, 3, 2), padding=1),
    _reshape("reshape_zero_padding3d_asymmetric", "ZeroPadding3D", (3, 4, 3, 2), padding=((1, 0), (0, 2), (2, 1))),
    # UpSampling
    _reshape("reshape_upsampling1d", "UpSampling1D", (5, 3), size=3),
    _reshape("reshape_upsampling2d_nearest", "UpSampling2D", (4, 4, 3), size=2),
    _reshape("reshape_upsampling2d_nearest_uneven", "UpSampling2D", (4, 3, 3), size=(2, 3)),
    _reshape("reshape_upsampling2d_nearest_channels_first", "UpSampling2D", (3, 4, 4), size=2,
             data_format="channels_first"),
    _reshape("reshape_upsampling2d_bilinear", "UpSampling2D", (4, 4, 3), size=2, interpolation="bilinear"),
    _reshape("reshape_upsampling2d_bilinear_uneven", "UpSampling2D", (4, 3, 3), size=(3, 2),
             interpolation="bilinear"),
    _reshape("reshape_upsampling2d_bicubic", "UpSampling2D", (4, 4, 3), size=2, interpolation="bicubic"),
    # Keras 3.15 refuses lanczos on PyTorch and area on JAX and PyTorch (observed: the case fails to build there)
    _reshape("reshape_upsampling2d_lanczos3", "UpSampling2D", (4, 4, 3), size=2, interpolation="lanczos3",
             tags=(TF_ONLY_TAG,)),
    _reshape("reshape_upsampling2d_lanczos5", "UpSampling2D", (4, 4, 3), size=2, interpolation="lanczos5",
             tags=(TF_ONLY_TAG,)),
    _reshape("reshape_upsampling2d_area", "UpSampling2D", (4, 4, 3), size=2, interpolation="area", tags=(TF_ONLY_TAG,)),
    _reshape("reshape_upsampling3d", "UpSampling3D", (3, 3, 3, 2), size=(2, 1, 2)),
]
