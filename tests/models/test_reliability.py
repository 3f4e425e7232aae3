"""The paper models under the reliability rules of the layers (issue 13): bad input is a
one-line error, an empty batch an empty output, and each model exports, runs in half
precision and compiles into one graph for training."""

from __future__ import annotations

import copy
import inspect
import io
import re
from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn
from torch.export import Dim

from gmcnn.groups import cyclic, dihedral, direct_product
from gmcnn.models import ChannelProjection, CNNClassifier, GMCNNClassifier, GMCNNRegressor

C8 = cyclic(8)
IMAGES = direct_product(C8, C8)


def _issue_classifier() -> tuple[nn.Module, Tensor]:
    """The issue's ``GMCNNClassifier(C₈×C₈, 1, 3, channels=(4,), radius=1)``: one block,
    fused with the global max pooling, projection residual."""
    return GMCNNClassifier(IMAGES, 1, 3, channels=(4,), radius=1), torch.randn(2, 1, 8, 8)


MODELS: dict[str, Callable[[], tuple[nn.Module, Tensor]]] = {
    "classifier": _issue_classifier,
    "classifier-pooled-E": lambda: (
        GMCNNClassifier(
            IMAGES, 2, 3, channels=(4, 6), radius=1, pool_after=(0,), relaxation="error_addition"
        ),
        torch.randn(2, 2, 8, 8),
    ),
    "classifier-full": lambda: (
        GMCNNClassifier(
            direct_product(dihedral(3), cyclic(4)),
            4,
            2,
            channels=(4,),
            radius=1,
            channel_mixing="full",
        ),
        torch.randn(2, 4, 6, 4),
    ),
    "regressor": lambda: (
        GMCNNRegressor(IMAGES, 4, 2, hidden_channels=6, layers=2),
        torch.randn(2, 4, 8, 8),
    ),
    "cnn": lambda: (CNNClassifier(1, 3, (4, 4), pool_after=(0,)), torch.randn(2, 1, 8, 8)),
    "projection": lambda: (ChannelProjection(3, 2), torch.randn(2, 3, 5)),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_bad_input_is_a_one_line_error(name: str) -> None:
    model, x = MODELS[name]()
    with pytest.raises(
        TypeError, match=r"got an input of dtype torch\.float64; expected torch\.float32"
    ):
        model(x.double())
    for dtype in (torch.int64, torch.uint8, torch.bool):
        with pytest.raises(TypeError, match=rf"got an input of dtype {dtype}; expected"):
            model(x.to(dtype))
    with pytest.raises(TypeError, match=r"takes a torch\.Tensor, got numpy\.ndarray"):
        model(x.numpy())
    wrong = x[:, :1] if x.shape[1] > 1 else torch.cat([x, x], dim=1)
    with pytest.raises(ValueError, match=re.escape(f"shape {tuple(wrong.shape)}")):
        model(wrong)


@pytest.mark.parametrize("name", list(MODELS))
def test_an_empty_batch_gives_an_empty_output(name: str) -> None:
    model, x = MODELS[name]()
    full = model(x)
    empty = x[:0].clone().requires_grad_()
    y = model(empty)
    assert y.shape == (0, *full.shape[1:])
    y.sum().backward()
    assert empty.grad is not None and empty.grad.shape == empty.shape


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"channels": (4, True)}, r"each entry of channels must be a positive integer, got True"),
        ({"channels": 4}, "channels must be a non-empty list of positive integers, got 4"),
        ({"pool_after": (True,)}, r"each entry of pool_after must be a non-negative integer"),
        ({"pool_after": (1.0,)}, r"each entry of pool_after must be a non-negative integer"),
        ({"radius": 1.0}, "radius must be a non-negative integer, got 1.0"),
        ({"num_classes": True}, "num_classes must be a positive integer, got True"),
    ],
)
def test_classifier_counts_refuse_bools_and_non_integers(
    options: dict[str, object], message: str
) -> None:
    arguments: dict[str, object] = {"num_classes": 3, "channels": (4, 4), "radius": 1}
    arguments.update(options)
    with pytest.raises(TypeError, match=message):
        GMCNNClassifier(IMAGES, 1, **arguments)  # type: ignore[arg-type]


def test_other_model_counts_refuse_bools_and_non_integers() -> None:
    with pytest.raises(TypeError, match=r"hidden_channels must be a positive integer, got 2\.0"):
        GMCNNRegressor(IMAGES, 4, 2, hidden_channels=2.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="layers must be a positive integer, got True"):
        GMCNNRegressor(IMAGES, 4, 2, layers=True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kernel_size must be a positive integer, got -3"):
        CNNClassifier(1, 3, kernel_size=-3)
    with pytest.raises(TypeError, match="in_channels must be a positive integer, got True"):
        ChannelProjection(True, 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"group must be a gmcnn\.groups\.FiniteGroup"):
        GMCNNClassifier("C8", 1, 3)  # type: ignore[arg-type]


@pytest.mark.filterwarnings(r"ignore:`torch\.jit\.\w+` is deprecated")
@pytest.mark.parametrize("name", list(MODELS))
def test_models_export_with_jit_trace_and_torch_export(name: str) -> None:
    model, x = MODELS[name]()
    model.eval()
    other = torch.randn(5, *x.shape[1:])
    traced = torch.jit.trace(model, x)
    buffer = io.BytesIO()
    torch.jit.save(traced, buffer)
    buffer.seek(0)
    loaded = torch.jit.load(buffer)
    argument = next(iter(inspect.signature(model.forward).parameters))
    exported = torch.export.export(model, (x,), dynamic_shapes={argument: {0: Dim("batch")}})
    with torch.no_grad():
        for inputs in (x, other):
            expected = model(inputs)
            torch.testing.assert_close(loaded(inputs), expected, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(exported.module()(inputs), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("name", list(MODELS))
def test_models_run_in_half_precision(name: str, dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    model, x = MODELS[name]()
    expected = model(x).detach().double()
    half = copy.deepcopy(model).to(dtype)
    y = half(x.to(dtype))
    assert y.dtype == dtype
    assert float((y.detach().double() - expected).norm() / expected.norm()) < 2e-2
    y.float().sum().backward()
    assert all(p.grad is None or p.grad.dtype == dtype for p in half.parameters())


def _train_step_compiled(model: nn.Module, x: Tensor, backend: str) -> None:
    """``torch.compile(model, fullgraph=True)``: forward and backward equal eager's."""
    torch._dynamo.reset()
    compiled = torch.compile(model, backend=backend, fullgraph=True)
    params = list(model.parameters())
    expected, actual = model(x), compiled(x)
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)
    probe = torch.randn_like(expected)
    eager = torch.autograd.grad((expected * probe).sum(), params)
    graph = torch.autograd.grad((actual * probe).sum(), params)
    for a, b in zip(graph, eager, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", list(MODELS))
def test_models_compile_in_one_graph_for_training(name: str) -> None:
    """Dynamo's capture (where graph breaks happen) with the cheap aot_eager backend."""
    model, x = MODELS[name]()
    _train_step_compiled(model.train(), x, backend="aot_eager")


@pytest.mark.slow
def test_the_issue_classifier_trains_compiled_with_inductor() -> None:
    model, x = _issue_classifier()
    _train_step_compiled(model.train(), x, backend="inductor")
