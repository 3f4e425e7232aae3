"""gmcnn: group-matrix CNNs (Samudre, Petrache, Nord, Trivedi; AISTATS 2025).

Parameter-efficient, approximately equivariant networks for any finite group, built from
group matrices. The package is layered: :mod:`gmcnn.groups` (finite groups as integer
arrays), :mod:`gmcnn.structured` (group matrices and displacement theory), then the layers,
data, models and experiments built on them.
"""

__version__ = "0.1.0"
