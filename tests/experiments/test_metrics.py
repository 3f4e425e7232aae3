"""Metrics: accuracy, RMSE per rollout step, equivariance error, parameters and FLOPs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from gmcnn.groups import cyclic, direct_product
from gmcnn.metrics import (
    accuracy,
    act_on_positions,
    equivariance_error,
    flops_per_example,
    parameter_count,
    rollout_rmse,
    rollout_squared_errors,
    sample_elements,
)


def test_accuracy() -> None:
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
    assert accuracy(logits, torch.tensor([0, 1, 1])) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="expected logits"):
        accuracy(logits, torch.tensor([0, 1]))


def test_rollout_rmse_per_step_adds_over_batches() -> None:
    prediction = torch.zeros(4, 3, 2, 5, 5)
    target = torch.ones(4, 3, 2, 5, 5) * torch.tensor([1.0, 2.0, 3.0])[None, :, None, None, None]
    whole = rollout_rmse(rollout_squared_errors(prediction, target))
    parts = rollout_squared_errors(prediction[:1], target[:1]) + rollout_squared_errors(
        prediction[1:], target[1:]
    )
    assert torch.allclose(whole, torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    assert torch.allclose(rollout_rmse(parts), whole)


def test_equivariance_error_of_exact_and_broken_maps() -> None:
    G = direct_product(cyclic(5), cyclic(6))
    x = torch.randn(3, 2, 5, 6)
    shift = lambda y: torch.roll(y, 1, dims=-1)  # noqa: E731 - equivariant to translations
    assert equivariance_error(shift, x, G, [1, 7, 13], invariant=False) < 1e-6
    pinned = lambda y: y * torch.linspace(0, 1, 6)  # noqa: E731 - not equivariant
    assert equivariance_error(pinned, x, G, [1, 7], invariant=False) > 0.1
    total = lambda y: y.sum(dim=(-1, -2))  # noqa: E731 - invariant
    assert equivariance_error(total, x, G, [3], invariant=True) < 1e-6
    with pytest.raises(ValueError, match="trailing axes"):
        act_on_positions(G, 1, torch.randn(2, 7))


def test_sample_elements_is_seeded_and_skips_the_identity() -> None:
    G = cyclic(10)
    a, b = sample_elements(G, 4, seed=1), sample_elements(G, 4, seed=1)
    assert np.array_equal(a, b) and 0 not in a and len(a) == 4
    assert len(sample_elements(G, 99, among=[0, 2, 4])) == 2


def test_parameters_and_flops() -> None:
    model = nn.Linear(10, 3)
    assert parameter_count(model) == 33
    assert flops_per_example(model, torch.randn(10)) == 2 * 10 * 3


def test_flops_count_every_path_of_a_layer_and_the_fourier_transforms() -> None:
    """The direct and the gather path do the group convolution's 2·O·C·K·N FLOPs; the FFT
    path is counted with its transforms (5 n log₂ n per complex length-n transform, half
    for real ones) and complex products as 4 real ones."""
    from gmcnn.nn import GMConv

    G = direct_product(cyclic(8), cyclic(8))
    x = torch.randn(3, 8, 8)
    counts = {
        path: flops_per_example(GMConv(G, 3, 4, radius=1, bias=False, implementation=path), x)
        for path in ("conv", "gather", "fft")
    }
    assert counts["conv"] == counts["gather"] == 2 * 4 * 3 * 9 * 64
    frequencies = 8 * 5  # rfft2 of an 8×8 grid
    products = 4 * 2 * 4 * 3 * frequencies  # complex (B·C) @ (C·O) per frequency, B = 1
    kernel_spectrum = 4 * 2 * 4 * 3 * 9 * frequencies  # the 9 taps' phases, complex
    transforms = (3 + 4) * round(2.5 * 64 * 6)  # 3 forward, 4 inverse real, n = 64
    assert counts["fft"] == products + kernel_spectrum + transforms


def test_flops_of_a_circulant_layer_include_its_ffts() -> None:
    from gmcnn.baselines.structured import CirculantLinear

    n = 64
    flops = flops_per_example(CirculantLinear(n), torch.randn(n))
    assert flops >= 3 * round(2.5 * n * 6)  # x and c forward, one inverse
