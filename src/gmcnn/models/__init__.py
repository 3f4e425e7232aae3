"""The paper's networks (App. A) and a registry that configs select them from.

- :class:`GMCNNClassifier` — image classification (App. A.2, Table 3)
- :class:`GMCNNRegressor` — dynamics prediction (App. A.1, Tables 1–2)
- :class:`CNNClassifier` — a plain CNN of the same layout, for comparisons
- :func:`register_model`, :func:`build_model`, :class:`InputSpec` — the builder registry
"""

from gmcnn.models.axes import axis_group, image_group, pooled_groups
from gmcnn.models.classifier import GMBlock, GMCNNClassifier
from gmcnn.models.cnn import CNNClassifier
from gmcnn.models.layers import ChannelProjection, GlobalMaxPool, SignalLayerNorm
from gmcnn.models.registry import (
    InputSpec,
    ModelSpec,
    build_model,
    model_names,
    model_spec,
    register_model,
)
from gmcnn.models.regressor import GMCNNRegressor

__all__ = [
    "CNNClassifier",
    "ChannelProjection",
    "GMBlock",
    "GMCNNClassifier",
    "GMCNNRegressor",
    "GlobalMaxPool",
    "InputSpec",
    "ModelSpec",
    "SignalLayerNorm",
    "axis_group",
    "build_model",
    "image_group",
    "model_names",
    "model_spec",
    "pooled_groups",
    "register_model",
]
