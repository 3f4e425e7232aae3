"""Pooling, stride and unpooling over a subgroup ``K ≤ G`` (eq. 5, Lemma 2.3; MATH.md §3).

Every ``g ∈ G`` is uniquely ``k·c`` with ``k ∈ K`` and ``c`` in the set ``R`` of right-coset
representatives (each the element of its coset ``K·c`` nearest the identity). Pooling takes
the maximum (or mean) over the window ``{k·c : c ∈ R}``; the result is a signal on ``K``,
labelled by ``K``'s own labels, and by Lemma 2.3 the next layer is built on ``K``
(``output_group``). These maps commute with left translations by ``K``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor, nn

from gmcnn.groups import FiniteGroup, Subgroup
from gmcnn.nn import functional as F
from gmcnn.nn.conv import check_choice, check_group
from gmcnn.nn.signals import SignalLayout, check_input, traceable


def check_subgroup(group: FiniteGroup, subgroup: Subgroup | npt.ArrayLike) -> Subgroup:
    """``subgroup`` as a :class:`Subgroup` of ``group``.

    Accepts a ``Subgroup`` whose parent is ``group``, or the labels of its elements (checked
    for closure). Raises ``ValueError`` otherwise, naming what was given.
    """
    if isinstance(subgroup, Subgroup):
        if subgroup.parent is not group:
            raise ValueError(
                f"{subgroup.name} is not a subgroup of {group.name}: expected a Subgroup whose "
                f"parent is {group.name}, got one of {subgroup.parent.name}"
            )
        return subgroup
    if isinstance(subgroup, FiniteGroup):
        raise ValueError(
            f"{subgroup.name} is not a subgroup of {group.name}: expected a Subgroup built by "
            f"{group.name}.subgroup(...) or the labels of its elements"
        )
    return group.subgroup_from_elements(subgroup)


def pooling_windows(group: FiniteGroup, subgroup: Subgroup) -> np.ndarray:
    """``windows[k, c]``: the ``G``-label of ``k·c`` (``k`` in ``K``, ``c`` indexes ``R``)."""
    k_index, c_index = group.coset_decomposition(subgroup)
    windows = np.empty((subgroup.order, group.order // subgroup.order), dtype=np.int64)
    windows[k_index, c_index] = group.labels
    return windows


class _SubgroupMap(nn.Module):
    """Shared construction: the groups, and the output group for the next layer."""

    def __init__(self, group: FiniteGroup, subgroup: Subgroup | npt.ArrayLike) -> None:
        super().__init__()
        self.group = check_group(group)
        self.subgroup = check_subgroup(group, subgroup)
        self.group_signal = SignalLayout.of(self.group)
        self.subgroup_signal = SignalLayout.of(self.subgroup)

    @property
    def output_group(self) -> Subgroup:
        """``K``: build the next layer on it (Lemma 2.3)."""
        return self.subgroup

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        # ``windows`` and ``rows`` are derived from the group and the subgroup (constructor
        # arguments) and stay in the state dict for the checkpoints that hold them; ones of
        # another subgroup would make the layer compute other than ``output_group`` says.
        for name, current in self._buffers.items():
            key = prefix + name
            saved = state_dict.get(key)
            if current is None or not isinstance(saved, Tensor) or saved.shape != current.shape:
                continue
            if not torch.equal(saved.detach().cpu(), current.cpu()):
                error_msgs.append(
                    f"{key} of the checkpoint belongs to another subgroup of {self.group.name} "
                    f"than this layer's (order {self.subgroup.order}); build the layer on the "
                    "subgroup it was saved with"
                )
                state_dict[key] = current  # load_state_dict's copy: keep our own
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def extra_repr(self) -> str:
        return f"{self.group.name} -> subgroup of order {self.subgroup.order}"


class GMPool(_SubgroupMap):
    """Pooling over ``K`` (eq. 5): ``(P_K f)(k) = max_{c ∈ R} f(k·c)``, or the mean.

    For ``C_n × C_n`` and ``K = 2C_n × 2C_n`` this is 2×2 max pooling with stride 2.

    Args:
        group: ``G``; subgroup: ``K`` (a :class:`Subgroup` of ``group`` or its labels).
        mode: ``"max"`` or ``"mean"``.
        return_indices: with ``"max"``, also return the ``G``-labels of the maxima
            ``(B, C, |K|)``, for :class:`GMUnpool`.

    Shape: ``(B, C, N)`` → ``(B, C, |K|)``; image layouts ``(B, C, n₁, n₂)`` of a product
    map to ``(B, C, |K₁|, |K₂|)`` when ``K = K₁ × K₂``.
    """

    windows: Tensor

    def __init__(
        self,
        group: FiniteGroup,
        subgroup: Subgroup | npt.ArrayLike,
        mode: F.PoolMode = "max",
        return_indices: bool = False,
    ) -> None:
        super().__init__(group, subgroup)
        check_choice("mode", mode, ("max", "mean"))
        if return_indices and mode != "max":
            raise ValueError(f"return_indices is only defined for mode='max', got mode={mode!r}")
        self.mode = mode
        self.return_indices = return_indices
        self.register_buffer("windows", torch.tensor(pooling_windows(self.group, self.subgroup)))

    @traceable
    def forward(self, input: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        x = self.group_signal.flatten(check_input(input, "GMPool"), None, "GMPool")
        if self.return_indices:
            values, indices = F.group_pool(x, self.windows, "max", return_indices=True)
            return self.subgroup_signal.unflatten(values, input), indices
        y = F.group_pool(x, self.windows, self.mode)
        assert isinstance(y, Tensor)
        return self.subgroup_signal.unflatten(y, input)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, mode={self.mode!r}"


class GMStride(_SubgroupMap):
    """Stride by ``K``: ``y = f|_K``, the rows of the layer's matrix outside ``K`` removed (§3).

    Shape: ``(B, C, N)`` → ``(B, C, |K|)`` (image layouts as for :class:`GMPool`).
    """

    rows: Tensor

    def __init__(self, group: FiniteGroup, subgroup: Subgroup | npt.ArrayLike) -> None:
        super().__init__(group, subgroup)
        self.register_buffer("rows", torch.tensor(self.subgroup.elements))

    @traceable
    def forward(self, input: Tensor) -> Tensor:
        x = self.group_signal.flatten(check_input(input, "GMStride"), None, "GMStride")
        return self.subgroup_signal.unflatten(F.group_stride(x, self.rows), input)


class GMUnpool(_SubgroupMap):
    """The transpose of :class:`GMPool` (or :class:`GMStride`): signals on ``K`` back to ``G``.

    Args:
        group: ``G``; subgroup: ``K``.
        mode: ``"max"`` — values placed at the arg-max labels returned by
            ``GMPool(..., return_indices=True)``, zero elsewhere (call ``unpool(x, indices)``);
            ``"mean"`` — the adjoint of mean pooling, ``y(k·c) = x(k)/|R|``;
            ``"stride"`` — the adjoint of :class:`GMStride`, ``x`` on ``K`` and zero elsewhere.

    ``output_group`` is ``G``. Shape: ``(B, C, |K|)`` → ``(B, C, N)`` (image layouts kept).
    """

    windows: Tensor
    rows: Tensor

    def __init__(
        self,
        group: FiniteGroup,
        subgroup: Subgroup | npt.ArrayLike,
        mode: str = "max",
    ) -> None:
        super().__init__(group, subgroup)
        check_choice("mode", mode, ("max", "mean", "stride"))
        self.mode = mode
        self.register_buffer("windows", torch.tensor(pooling_windows(self.group, self.subgroup)))
        self.register_buffer("rows", torch.tensor(self.subgroup.elements))

    @property
    def output_group(self) -> FiniteGroup:  # type: ignore[override]
        """``G``."""
        return self.group

    @traceable
    def forward(self, input: Tensor, indices: Tensor | None = None) -> Tensor:
        x = self.subgroup_signal.flatten(check_input(input, "GMUnpool"), None, "GMUnpool")
        if self.mode == "stride":
            y = F.group_stride_transpose(x, self.rows, self.group.order)
        elif self.mode == "max":
            if isinstance(indices, Tensor) and indices.dtype != torch.int64:
                raise TypeError(
                    f"GMUnpool(mode='max') got indices of dtype {indices.dtype}; expected the "
                    "int64 labels returned by GMPool(..., return_indices=True)"
                )
            if indices is None or indices.shape != x.shape:
                shape = None if indices is None else tuple(indices.shape)
                raise ValueError(
                    f"GMUnpool(mode='max') needs the indices returned by "
                    f"GMPool(..., return_indices=True), of shape {tuple(x.shape)}; got {shape}"
                )
            y = F.group_unpool(x, self.windows, "max", indices)
        else:
            y = F.group_unpool(x, self.windows, "mean")
        return self.group_signal.unflatten(y, input)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, mode={self.mode!r}"
