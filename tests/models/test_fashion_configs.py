"""The Fashion-MNIST configs train Table 3's methods of the matching MNIST column (issue 12).

``configs/rot-fashion-mnist`` mirrors ``configs/rot-mnist``, ``fashion-mnist-noise``
``mnist-noise`` and ``fashion-mnist-bg-rot`` ``mnist-bg-rot``: the same methods, models and
training, on the Fashion-MNIST recipe, with the same parameter counts.
"""

from __future__ import annotations

import pytest

from gmcnn.experiments.compare import dataset_methods, select_methods
from gmcnn.experiments.config import load_config
from gmcnn.metrics import parameter_count
from gmcnn.models import InputSpec, build_model

MIRRORS = {
    "rot-fashion-mnist": ("rot-mnist", "rotated-fashion-mnist"),
    "fashion-mnist-noise": ("mnist-noise", "fashion-mnist-noise"),
    "fashion-mnist-bg-rot": ("mnist-bg-rot", "fashion-mnist-bg-rot"),
}
IMAGES = InputSpec("classification", 1, (28, 28), 10)


def _count(experiment: str) -> int:
    config = load_config(experiment)
    return parameter_count(build_model(config.model.name, IMAGES, **config.model.options))


@pytest.mark.parametrize("folder", list(MIRRORS))
def test_every_table3_method_of_the_mnist_column_has_a_fashion_config(folder: str) -> None:
    mnist, _ = MIRRORS[folder]
    assert select_methods(folder) == select_methods(mnist)
    assert len(dataset_methods(folder)) == 10


@pytest.mark.parametrize(
    "experiment",
    [f"{folder}/{method}" for folder in MIRRORS for method in dataset_methods(folder)],
)
def test_fashion_configs_match_their_mnist_counterparts(experiment: str) -> None:
    folder, method = experiment.split("/")
    mnist, dataset = MIRRORS[folder]
    config, counterpart = load_config(experiment), load_config(f"{mnist}/{method}")
    assert config.data.name == dataset
    assert config.model == counterpart.model
    assert (config.optimizer, config.trainer, config.seed) == (
        counterpart.optimizer,
        counterpart.trainer,
        counterpart.seed,
    )
    assert config.paper.accuracy is None and config.paper.parameters is None
    assert _count(experiment) == _count(f"{mnist}/{method}")
