"""``GMConv(..., relaxation="output_scaling", normalize=True)``: the public regression layer's
normalisation (issue 11). Each output channel's kernel and the position-scale vector are
applied at unit L2 norm; the stored parameters are left as they are."""

from __future__ import annotations

import pytest
import torch
from tests.nn.reference import dense_forward

from gmcnn.experiments.config import load_config
from gmcnn.experiments.reference import GatherEinsumGMConv
from gmcnn.groups import cyclic, dihedral, direct_product
from gmcnn.models import GMCNNRegressor
from gmcnn.models.registry import InputSpec, build_model
from gmcnn.nn import GMConv

GRID = direct_product(cyclic(4), cyclic(5))


def _layer(mixing: str = "shared", group: object = GRID, **options: object) -> GMConv:
    torch.manual_seed(0)
    layer = GMConv(
        group,  # type: ignore[arg-type]
        3,
        4,
        radius=1,
        channel_mixing=mixing,  # type: ignore[arg-type]
        relaxation="output_scaling",
        normalize=True,
        **options,  # type: ignore[arg-type]
    ).double()
    with torch.no_grad():
        layer.position_scale.uniform_(0.5, 1.5)  # type: ignore[union-attr]
    return layer


@pytest.mark.parametrize("mixing", ["shared", "full"])
def test_output_does_not_change_when_the_parameters_are_rescaled(mixing: str) -> None:
    layer = _layer(mixing)
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    before = layer(x)
    factors = torch.tensor([0.1, 3.0, 7.5, 0.02], dtype=torch.float64)
    with torch.no_grad():
        layer.weight.mul_(factors[:, None, None])  # a different factor per output channel
        layer.position_scale.mul_(40.0)  # type: ignore[union-attr]
    stored = [p.detach().clone() for p in layer.parameters()]
    torch.testing.assert_close(layer(x), before, rtol=1e-12, atol=1e-12)
    for p, q in zip(layer.parameters(), stored, strict=True):  # the forward changed nothing
        assert torch.equal(p, q)


@pytest.mark.parametrize("mixing", ["shared", "full"])
def test_normalized_layer_applies_unit_norm_kernels_and_scale(mixing: str) -> None:
    """Equal to a raw output-scaling layer that holds the normalised parameters, on every
    path (and to the dense matrix built from them)."""
    group = direct_product(dihedral(3), cyclic(4))
    layer = _layer(mixing, group)
    raw = GMConv(group, 3, 4, radius=1, channel_mixing=mixing, relaxation="output_scaling").double()  # type: ignore[arg-type]
    with torch.no_grad():
        w = layer.weight
        raw.weight.copy_(w / w.flatten(1).norm(dim=1)[:, None, None])
        u = layer.position_scale
        assert u is not None and raw.position_scale is not None
        raw.position_scale.copy_(u / u.norm())
        assert layer.bias is not None and raw.bias is not None
        raw.bias.copy_(layer.bias)
    x = torch.randn(2, 3, 6, 4, dtype=torch.float64)
    torch.testing.assert_close(layer(x), raw(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(layer.dense_matrix(), raw.dense_matrix())
    torch.testing.assert_close(
        layer(x).flatten(2), dense_forward(layer, x.flatten(2)), rtol=1e-10, atol=1e-12
    )
    weight, scale = layer.scaling_parameters()
    torch.testing.assert_close(weight.flatten(1).norm(dim=1), torch.ones(4, dtype=torch.float64))
    torch.testing.assert_close(scale.norm(), torch.tensor(1.0, dtype=torch.float64))
    assert layer.displacement_rank() <= 1
    assert "normalize=True" in repr(layer)


def test_gradients_flow_through_the_normalisation() -> None:
    layer = _layer()
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)

    # The gradient of a scale-invariant function is orthogonal to the parameter.
    y = layer(x)
    grads = torch.autograd.grad(
        (y * torch.randn_like(y)).sum(), [layer.weight, layer.position_scale]
    )  # type: ignore[list-item]
    dot_w = (grads[0] * layer.weight).flatten(1).sum(dim=1)
    torch.testing.assert_close(dot_w, torch.zeros(4, dtype=torch.float64), atol=1e-10, rtol=0)
    assert layer.position_scale is not None
    dot_u = (grads[1] * layer.position_scale).sum()
    torch.testing.assert_close(dot_u, torch.tensor(0.0, dtype=torch.float64), atol=1e-10, rtol=0)


def test_the_public_algorithm_normalises_alike() -> None:
    layer = _layer()
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    torch.testing.assert_close(GatherEinsumGMConv(layer)(x), layer(x), rtol=1e-12, atol=1e-12)


def test_normalize_needs_output_scaling_and_a_bool() -> None:
    with pytest.raises(ValueError, match="normalize=True needs relaxation='output_scaling'"):
        GMConv(GRID, 2, 2, radius=1, relaxation="error_addition", normalize=True)
    with pytest.raises(ValueError, match="normalize=True needs relaxation='output_scaling'"):
        GMCNNRegressor(GRID, 2, 2, hidden_channels=3, relaxation=None, normalize=True)
    with pytest.raises(TypeError, match="normalize must be True or False"):
        GMConv(GRID, 2, 2, radius=1, relaxation="output_scaling", normalize=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs relaxation='output_scaling'"):
        GMConv(GRID, 2, 2, radius=1).scaling_parameters()


@pytest.mark.parametrize("column", ["translation", "rotation", "scaling"])
def test_plume_configs_normalize_and_the_option_turns_it_off(column: str) -> None:
    """The plume configs use the public (normalised) layer: the raw one diverged at their
    learning rate (docs/reproduction.md, issue 11); ``model.normalize=false`` is the raw."""
    inputs = InputSpec("dynamics", 20, (64, 64), 2)
    for protocol in (f"plumes-{column}/gm", f"plumes-{column}/cpu/gm"):
        config = load_config(protocol)
        assert config.model.options["normalize"] is True
        spec = inputs if "cpu" not in protocol else InputSpec("dynamics", 20, (32, 32), 2)
        model = build_model(config.model.name, spec, **config.model.options)
        assert all(conv.normalize for conv in model.convs)
    raw = load_config(f"plumes-{column}/gm", ["model.normalize=false"])
    model = build_model(raw.model.name, inputs, **raw.model.options)
    assert not any(conv.normalize for conv in model.convs)
