"""Convolution layers: Conv1D/2D/3D, their Transpose forms, SeparableConv1D/2D, DepthwiseConv1D/2D.

Padding same and valid, strides, dilation, uneven kernels and strides, causal padding, groups,
output_padding, depth_multiplier, use_bias=False, an activation, and channels_first where the
suite's workers (TensorFlow CPU, TF_ENABLE_ONEDNN_OPTS=0) can run it.
"""
from __future__ import annotations

from cases.layers import layer_case

FAMILY = "conv"


def _conv(name: str, cls: str, shape, **kwargs):
    return layer_case(name, FAMILY, cls, kwargs, shape=shape)


CASES = [
    # Conv1D
    _conv("conv1d_valid", "Conv1D", (10, 3), filters=4, kernel_size=3),
    _conv("conv1d_same_stride2", "Conv1D", (11, 3), filters=4, kernel_size=3, strides=2, padding="same"),
    _conv("conv1d_causal_dilated", "Conv1D", (10, 3), filters=4, kernel_size=3, padding="causal", dilation_rate=2),
    _conv("conv1d_groups", "Conv1D", (8, 4), filters=6, kernel_size=3, groups=2, padding="same"),
    # no Conv1D/Conv2D channels_first: TF's CPU Conv2D without oneDNN only supports NHWC (UnimplementedError)
    # Conv2D
    _conv("conv2d_valid", "Conv2D", (7, 7, 3), filters=4, kernel_size=3),
    _conv("conv2d_same_relu", "Conv2D", (6, 6, 3), filters=4, kernel_size=3, padding="same", activation="relu"),
    _conv("conv2d_same_stride2", "Conv2D", (9, 9, 3), filters=4, kernel_size=3, strides=2, padding="same"),
    _conv("conv2d_valid_stride2_kernel2", "Conv2D", (8, 8, 3), filters=4, kernel_size=2, strides=2),
    _conv("conv2d_dilated", "Conv2D", (9, 9, 3), filters=4, kernel_size=3, dilation_rate=2),
    _conv("conv2d_dilated_same_uneven", "Conv2D", (8, 8, 3), filters=4, kernel_size=(3, 2), dilation_rate=(1, 2),
          padding="same"),
    _conv("conv2d_uneven_kernel_stride", "Conv2D", (9, 6, 3), filters=4, kernel_size=(3, 1), strides=(2, 1),
          padding="same"),
    _conv("conv2d_groups", "Conv2D", (6, 6, 4), filters=6, kernel_size=3, groups=2, padding="same"),
    _conv("conv2d_no_bias", "Conv2D", (6, 6, 3), filters=4, kernel_size=3, use_bias=False),
    # Conv3D
    _conv("conv3d_valid", "Conv3D", (5, 5, 5, 2), filters=3, kernel_size=3),
    _conv("conv3d_same_uneven_stride", "Conv3D", (5, 6, 5, 2), filters=3, kernel_size=(3, 2, 3), strides=(2, 1, 2),
          padding="same"),
    _conv("conv3d_dilated", "Conv3D", (6, 6, 6, 2), filters=3, kernel_size=2, dilation_rate=2),
    _conv("conv3d_channels_first", "Conv3D", (2, 5, 5, 5), filters=3, kernel_size=3, data_format="channels_first"),
    # Conv1DTranspose
    _conv("conv1d_transpose_valid_stride2", "Conv1DTranspose", (6, 3), filters=4, kernel_size=3, strides=2),
    _conv("conv1d_transpose_same_stride2", "Conv1DTranspose", (6, 3), filters=4, kernel_size=4, strides=2,
          padding="same"),
    _conv("conv1d_transpose_output_padding", "Conv1DTranspose", (5, 3), filters=4, kernel_size=3, strides=2,
          output_padding=1),
    # Conv2DTranspose
    _conv("conv2d_transpose_valid_stride2", "Conv2DTranspose", (4, 4, 3), filters=4, kernel_size=3, strides=2),
    _conv("conv2d_transpose_same_stride2", "Conv2DTranspose", (4, 5, 3), filters=4, kernel_size=3, strides=2,
          padding="same"),
    _conv("conv2d_transpose_output_padding", "Conv2DTranspose", (4, 4, 3), filters=4, kernel_size=3, strides=2,
          output_padding=1),
    # no dilated ConvNDTranspose: TF's CPU Conv2DBackpropInput does not support dilations (InvalidArgumentError)
    _conv("conv2d_transpose_uneven", "Conv2DTranspose", (4, 4, 3), filters=4, kernel_size=(3, 2), strides=(2, 1),
          padding="same", use_bias=False),
    # no channels_first ConvNDTranspose: TF's CPU Conv{2,3}DBackpropInput only supports NHWC/NDHWC without oneDNN
    # Conv3DTranspose
    _conv("conv3d_transpose_valid_stride2", "Conv3DTranspose", (3, 3, 3, 2), filters=3, kernel_size=3, strides=2),
    _conv("conv3d_transpose_same_uneven", "Conv3DTranspose", (3, 4, 3, 2), filters=3, kernel_size=(2, 3, 3),
          strides=(2, 1, 2), padding="same"),
    # SeparableConv1D
    _conv("conv_separable1d_valid", "SeparableConv1D", (10, 3), filters=4, kernel_size=3),
    _conv("conv_separable1d_same_stride2_dm2", "SeparableConv1D", (11, 3), filters=4, kernel_size=3, strides=2,
          padding="same", depth_multiplier=2),
    _conv("conv_separable1d_dilated", "SeparableConv1D", (12, 3), filters=4, kernel_size=3, dilation_rate=2),
    # SeparableConv2D
    _conv("conv_separable2d_valid", "SeparableConv2D", (7, 7, 3), filters=4, kernel_size=3),
    _conv("conv_separable2d_same_stride2_dm2", "SeparableConv2D", (9, 9, 3), filters=4, kernel_size=3, strides=2,
          padding="same", depth_multiplier=2, activation="tanh"),
    _conv("conv_separable2d_dilated_no_bias", "SeparableConv2D", (9, 9, 3), filters=4, kernel_size=3,
          dilation_rate=2, use_bias=False),
    _conv("conv_separable2d_channels_first", "SeparableConv2D", (3, 7, 7), filters=4, kernel_size=3,
          data_format="channels_first"),
    # DepthwiseConv1D
    _conv("conv_depthwise1d_valid", "DepthwiseConv1D", (10, 3), kernel_size=3),
    _conv("conv_depthwise1d_same_stride2_dm2", "DepthwiseConv1D", (11, 3), kernel_size=3, strides=2,
          padding="same", depth_multiplier=2),
    _conv("conv_depthwise1d_dilated", "DepthwiseConv1D", (12, 3), kernel_size=3, dilation_rate=2),
    _conv("conv_depthwise1d_channels_first", "DepthwiseConv1D", (3, 10), kernel_size=3, data_format="channels_first"),
    # DepthwiseConv2D
    _conv("conv_depthwise2d_valid", "DepthwiseConv2D", (7, 7, 3), kernel_size=3),
    _conv("conv_depthwise2d_same_stride2", "DepthwiseConv2D", (9, 9, 3), kernel_size=3, strides=2, padding="same"),
    _conv("conv_depthwise2d_dm2_dilated", "DepthwiseConv2D", (9, 9, 3), kernel_size=3, depth_multiplier=2,
          dilation_rate=2),
    # uneven kernel only: TF's CPU DepthwiseConv2dNative needs equal row and column strides
    _conv("conv_depthwise2d_uneven_kernel", "DepthwiseConv2D", (9, 6, 3), kernel_size=(3, 1), strides=2,
          padding="same", use_bias=False),
    _conv("conv_depthwise2d_channels_first", "DepthwiseConv2D", (3, 7, 7), kernel_size=3,
          data_format="channels_first"),
]
