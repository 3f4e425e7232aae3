"""The methods the paper compares against (Tables 1–3), as ordinary ``nn.Module`` s.

- Structured-matrix classifiers of Table 3 (:mod:`~gmcnn.baselines.structured`,
  :mod:`~gmcnn.baselines.classifiers`): circulant, low-rank, Toeplitz-like, Fastfood, LDR-TD.
- Dynamics baselines of Tables 1–2 (:mod:`~gmcnn.baselines.dynamics`): MLP, Conv, E2CNN,
  RPP, Lift, RGroup, RSteer, on the ``C4``/``D4`` fields of :mod:`~gmcnn.baselines.planar`
  and the layers of :mod:`~gmcnn.baselines.steerable`.

``build(name, **options)`` makes one by name, ``parameter_count(name, task=…)`` counts it
(:mod:`~gmcnn.baselines.registry`). Importing the package registers every baseline with
:mod:`gmcnn.models.registry`, so experiment configs can name them. The ``e2cnn`` basis
(``basis="e2cnn"``, the default for ``C4``) needs ``pip install gmcnn[baselines]``.
"""

from gmcnn.baselines.classifiers import StructuredClassifier, structured_layer
from gmcnn.baselines.dynamics import (
    MLP,
    ConvNet,
    LiftConvNet,
    LiftSteerableCNN,
    RelaxedConv2d,
    RelaxedConvNet,
    RelaxedGroupCNN,
    RelaxedSteerableCNN,
    ResidualPathway,
    RPPConvNet,
    RPPSteerableCNN,
    SteerableCNN,
)
from gmcnn.baselines.planar import planar_group, transform_fields
from gmcnn.baselines.registry import (
    BASELINES,
    TASKS,
    baseline,
    build,
    count_parameters,
    names,
    parameter_count,
)
from gmcnn.baselines.steerable import (
    FieldBatchNorm,
    RelaxedGroupConv2d,
    RelaxedSteerableConv2d,
    SteerableConv2d,
)
from gmcnn.baselines.structured import (
    CirculantLinear,
    FastfoodLinear,
    LDRTridiagonalLinear,
    LowRankLinear,
    ToeplitzLikeLinear,
)

# registers every baseline with gmcnn.models.registry (configs name them)
from gmcnn.baselines import config_registry  # noqa: F401  isort: skip

__all__ = [
    "BASELINES",
    "MLP",
    "TASKS",
    "CirculantLinear",
    "ConvNet",
    "FastfoodLinear",
    "FieldBatchNorm",
    "LDRTridiagonalLinear",
    "LiftConvNet",
    "LiftSteerableCNN",
    "LowRankLinear",
    "RPPConvNet",
    "RPPSteerableCNN",
    "RelaxedConv2d",
    "RelaxedConvNet",
    "RelaxedGroupCNN",
    "RelaxedGroupConv2d",
    "RelaxedSteerableCNN",
    "RelaxedSteerableConv2d",
    "ResidualPathway",
    "SteerableCNN",
    "SteerableConv2d",
    "StructuredClassifier",
    "ToeplitzLikeLinear",
    "baseline",
    "build",
    "count_parameters",
    "names",
    "parameter_count",
    "planar_group",
    "structured_layer",
    "transform_fields",
]
