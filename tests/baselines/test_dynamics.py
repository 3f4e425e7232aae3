"""Dynamics baselines: shapes, exact equivariance, and reduction to it when relaxations tie."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

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
from gmcnn.baselines.planar import planar_group, transform_fields

SIZE = 8
SHIFT = (3, -2)


def _inputs(channels: int = 4, size: int = SIZE) -> torch.Tensor:
    return torch.randn(3, channels, size, size, generator=torch.Generator().manual_seed(0))


def translation_error(model: nn.Module) -> float:
    x = _inputs()
    model.eval()
    with torch.no_grad():
        moved = model(torch.roll(x, SHIFT, dims=(-2, -1)))
        expected = torch.roll(model(x), SHIFT, dims=(-2, -1))
    return (moved - expected).abs().max().item()


def rotation_error(model: nn.Module, group: str, y_down: bool = True) -> float:
    g = planar_group(group)
    x = _inputs()
    model.eval()
    worst = 0.0
    with torch.no_grad():
        y = model(x)
        for element in range(g.order):
            moved = model(transform_fields(x, g, element, "vector", y_down))
            expected = transform_fields(y, g, element, "vector", y_down)
            worst = max(worst, (moved - expected).abs().max().item())
    return worst


def _perturb(parameter: torch.Tensor) -> None:
    with torch.no_grad():
        parameter.add_(0.5 * torch.randn_like(parameter))


MODELS: dict[str, Callable[[], nn.Module]] = {
    "mlp": lambda: MLP(4, 2, SIZE, SIZE, hidden_features=8),
    "conv": lambda: ConvNet(4, 2, hidden_channels=6),
    "rgroup-translation": lambda: RelaxedConvNet(4, 2, SIZE, SIZE, hidden_channels=6),
    "rpp-translation": lambda: RPPConvNet(4, 2, SIZE, SIZE, hidden_channels=6),
    "lift-translation": lambda: LiftConvNet(4, 2, SIZE, SIZE, 6, 8, 3),
    "e2cnn": lambda: SteerableCNN(4, 2, "D4", hidden_fields=2),
    "rsteer": lambda: RelaxedSteerableCNN(4, 2, "D4", hidden_fields=2),
    "rgroup-rotation": lambda: RelaxedGroupCNN(4, 2, "D4", hidden_fields=2),
    "rpp-rotation": lambda: RPPSteerableCNN(4, 2, "D4", hidden_fields=2),
    "lift-rotation": lambda: LiftSteerableCNN(4, 2, SIZE, SIZE, "D4", 2, 8, 1),
}


@pytest.mark.parametrize("name", MODELS)
def test_shapes_and_backward(name: str) -> None:
    model = MODELS[name]()
    x = _inputs()
    y = model(x)
    assert y.shape == (3, 2, SIZE, SIZE)
    loss = y.square().mean()
    if hasattr(model, "relaxation_penalty"):
        loss = loss + model.relaxation_penalty()
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_conv_net_is_translation_equivariant_with_circular_padding() -> None:
    assert translation_error(ConvNet(4, 2, 6, padding_mode="circular")) < 1e-5
    assert translation_error(ConvNet(4, 2, 6, residual=False, padding_mode="circular")) < 1e-5


def test_relaxed_conv_net_is_a_cnn_when_tied() -> None:
    model = RelaxedConvNet(4, 2, SIZE, SIZE, 6, num_layers=3, padding_mode="circular", alpha=1.0)
    assert model.relaxation_penalty() < 1e-7
    assert translation_error(model) < 1e-5
    _perturb(model.layers[1].combination)
    assert model.relaxation_penalty() > 0
    assert translation_error(model) > 1e-3


def test_rpp_conv_net_is_equivariant_without_its_free_pathway() -> None:
    model = RPPConvNet(4, 2, SIZE, SIZE, 6, num_layers=3, bottleneck=2, padding_mode="circular")
    assert translation_error(model) > 1e-3
    for layer in model.layers:
        for p in layer.free.parameters():
            nn.init.zeros_(p)
    assert translation_error(model) < 1e-5


def test_rpp_penalty_weighs_the_two_pathways() -> None:
    model = RPPConvNet(4, 2, SIZE, SIZE, 6, equivariant_decay=0.5, free_decay=2.0)
    eq = sum(p.square().sum() for m in model.layers for p in m.equivariant.parameters())
    free = sum(p.square().sum() for m in model.layers for p in m.free.parameters())
    torch.testing.assert_close(model.relaxation_penalty(), 0.5 * eq + 2.0 * free)


def test_lift_conv_net_is_equivariant_when_the_encoder_is_constant() -> None:
    model = LiftConvNet(4, 2, SIZE, SIZE, 6, 8, 3, num_layers=4, padding_mode="circular")
    assert translation_error(model) > 1e-3
    nn.init.zeros_(model.encoder[-1].weight)
    assert translation_error(model) < 1e-5


@pytest.mark.parametrize("group", ["C4", "D4"])
@pytest.mark.parametrize("y_down", [True, False])
def test_steerable_cnn_is_equivariant(group: str, y_down: bool) -> None:
    if group == "C4":
        pytest.importorskip("e2cnn")
    model = SteerableCNN(4, 2, group, hidden_fields=2, num_layers=3, y_down=y_down)
    assert rotation_error(model, group, y_down) < 1e-5
    # the other convention is not a symmetry of the model
    assert rotation_error(model, group, not y_down) > 1e-3


@pytest.mark.parametrize("group", ["C4", "D4"])
def test_rsteer_is_equivariant_when_tied(group: str) -> None:
    if group == "C4":
        pytest.importorskip("e2cnn")
    model = RelaxedSteerableCNN(4, 2, group, hidden_fields=2, num_layers=3, alpha=1.0)
    assert model.relaxation_penalty() < 1e-7
    assert rotation_error(model, group) < 1e-5
    _perturb(model.last.weight)
    assert model.relaxation_penalty() > 0
    assert rotation_error(model, group) > 1e-3


@pytest.mark.parametrize("group", ["C4", "D4"])
def test_rgroup_is_equivariant_when_tied(group: str) -> None:
    model = RelaxedGroupCNN(4, 2, group, hidden_fields=2, num_layers=3, alpha=1.0)
    assert model.relaxation_penalty() < 1e-7
    assert rotation_error(model, group) < 1e-5
    _perturb(model.blocks[1][0].combination)
    assert model.relaxation_penalty() > 0
    assert rotation_error(model, group) > 1e-3


def test_rpp_steerable_is_equivariant_without_its_free_pathway() -> None:
    model = RPPSteerableCNN(4, 2, "D4", hidden_fields=2, num_layers=3)
    assert rotation_error(model, "D4") > 1e-3
    for layer in model.layers:
        for p in layer.free.parameters():
            nn.init.zeros_(p)
    assert rotation_error(model, "D4") < 1e-5


def test_lift_steerable_is_equivariant_when_the_lifted_fields_are_invariant() -> None:
    model = LiftSteerableCNN(4, 2, SIZE, SIZE, "D4", 2, 8, 2, num_layers=4, basis="grid")
    assert rotation_error(model, "D4") > 1e-3
    last = model.encoder[-1]
    nn.init.zeros_(last.weight)
    with torch.no_grad():  # one value per lifted regular field: invariant under D4
        last.bias.copy_(torch.tensor([0.3, -1.2]).repeat_interleave(8))
    assert rotation_error(model, "D4") < 1e-5


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ConvNet(4, 2, num_layers=1), "num_layers"),
        (lambda: ConvNet(4, 2, kernel_size=2), "odd"),
        (lambda: MLP(4, 2, 0, 8), "height"),
        (lambda: SteerableCNN(3, 2), "in_channels"),
        (lambda: SteerableCNN(4, 1), "out_channels"),
        (lambda: RelaxedConvNet(4, 2, 8, 8, num_banks=0), "num_banks"),
        (lambda: RPPConvNet(4, 2, 8, 8, free_decay=-1.0), "decay"),
        (lambda: LiftConvNet(4, 2, 8, 8, lift_after=4), "lift_after"),
        (lambda: LiftSteerableCNN(4, 2, 8, 8, lift_after=4), "lift_after"),
        (lambda: SteerableCNN(4, 2, "D4", basis="e2cnn"), "C4 only"),
    ],
)
def test_bad_arguments_raise(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]
