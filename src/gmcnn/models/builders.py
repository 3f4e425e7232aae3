"""The registered builders of this package's models (config ``model: {name: …}``).

- ``gm-cnn-classifier`` — :class:`GMCNNClassifier` (App. A.2, Table 3)
- ``gm-cnn-regressor`` — :class:`GMCNNRegressor` (App. A.1, Tables 1–2)
- ``cnn-classifier`` — :class:`CNNClassifier`, a plain CNN of the same layout
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from gmcnn.models.axes import image_group
from gmcnn.models.classifier import GMCNNClassifier
from gmcnn.models.cnn import CNNClassifier
from gmcnn.models.registry import InputSpec, register_model
from gmcnn.models.regressor import GMCNNRegressor


def _groups(groups: Sequence[str], inputs: InputSpec) -> object:
    if isinstance(groups, str) or not isinstance(groups, Sequence):
        raise ValueError(
            f"groups must be a list with one group per input axis (e.g. [C28, C28]), got {groups!r}"
        )
    return image_group(groups, inputs.shape)


@register_model(
    "gm-cnn-classifier",
    "classification",
    "GM-CNN classifier: shared-kernel GMConv blocks, LayerNorm, PReLU, residuals (App. A.2)",
)
def gm_cnn_classifier(
    inputs: InputSpec,
    groups: Sequence[str],
    radius: int = 3,
    channels: Sequence[int] = (120, 120),
    channel_mixing: str = "shared",
    relaxation: str | None = None,
    rank: int = 0,
    pool_after: Sequence[int] = (),
    pool_mode: str = "max",
    error_positions: str | None = None,
) -> nn.Module:
    """``groups``: one axis group per image axis, e.g. ``[C28, C28]`` or ``[D14, D14]``;
    ``error_positions``: ``centre`` (default for images) or ``identity`` (error addition)."""
    return GMCNNClassifier(
        _groups(groups, inputs),  # type: ignore[arg-type]
        inputs.channels,
        inputs.outputs,
        channels=channels,
        radius=radius,
        channel_mixing=channel_mixing,  # type: ignore[arg-type]
        relaxation=relaxation,  # type: ignore[arg-type]
        rank=rank,
        pool_after=pool_after,
        pool_mode=pool_mode,
        error_positions=error_positions,  # type: ignore[arg-type]
    )


@register_model(
    "gm-cnn-regressor",
    "dynamics",
    "GM-CNN dynamics model: four 128-channel GMConv layers, PReLU, residuals (App. A.1)",
)
def gm_cnn_regressor(
    inputs: InputSpec,
    groups: Sequence[str],
    radius: int = 1,
    hidden_channels: int = 128,
    layers: int = 4,
    channel_mixing: str = "shared",
    relaxation: str | None = "output_scaling",
    rank: int = 0,
    error_positions: str | None = None,
    normalize: bool = False,
) -> nn.Module:
    """``groups``: one axis group per grid axis, e.g. ``[C64, C64]`` or ``[D31, C23]``;
    ``error_positions``: ``centre`` (default) or ``identity`` (error addition);
    ``normalize``: kernels and position scales applied at unit L2 norm, as the public
    regression layer (output scaling only)."""
    return GMCNNRegressor(
        _groups(groups, inputs),  # type: ignore[arg-type]
        inputs.channels,
        inputs.outputs,
        hidden_channels=hidden_channels,
        layers=layers,
        radius=radius,
        channel_mixing=channel_mixing,  # type: ignore[arg-type]
        relaxation=relaxation,  # type: ignore[arg-type]
        rank=rank,
        error_positions=error_positions,  # type: ignore[arg-type]
        normalize=normalize,
    )


@register_model(
    "cnn-classifier",
    "classification",
    "plain CNN classifier with the GM-CNN's layout (zero-padded convolutions, max pooling)",
)
def cnn_classifier(
    inputs: InputSpec,
    channels: Sequence[int] = (32, 32),
    kernel_size: int = 3,
    pool_after: Sequence[int] = (),
) -> nn.Module:
    """A plain CNN of a chosen width, for comparisons at a similar parameter count."""
    if len(inputs.shape) != 2:
        raise ValueError(f"cnn-classifier needs images (C, H, W), got shape {inputs.shape}")
    return CNNClassifier(
        inputs.channels, inputs.outputs, channels, kernel_size=kernel_size, pool_after=pool_after
    )
