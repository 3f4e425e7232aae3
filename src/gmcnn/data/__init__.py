"""Datasets of the paper's experiments: generated, embedded, or read from original files.

One entry point, :func:`load` (``gmcnn data prepare`` / ``gmcnn data list`` on the command
line), covers the image-classification sets of §4.2 / Table 3 (Rectangles, Rotated MNIST,
MNIST-noise, MNIST-bg-rot, CIFAR-10, NORB, SmallNORB, plus MNIST and Fashion-MNIST and the
same recipes on Fashion-MNIST) and the dynamics sets of §4.1 / Tables 1–2 and App. E (smoke
plumes simulated with PhiFlow, JetFlow). Every prepared folder carries a manifest of shapes,
counts and SHA-256 hashes that is checked on each load; nothing is ever downloaded.
"""

from gmcnn.data.api import (
    REGISTRY,
    DatasetStatus,
    dataset_spec,
    datasets,
    load,
    prepare,
    prepared_folder,
)
from gmcnn.data.dynamics import DynamicsWindows, SplitPlan, WindowLayout
from gmcnn.data.image_dataset import ImageClassification
from gmcnn.data.plume_equivariance import data_equivariance_error, rotate_velocity
from gmcnn.data.storage import IntegrityError, Manifest, data_root

__all__ = [
    "REGISTRY",
    "DatasetStatus",
    "DynamicsWindows",
    "ImageClassification",
    "IntegrityError",
    "Manifest",
    "SplitPlan",
    "WindowLayout",
    "data_equivariance_error",
    "data_root",
    "dataset_spec",
    "datasets",
    "load",
    "prepare",
    "prepared_folder",
    "rotate_velocity",
]
