"""Pooling layers: Max/Average Pooling 1D/2D/3D, their Global forms, Adaptive Average/Max Pooling 1D/2D/3D.

Padding same and valid, strides other than the pool size, an uneven pool, keepdims, channels_first
(Keras 3 runs it on the TensorFlow CPU backend by transposing), and adaptive output sizes that
divide the input and that do not (overlapping, uneven bins).
"""
from __future__ import annotations

from cases.layers import layer_case

FAMILY = "pooling"


def _pool(name: str, cls: str, shape, **kwargs):
    return layer_case(name, FAMILY, cls, kwargs, shape=shape)


CASES = [
    # MaxPooling
    _pool("pool_max1d_valid", "MaxPooling1D", (10, 3), pool_size=2),
    _pool("pool_max1d_same_stride1", "MaxPooling1D", (9, 3), pool_size=3, strides=1, padding="same"),
    _pool("pool_max2d_valid", "MaxPooling2D", (8, 8, 3), pool_size=2),
    _pool("pool_max2d_same_stride2", "MaxPooling2D", (7, 7, 3), pool_size=3, strides=2, padding="same"),
    _pool("pool_max2d_valid_overlap", "MaxPooling2D", (8, 8, 3), pool_size=3, strides=1),
    _pool("pool_max2d_uneven", "MaxPooling2D", (9, 6, 3), pool_size=(3, 1), strides=(2, 1)),
    _pool("pool_max2d_channels_first", "MaxPooling2D", (3, 7, 7), pool_size=2, padding="same",
          data_format="channels_first"),
    _pool("pool_max3d_valid", "MaxPooling3D", (6, 6, 6, 2), pool_size=2),
    _pool("pool_max3d_same_uneven", "MaxPooling3D", (5, 6, 5, 2), pool_size=(2, 3, 2), strides=(2, 2, 1),
          padding="same"),
    # AveragePooling
    _pool("pool_avg1d_valid", "AveragePooling1D", (10, 3), pool_size=2),
    _pool("pool_avg1d_same_stride1", "AveragePooling1D", (9, 3), pool_size=3, strides=1, padding="same"),
    _pool("pool_avg2d_valid", "AveragePooling2D", (8, 8, 3), pool_size=2),
    _pool("pool_avg2d_same_stride2", "AveragePooling2D", (7, 7, 3), pool_size=3, strides=2, padding="same"),
    _pool("pool_avg2d_valid_stride1", "AveragePooling2D", (6, 6, 3), pool_size=3, strides=1),
    _pool("pool_avg2d_uneven", "AveragePooling2D", (9, 6, 3), pool_size=(3, 1), strides=(2, 1), padding="same"),
    _pool("pool_avg2d_channels_first", "AveragePooling2D", (3, 7, 7), pool_size=2,
          data_format="channels_first"),
    _pool("pool_avg3d_valid", "AveragePooling3D", (6, 6, 6, 2), pool_size=2),
    _pool("pool_avg3d_same_uneven", "AveragePooling3D", (5, 6, 5, 2), pool_size=(2, 3, 2), strides=(2, 2, 1),
          padding="same"),
    # Global pooling
    _pool("pool_global_max1d", "GlobalMaxPooling1D", (10, 4)),
    _pool("pool_global_max2d", "GlobalMaxPooling2D", (6, 6, 4)),
    _pool("pool_global_max2d_channels_first", "GlobalMaxPooling2D", (4, 6, 6), data_format="channels_first"),
    _pool("pool_global_max3d", "GlobalMaxPooling3D", (4, 4, 4, 3)),
    _pool("pool_global_avg1d", "GlobalAveragePooling1D", (10, 4)),
    _pool("pool_global_avg1d_keepdims", "GlobalAveragePooling1D", (10, 4), keepdims=True),
    _pool("pool_global_avg2d", "GlobalAveragePooling2D", (6, 6, 4)),
    _pool("pool_global_avg2d_keepdims", "GlobalAveragePooling2D", (6, 6, 4), keepdims=True),
    _pool("pool_global_avg2d_channels_first", "GlobalAveragePooling2D", (4, 6, 6), data_format="channels_first"),
    _pool("pool_global_avg3d", "GlobalAveragePooling3D", (4, 4, 4, 3)),
    # Adaptive pooling: output sizes that divide the input, and sizes that do not
    _pool("pool_adaptive_avg1d_divides", "AdaptiveAveragePooling1D", (8, 3), output_size=4),
    _pool("pool_adaptive_avg1d_uneven", "AdaptiveAveragePooling1D", (7, 3), output_size=3),
    _pool("pool_adaptive_avg2d_divides", "AdaptiveAveragePooling2D", (8, 6, 3), output_size=(4, 3)),
    _pool("pool_adaptive_avg2d_uneven", "AdaptiveAveragePooling2D", (7, 5, 3), output_size=(3, 2)),
    _pool("pool_adaptive_avg2d_channels_first", "AdaptiveAveragePooling2D", (3, 7, 5), output_size=(3, 2),
          data_format="channels_first"),
    _pool("pool_adaptive_avg3d_divides", "AdaptiveAveragePooling3D", (4, 4, 6, 2), output_size=(2, 2, 3)),
    _pool("pool_adaptive_avg3d_uneven", "AdaptiveAveragePooling3D", (5, 4, 5, 2), output_size=(2, 3, 3)),
    _pool("pool_adaptive_max1d_divides", "AdaptiveMaxPooling1D", (8, 3), output_size=4),
    _pool("pool_adaptive_max1d_uneven", "AdaptiveMaxPooling1D", (7, 3), output_size=3),
    _pool("pool_adaptive_max2d_divides", "AdaptiveMaxPooling2D", (8, 6, 3), output_size=(4, 3)),
    _pool("pool_adaptive_max2d_uneven", "AdaptiveMaxPooling2D", (7, 5, 3), output_size=(3, 2)),
    _pool("pool_adaptive_max3d_divides", "AdaptiveMaxPooling3D", (4, 4, 6, 2), output_size=(2, 2, 3)),
    _pool("pool_adaptive_max3d_uneven", "AdaptiveMaxPooling3D", (5, 4, 5, 2), output_size=(2, 3, 3)),
]
