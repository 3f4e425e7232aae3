"""Single-hidden-layer classifiers with a structured hidden layer (paper Table 3).

Thomas et al. 2018 (after Sindhwani et al. 2015) compare compressed transforms by one
structured ``N×N`` hidden layer on the flattened image, ``N = C·H·W``:

    logits = W · ReLU(M D x) + b,    M structured (no bias),  W ∈ R^{classes×N}

so a method with ``p`` matrix parameters has ``p + classes·N + classes`` in total (e.g.
circulant on 28×28 with 10 classes: ``784 + 7,850 = 8,634``).

``D`` is a fixed random ±1 diagonal (no parameters), the sign flip of Cheng et al. 2015's
circulant projection ``φ(R D x)``. It matters on images with a bright mean. For a circulant,
``M·1 = (Σc)·1``: without ``D`` the image mean reaches every hidden unit through one shared
sum of parameters, Adam's first steps (which move every parameter by about the learning
rate) push that sum negative, and every ReLU dies for good. On Rotated Fashion-MNIST (mean
pixel 0.37) circulant and Toeplitz-like layers stayed at chance that way (docs/baselines.md).
``D x`` has mean about 0 for any image, so no shared mode carries it.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from gmcnn.baselines.structured import (
    CirculantLinear,
    FastfoodLinear,
    LDRTridiagonalLinear,
    LowRankLinear,
    StructuredLinear,
    ToeplitzLikeLinear,
)

StructureName = Literal["circulant", "low-rank", "toeplitz-like", "fastfood", "ldr-td"]
STRUCTURES: tuple[StructureName, ...] = (
    "circulant",
    "low-rank",
    "toeplitz-like",
    "fastfood",
    "ldr-td",
)


def structured_layer(
    structure: StructureName, features: int, rank: int = 1, seed: int = 0
) -> StructuredLinear:
    """The ``features × features`` layer named ``structure`` (``rank``: low-rank, Toeplitz-like
    and LDR-TD; ``seed``: Fastfood's permutation)."""
    if structure == "circulant":
        return CirculantLinear(features)
    if structure == "low-rank":
        return LowRankLinear(features, rank)
    if structure == "toeplitz-like":
        return ToeplitzLikeLinear(features, rank)
    if structure == "fastfood":
        return FastfoodLinear(features, seed)
    if structure == "ldr-td":
        return LDRTridiagonalLinear(features, rank)
    raise ValueError(f"structure {structure!r} is not one of {', '.join(STRUCTURES)}")


class StructuredClassifier(nn.Module):
    """``logits = W · ReLU(M D x) + b`` with a structured ``M`` on the flattened input.

    ``D`` is the fixed random sign flip of the module doc, drawn from ``seed`` (a buffer that
    is not saved: the same seed gives the same ``D``). ``channel_mean``: average an image's
    channels first (``(B, C, H, W) → (B, H·W)``), as Thomas et al. 2018 did with grayscale
    CIFAR-10. Input ``(B, C, H, W)`` (or any ``(B, …)`` with ``N`` values per example),
    output ``(B, num_classes)``.
    """

    signs: Tensor

    def __init__(
        self,
        hidden: StructuredLinear,
        num_classes: int,
        channel_mean: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        self.in_features = hidden.features
        self.num_classes = num_classes
        self.channel_mean = channel_mean
        self.seed = seed
        self.hidden = hidden
        self.classifier = nn.Linear(hidden.features, num_classes)
        generator = torch.Generator().manual_seed(seed)
        signs = torch.randint(0, 2, (hidden.features,), generator=generator) * 2.0 - 1.0
        self.register_buffer("signs", signs, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        if self.channel_mean:
            x = x.mean(dim=1)
        return self.classifier(self.hidden(x.flatten(1) * self.signs).relu())

    def extra_repr(self) -> str:
        return f"channel_mean={self.channel_mean}, seed={self.seed}"
