"""A registry of model builders, so that a config's ``model: {name: …}`` selects a network.

A builder is a function ``build(inputs: InputSpec, **options) -> nn.Module``; its keyword
parameters are the options a config may set under ``model:``. Packages register builders
when they are imported (:func:`register_model`); :func:`model_spec` imports the packages
listed in :data:`MODEL_PROVIDERS` first, so every built-in and baseline model is found by
name. A name of the form ``"package.module:function"`` imports that builder directly.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from torch import nn

Task = Literal["classification", "dynamics"]
Builder = Callable[..., nn.Module]

#: Packages whose import registers model builders (searched in this order).
MODEL_PROVIDERS: tuple[str, ...] = ("gmcnn.models.builders", "gmcnn.baselines")


@dataclass(frozen=True)
class InputSpec:
    """What a builder needs to know about the data.

    ``channels`` and ``shape`` describe one input example ``(channels, *shape)``; ``outputs``
    is the number of classes (classification) or of output channels (dynamics).
    """

    task: Task
    channels: int
    shape: tuple[int, ...]
    outputs: int

    def __post_init__(self) -> None:
        """Refuse what no model can be built for: no classes, channels or grid points."""
        for what, value in (("outputs", self.outputs), ("channels", self.channels)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                unit = "classes" if what == "outputs" and self.task == "classification" else what
                raise ValueError(f"InputSpec {what}={value!r}: a model needs at least one {unit}")
        if not self.shape or any(
            isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in self.shape
        ):
            raise ValueError(f"InputSpec shape={self.shape!r}: expected positive axis lengths")


@dataclass(frozen=True)
class ModelSpec:
    """A registered builder: its name, task (``None``: any), one-line description and function."""

    name: str
    task: Task | None
    description: str
    builder: Builder

    def options(self) -> dict[str, inspect.Parameter]:
        """The keyword options of the builder (everything after ``inputs``)."""
        params = list(inspect.signature(self.builder).parameters.values())[1:]
        return {p.name: p for p in params if p.kind is not inspect.Parameter.VAR_KEYWORD}


_REGISTRY: dict[str, ModelSpec] = {}
_loaded = False


def register_model(name: str, task: Task, description: str) -> Callable[[Builder], Builder]:
    """Decorator registering ``builder`` under ``name`` (a second registration must be the same)."""

    def decorate(builder: Builder) -> Builder:
        previous = _REGISTRY.get(name)
        if previous is not None and previous.builder is not builder:
            raise ValueError(f"model name {name!r} is already registered by {previous.builder}")
        _REGISTRY[name] = ModelSpec(name, task, description, builder)
        return builder

    return decorate


def _load_providers() -> None:
    global _loaded
    if _loaded:
        return
    for module in MODEL_PROVIDERS:
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)
    _loaded = True


def model_names() -> list[str]:
    """Names of every registered model, sorted."""
    _load_providers()
    return sorted(_REGISTRY)


def model_spec(name: str) -> ModelSpec:
    """The registered model ``name``, or a builder given as ``"package.module:function"``."""
    _load_providers()
    if name in _REGISTRY:
        return _REGISTRY[name]
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            builder = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as error:
            raise ValueError(f"model {name!r} cannot be imported: {error}") from error
        if name in _REGISTRY:  # the import registered it under this name
            return _REGISTRY[name]
        return ModelSpec(name, None, (builder.__doc__ or "").strip(), builder)
    raise ValueError(f"unknown model {name!r}: choose one of {', '.join(model_names())}")


def check_model_options(name: str, options: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` naming the first option that ``name``'s builder does not accept."""
    accepted = model_spec(name).options()
    for key in options:
        if key not in accepted:
            raise ValueError(
                f"config key 'model.{key}' is not an option of model {name!r}; expected one of: "
                + ", ".join(accepted)
            )
    missing = [
        key
        for key, p in accepted.items()
        if p.default is inspect.Parameter.empty and key not in options
    ]
    if missing:
        raise ValueError(f"config key 'model.{missing[0]}' is required by model {name!r}")


def build_model(name: str, inputs: InputSpec, **options: Any) -> nn.Module:
    """Build model ``name`` for data described by ``inputs`` with the builder's ``options``."""
    spec = model_spec(name)
    if spec.task is not None and spec.task != inputs.task:
        raise ValueError(
            f"model {name!r} is a {spec.task} model, but the data is a {inputs.task} task"
        )
    check_model_options(name, options)
    return spec.builder(inputs, **options)
