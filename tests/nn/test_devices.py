"""Every layer and path, and the paper models, on an accelerator: the same values and
gradients as on the CPU (issue 11, ``benchmarks/gpu.sh``).

The device is ``$GMCNN_TEST_DEVICE`` (default ``cuda``); the tests are skipped when it is not
available, so the default run on a CPU-only machine skips them. ``GMCNN_TEST_DEVICE=cpu``
runs the same comparisons on the CPU (``benchmarks/gpu.sh``'s CPU mode does, to check the
script's stage).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable

import pytest
import torch
from tests.nn.zoo import LAYERS
from torch import Tensor, nn

from gmcnn.groups import cyclic, dihedral, direct_product
from gmcnn.models import GMCNNClassifier, GMCNNRegressor

DEVICE = os.environ.get("GMCNN_TEST_DEVICE", "cuda")


def _available(device: str) -> bool:
    kind = torch.device(device).type
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return torch.backends.mps.is_available()
    return kind == "cpu"


pytestmark = pytest.mark.skipif(
    not _available(DEVICE), reason=f"no {DEVICE} device (GMCNN_TEST_DEVICE={DEVICE})"
)

MODELS: dict[str, Callable[[], tuple[nn.Module, Tensor]]] = {
    "classifier-pooled-E": lambda: (
        GMCNNClassifier(
            direct_product(cyclic(8), cyclic(8)),
            2,
            3,
            channels=(4, 6),
            radius=1,
            pool_after=(0,),
            relaxation="error_addition",
        ),
        torch.randn(3, 2, 8, 8),
    ),
    "classifier-dihedral-full": lambda: (
        GMCNNClassifier(
            direct_product(dihedral(3), cyclic(4)),
            2,
            2,
            channels=(4,),
            radius=1,
            channel_mixing="full",
        ),
        torch.randn(3, 2, 6, 4),
    ),
    "regressor": lambda: (
        GMCNNRegressor(direct_product(cyclic(8), cyclic(8)), 4, 2, hidden_channels=6, layers=2),
        torch.randn(3, 4, 8, 8),
    ),
    "regressor-normalized": lambda: (
        GMCNNRegressor(
            direct_product(cyclic(8), cyclic(8)), 4, 2, hidden_channels=6, layers=2, normalize=True
        ),
        torch.randn(3, 4, 8, 8),
    ),
}


def _values_and_gradients(module: nn.Module, x: Tensor) -> list[Tensor]:
    x = x.detach().clone().requires_grad_()
    params = [p for p in module.parameters() if p.requires_grad]
    y = module(x)
    probe = torch.linspace(-1.0, 1.0, y.numel(), device=y.device).reshape(y.shape)
    grads = torch.autograd.grad((y * probe).sum(), [x, *params], allow_unused=True)
    return [y.detach(), *(g for g in grads if g is not None)]


def _compare_on_device(module: nn.Module, x: Tensor) -> None:
    torch.manual_seed(0)
    expected = _values_and_gradients(module, x)
    moved = copy.deepcopy(module).to(DEVICE)
    actual = _values_and_gradients(moved, x.to(DEVICE))
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        assert a.device.type == torch.device(DEVICE).type
        torch.testing.assert_close(a.cpu(), e, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_on_the_device_equals_the_cpu(name: str) -> None:
    torch.manual_seed(0)
    _compare_on_device(*LAYERS[name]())


@pytest.mark.parametrize("name", list(MODELS))
def test_model_on_the_device_equals_the_cpu(name: str) -> None:
    torch.manual_seed(0)
    model, x = MODELS[name]()
    _compare_on_device(model.train(), x)
