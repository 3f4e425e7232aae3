"""Every baseline registered with :mod:`gmcnn.models.registry`, so that a config's
``model: {name: …}`` can name it (``configs/DATASET/METHOD.yaml``).

The registered builder takes the data's :class:`~gmcnn.models.registry.InputSpec` (input
channels, grid ``(height, width)``, classes or output channels) and the baseline's options
as keywords (:meth:`~gmcnn.baselines.registry.Baseline.options`). The families ``rgroup``,
``rpp`` and ``lift`` are registered per symmetry (``rpp-rotation``, …).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from gmcnn.baselines.registry import BASELINES, Baseline
from gmcnn.models.registry import InputSpec, register_model


def _builder(spec: Baseline) -> Callable[..., nn.Module]:
    def build(inputs: InputSpec, **options: Any) -> nn.Module:
        if len(inputs.shape) != 2:
            raise ValueError(
                f"baseline {spec.name!r} needs inputs (channels, height, width), got shape "
                f"{inputs.shape}"
            )
        data = {
            "in_channels": inputs.channels,
            "height": inputs.shape[0],
            "width": inputs.shape[1],
            "num_classes": inputs.outputs,
            "out_channels": inputs.outputs,
        }
        fixed = {k: data[k] for k in spec.data_arguments()}
        return spec.factory(**fixed, **options)

    inputs = inspect.Parameter(
        "inputs", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=InputSpec
    )
    options = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in spec.options().values()]
    build.__signature__ = inspect.Signature([inputs, *options])  # type: ignore[attr-defined]
    build.__doc__ = inspect.getdoc(spec.factory)
    build.__name__ = spec.name.replace("-", "_")
    return build


for _spec in BASELINES.values():
    register_model(_spec.name, _spec.task, _spec.description)(_builder(_spec))
