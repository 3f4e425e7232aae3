"""Every baseline by name: ``build(name, **options)``, its options and its parameter count.

Names, by task:

- classification (Table 3, :class:`StructuredClassifier` with one structured layer):
  ``circulant``, ``low-rank`` (``rank=4``), ``toeplitz-like`` (``rank=4``), ``fastfood``,
  ``ldr-td`` (``rank=1``);
- dynamics (Tables 1–2): ``mlp`` (:class:`MLP`), ``conv`` (:class:`ConvNet`), ``e2cnn``
  (:class:`SteerableCNN`), ``rsteer`` (:class:`RelaxedSteerableCNN`),
  ``rgroup-translation`` / ``rgroup-rotation`` (:class:`RelaxedConvNet` /
  :class:`RelaxedGroupCNN`), ``rpp-translation`` / ``rpp-rotation`` (:class:`RPPConvNet` /
  :class:`RPPSteerableCNN`), ``lift-translation`` / ``lift-rotation`` (:class:`LiftConvNet` /
  :class:`LiftSteerableCNN`).

``rgroup``, ``rpp`` and ``lift`` with ``symmetry="translation"`` or ``"rotation"`` name the
two variants. The data fixes ``in_channels, height, width`` and ``num_classes``
(classification) or ``out_channels`` (dynamics); everything else is an option with the
default of the paper's setting. :data:`TASKS` lists the paper's data shapes, so
``parameter_count("circulant", task="rot-mnist")`` is 8,634.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from torch import nn

from gmcnn.baselines.classifiers import StructuredClassifier, StructureName, structured_layer
from gmcnn.baselines.dynamics import (
    MLP,
    ConvNet,
    LiftConvNet,
    LiftSteerableCNN,
    RelaxedConvNet,
    RelaxedGroupCNN,
    RelaxedSteerableCNN,
    RPPConvNet,
    RPPSteerableCNN,
    SteerableCNN,
)

Task = Literal["classification", "dynamics"]


def _classifier(
    structure: StructureName,
    in_channels: int,
    height: int,
    width: int,
    num_classes: int,
    grayscale: bool,
    rank: int = 1,
    seed: int = 0,
) -> StructuredClassifier:
    features = (1 if grayscale else in_channels) * height * width
    hidden = structured_layer(structure, features, rank=rank, seed=seed)
    return StructuredClassifier(hidden, num_classes, channel_mean=grayscale, seed=seed)


def circulant(
    in_channels: int, height: int, width: int, num_classes: int, grayscale: bool = False
) -> StructuredClassifier:
    """Circulant hidden layer (Cheng et al. 2015). ``grayscale``: average the channels first."""
    return _classifier("circulant", in_channels, height, width, num_classes, grayscale)


def low_rank(
    in_channels: int,
    height: int,
    width: int,
    num_classes: int,
    rank: int = 4,
    grayscale: bool = False,
) -> StructuredClassifier:
    """Low-rank hidden layer ``GHᵀ`` of rank ``rank``."""
    return _classifier("low-rank", in_channels, height, width, num_classes, grayscale, rank)


def toeplitz_like(
    in_channels: int,
    height: int,
    width: int,
    num_classes: int,
    rank: int = 4,
    grayscale: bool = False,
) -> StructuredClassifier:
    """Toeplitz-like hidden layer of displacement rank ``rank`` (Sindhwani et al. 2015)."""
    return _classifier("toeplitz-like", in_channels, height, width, num_classes, grayscale, rank)


def fastfood(
    in_channels: int,
    height: int,
    width: int,
    num_classes: int,
    seed: int = 0,
    grayscale: bool = False,
) -> StructuredClassifier:
    """Adaptive Fastfood hidden layer (Le et al. 2013); ``seed`` draws its permutation."""
    return _classifier("fastfood", in_channels, height, width, num_classes, grayscale, seed=seed)


def ldr_td(
    in_channels: int,
    height: int,
    width: int,
    num_classes: int,
    rank: int = 1,
    grayscale: bool = False,
) -> StructuredClassifier:
    """LDR-TD hidden layer of displacement rank ``rank`` (Thomas et al. 2018)."""
    return _classifier("ldr-td", in_channels, height, width, num_classes, grayscale, rank)


@dataclass(frozen=True)
class Baseline:
    """A baseline: its name, task, one-line description and constructor."""

    name: str
    task: Task
    description: str
    factory: Callable[..., nn.Module]

    def data_arguments(self) -> tuple[str, ...]:
        """The constructor arguments fixed by the data (not options)."""
        candidates: tuple[str, ...] = ("in_channels", "height", "width")
        candidates += ("num_classes",) if self.task == "classification" else ("out_channels",)
        return tuple(p for p in candidates if p in self.arguments())

    def options(self) -> dict[str, inspect.Parameter]:
        """The keyword options (everything but :meth:`data_arguments`), with defaults."""
        fixed = set(self.data_arguments())
        return {k: p for k, p in self.arguments().items() if k not in fixed}

    def arguments(self) -> dict[str, inspect.Parameter]:
        """Every constructor argument: :meth:`data_arguments` and :meth:`options`."""
        return dict(inspect.signature(self.factory).parameters)


BASELINES: dict[str, Baseline] = {
    b.name: b
    for b in (
        Baseline("circulant", "classification", "circulant hidden layer (Table 3)", circulant),
        Baseline("low-rank", "classification", "rank-r hidden layer (Table 3)", low_rank),
        Baseline(
            "toeplitz-like",
            "classification",
            "Toeplitz-like hidden layer (Sindhwani et al. 2015)",
            toeplitz_like,
        ),
        Baseline(
            "fastfood", "classification", "adaptive Fastfood hidden layer (Table 3)", fastfood
        ),
        Baseline("ldr-td", "classification", "LDR-TD hidden layer (Thomas et al. 2018)", ldr_td),
        Baseline("mlp", "dynamics", "fully connected network (Tables 1–2)", MLP),
        Baseline("conv", "dynamics", "ResNet-style CNN (Tables 1–2)", ConvNet),
        Baseline("e2cnn", "dynamics", "E2CNN / Equiv steerable CNN, C4 or D4", SteerableCNN),
        Baseline(
            "rsteer", "dynamics", "relaxed steerable CNN (Wang et al. 2022)", RelaxedSteerableCNN
        ),
        Baseline(
            "rgroup-translation",
            "dynamics",
            "relaxed translation group convolution (Wang et al. 2022)",
            RelaxedConvNet,
        ),
        Baseline(
            "rgroup-rotation",
            "dynamics",
            "relaxed C4/D4 group convolution (Wang et al. 2022)",
            RelaxedGroupCNN,
        ),
        Baseline(
            "rpp-translation",
            "dynamics",
            "residual pathway prior, conv + fully connected (Finzi et al. 2021)",
            RPPConvNet,
        ),
        Baseline(
            "rpp-rotation",
            "dynamics",
            "residual pathway prior, steerable + conv (Finzi et al. 2021)",
            RPPSteerableCNN,
        ),
        Baseline("lift-translation", "dynamics", "CNN with lifted encoder features", LiftConvNet),
        Baseline(
            "lift-rotation",
            "dynamics",
            "steerable CNN with lifted encoder features",
            LiftSteerableCNN,
        ),
    )
}

#: Names that take ``symmetry="translation" | "rotation"`` to pick a variant.
FAMILIES = ("rgroup", "rpp", "lift")


@dataclass(frozen=True)
class TaskShape:
    """The data of one of the paper's tasks: input ``(in_channels, height, width)``, outputs."""

    task: Task
    in_channels: int
    height: int
    width: int
    outputs: int

    def arguments(self) -> dict[str, int]:
        out = "num_classes" if self.task == "classification" else "out_channels"
        return {
            "in_channels": self.in_channels,
            "height": self.height,
            "width": self.width,
            out: self.outputs,
        }


#: The paper's tasks (EXPERIMENTS.md): images of Table 3, velocity fields of Tables 1–2; and
#: the Fashion-MNIST variants of Table 3's MNIST columns (configs ``*fashion-mnist*``).
TASKS: dict[str, TaskShape] = {
    "mnist-bg-rot": TaskShape("classification", 1, 28, 28, 10),
    "mnist-noise": TaskShape("classification", 1, 28, 28, 10),
    "cifar10": TaskShape("classification", 3, 32, 32, 10),
    "norb": TaskShape("classification", 1, 32, 32, 6),
    "smallnorb": TaskShape("classification", 1, 24, 24, 5),
    "rectangles": TaskShape("classification", 1, 28, 28, 2),
    "rot-mnist": TaskShape("classification", 1, 28, 28, 10),
    "rot-fashion-mnist": TaskShape("classification", 1, 28, 28, 10),
    "fashion-mnist-noise": TaskShape("classification", 1, 28, 28, 10),
    "fashion-mnist-bg-rot": TaskShape("classification", 1, 28, 28, 10),
    "plumes": TaskShape("dynamics", 20, 64, 64, 2),
    "jetflow": TaskShape("dynamics", 20, 62, 23, 2),
}


def names() -> list[str]:
    """Every baseline name, sorted (the family names of :data:`FAMILIES` not included)."""
    return sorted(BASELINES)


def baseline(name: str, symmetry: str | None = None) -> Baseline:
    """The baseline ``name``; a family name (``rpp``, …) needs ``symmetry``."""
    if name in FAMILIES:
        if symmetry not in ("translation", "rotation"):
            raise ValueError(
                f"baseline {name!r} needs symmetry='translation' or 'rotation', got {symmetry!r}"
            )
        name = f"{name}-{symmetry}"
    elif symmetry is not None:
        raise ValueError(f"symmetry is an option of {', '.join(FAMILIES)} only, not of {name!r}")
    if name not in BASELINES:
        raise ValueError(
            f"unknown baseline {name!r}: choose one of {', '.join(names() + list(FAMILIES))}"
        )
    return BASELINES[name]


def _check_arguments(spec: Baseline, arguments: dict[str, Any]) -> None:
    accepted = spec.arguments()
    for key in arguments:
        if key not in accepted:
            raise ValueError(
                f"{key!r} is not an argument of baseline {spec.name!r}; expected one of: "
                + ", ".join(accepted)
            )
    missing = [
        key
        for key, p in accepted.items()
        if p.default is inspect.Parameter.empty and key not in arguments
    ]
    if missing:
        raise ValueError(f"baseline {spec.name!r} needs {', '.join(missing)}")


def build(name: str, *, task: str | None = None, **options: Any) -> nn.Module:
    """Build baseline ``name``. ``task``: a key of :data:`TASKS` supplying the data arguments.

    ``build("circulant", in_channels=1, height=28, width=28, num_classes=10)`` and
    ``build("circulant", task="rot-mnist")`` are the same model; ``rgroup``, ``rpp`` and
    ``lift`` take ``symmetry="translation" | "rotation"``.
    """
    spec = baseline(name, options.pop("symmetry", None))
    arguments = dict(options)
    if task is not None:
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}: choose one of {', '.join(TASKS)}")
        shape = TASKS[task]
        if shape.task != spec.task:
            raise ValueError(f"baseline {spec.name!r} is a {spec.task} model, task {task!r} is not")
        arguments = {
            **{k: v for k, v in shape.arguments().items() if k in spec.data_arguments()},
            **arguments,
        }
    _check_arguments(spec, arguments)
    return spec.factory(**arguments)


def count_parameters(module: nn.Module) -> int:
    """The number of trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def parameter_count(name: str, *, task: str | None = None, **options: Any) -> int:
    """Trainable parameters of ``build(name, task=task, **options)``."""
    return count_parameters(build(name, task=task, **options))
