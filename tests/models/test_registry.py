"""The model registry: built-in names, registering a builder, option checks, import paths."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gmcnn.models import InputSpec, build_model, model_names, model_spec, register_model
from gmcnn.models.registry import check_model_options

IMAGES = InputSpec("classification", 1, (8, 8), 3)


def test_builtin_models_are_registered() -> None:
    assert {"gm-cnn-classifier", "gm-cnn-regressor", "cnn-classifier"} <= set(model_names())
    assert model_spec("gm-cnn-regressor").task == "dynamics"
    assert "radius" in model_spec("gm-cnn-classifier").options()


def test_registering_a_builder_makes_it_buildable_by_name() -> None:
    @register_model("test-linear", "classification", "a linear probe (test)")
    def linear(inputs: InputSpec, bias: bool = True) -> nn.Module:
        return nn.Sequential(nn.Flatten(), nn.Linear(inputs.channels * 64, inputs.outputs, bias))

    model = build_model("test-linear", IMAGES, bias=False)
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 3)
    with pytest.raises(ValueError, match="already registered"):
        register_model("test-linear", "classification", "")(lambda inputs: nn.Identity())


def test_option_and_task_errors_name_the_key() -> None:
    with pytest.raises(ValueError, match=r"'model\.widths' is not an option"):
        check_model_options("cnn-classifier", {"widths": [4]})
    with pytest.raises(ValueError, match=r"'model\.groups' is required"):
        check_model_options("gm-cnn-classifier", {})
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        model_spec("nope")
    with pytest.raises(ValueError, match="dynamics model"):
        build_model("gm-cnn-regressor", IMAGES, groups=["C8", "C8"])


def test_a_builder_can_be_named_by_its_import_path() -> None:
    spec = model_spec("gmcnn.models.builders:cnn_classifier")
    assert spec.task is None
    assert build_model("gmcnn.models.builders:cnn_classifier", IMAGES, channels=[2])(
        torch.randn(1, 1, 8, 8)
    ).shape == (1, 3)
    with pytest.raises(ValueError, match="cannot be imported"):
        model_spec("gmcnn.models.builders:missing")
