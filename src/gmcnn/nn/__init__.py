"""GM layers: group-matrix convolutions, pooling and their relaxations (MATH.md §2–§8).

Each layer is a thin ``torch.nn.Module`` over a function in :mod:`gmcnn.nn.functional`;
index arrays are built once from the group at construction and registered as buffers.

- :class:`GMConv` — group convolution on any finite group, exact or approximately
  equivariant (low displacement rank, error addition, output scaling).
- :class:`GMPool`, :class:`GMStride`, :class:`GMUnpool` — pooling, stride and their
  transposes over a subgroup; ``output_group`` is the group the next layer is built on.
- :class:`HomogeneousGMConv` on coset spaces ``G/K`` (:class:`CosetSpace`).
- :class:`PaddedGMConv` on windows of ``Z^d`` (zero padding).
"""

from gmcnn.nn import functional
from gmcnn.nn.circulant import GridForm, GridSpec, grid_form
from gmcnn.nn.conv import GMConv
from gmcnn.nn.homogeneous import CosetSpace, HomogeneousGMConv
from gmcnn.nn.padded import PaddedGMConv
from gmcnn.nn.pooling import GMPool, GMStride, GMUnpool
from gmcnn.nn.signals import signal_shape

__all__ = [
    "CosetSpace",
    "GMConv",
    "GMPool",
    "GMStride",
    "GMUnpool",
    "GridForm",
    "GridSpec",
    "HomogeneousGMConv",
    "PaddedGMConv",
    "functional",
    "grid_form",
    "signal_shape",
]
