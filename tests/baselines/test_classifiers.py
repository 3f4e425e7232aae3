"""The single-hidden-layer structured classifiers of Table 3: formula and trainability."""

from __future__ import annotations

import pytest
import torch

from gmcnn.baselines.classifiers import STRUCTURES, StructuredClassifier, structured_layer


@pytest.mark.parametrize("structure", STRUCTURES)
def test_logits_are_w_relu_m_d_x_plus_b(structure: str) -> None:
    model = StructuredClassifier(structured_layer(structure, 36, rank=2, seed=1), 5, seed=4)
    x = torch.rand(3, 1, 6, 6)
    signs = model.signs
    assert set(signs.tolist()) == {-1.0, 1.0}
    dense = model.hidden.matrix()
    hidden = ((x.flatten(1) * signs) @ dense.T).relu()
    expected = hidden @ model.classifier.weight.T + model.classifier.bias
    torch.testing.assert_close(model(x), expected, rtol=1e-4, atol=1e-5)


def test_signs_are_fixed_by_the_seed_and_not_parameters() -> None:
    a = StructuredClassifier(structured_layer("circulant", 64), 10, seed=7)
    b = StructuredClassifier(structured_layer("circulant", 64), 10, seed=7)
    c = StructuredClassifier(structured_layer("circulant", 64), 10, seed=8)
    assert torch.equal(a.signs, b.signs) and not torch.equal(a.signs, c.signs)
    assert sum(p.numel() for p in a.parameters()) == 64 + 10 * 64 + 10
    assert "signs" not in a.state_dict()


@pytest.mark.parametrize("structure", ["circulant", "toeplitz-like"])
def test_bright_images_do_not_kill_every_hidden_unit(structure: str) -> None:
    """On images with a bright mean (Fashion-MNIST's is 0.37), Adam at the Table 3 rate used to
    push a circulant's or Toeplitz-like layer's shared mode negative in two steps: every ReLU
    dead, loss stuck at log(10). With the sign flip the units stay alive and the loss falls."""
    generator = torch.Generator().manual_seed(0)
    prototypes = torch.rand(10, 400, generator=generator)
    labels = torch.randint(0, 10, (512,), generator=generator)
    images = (prototypes[labels] + 0.3 * torch.rand(512, 400, generator=generator)).clamp(0, 1)
    for seed in range(6):  # without the flip, seeds 4, 5 (circulant) and 0 (Toeplitz-like) die
        torch.manual_seed(seed)
        model = StructuredClassifier(structured_layer(structure, 400, rank=4), 10)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.004)
        for _ in range(30):
            loss = torch.nn.functional.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        alive = (model.hidden(images * model.signs) > 0).float().mean()
        assert alive > 0.2, f"seed {seed}: {alive:.0%} of hidden units alive"
        assert loss < 0.5 * torch.log(torch.tensor(10.0)), f"seed {seed}: loss {loss:.3f}"
