"""Convolution on a homogeneous space ``X = G/K`` (App. D.1, eq. 18–20; MATH.md §7).

**Choice** (MATH.md §7): left cosets ``gK`` with ``G`` acting on the left,
``u·(gK) = (ug)K``. A signal ``f`` on ``X`` lifts to the right-``K``-invariant
``f̃(g) = f(gK)``; the layer is ``y = f̃ ∗ ψ̄`` with a right-``K``-invariant kernel ``ψ̄``
(``ψ̄(zk) = ψ̄(z)``), so ``y`` is again right-``K``-invariant — a signal on ``X`` — and the
layer commutes with every left translation by ``G``. ``ψ̄`` has one free value per coset
``zK`` in the kernel's support (the cosets meeting the ball ``B_r``). At one representative
``rep_j`` per coset ``x_j`` (eq. 19–20),

    y(x_j) = Σ_{z} ψ̄(z) f̃(rep_j·z⁻¹) = Σ_c w[c] Σ_{k ∈ K} f(coset of rep_j·k⁻¹·z_c⁻¹),

and the inner sum is the same for every choice of ``rep_j`` and of ``z_c ∈`` coset ``c``:
the result does not depend on the representatives.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor, nn

from gmcnn.groups import FiniteGroup, Labels, Subgroup, as_labels
from gmcnn.groups.base import brief
from gmcnn.nn import functional as F
from gmcnn.nn.conv import ChannelMixing, check_channels, check_choice, check_group
from gmcnn.nn.kernels import (
    drop_saved_index,
    init_kernel_parameters,
    kernel_parameters,
    kernel_support,
    load_labels,
    set_index,
)
from gmcnn.nn.pooling import check_subgroup
from gmcnn.nn.signals import check_input, traceable


class CosetSpace:
    """The left cosets ``gK`` of ``K ≤ G``, labelled ``0 … [G:K]-1`` by their smallest element.

    Attributes:
        group, subgroup: ``G`` and ``K``.
        order: the number of cosets ``|X| = [G:K]``.
        coset_of: ``(N,)``, the coset label of every ``g``.
        representatives: ``(|X|,)``, one element per coset (``representatives[j] ∈ x_j``);
            by default the element nearest the identity (ties: smaller label).
    """

    def __init__(
        self,
        group: FiniteGroup,
        subgroup: Subgroup | npt.ArrayLike,
        representatives: npt.ArrayLike | None = None,
    ) -> None:
        self.group = check_group(group)
        self.subgroup = check_subgroup(group, subgroup)
        # g·K for every g, in the order of the cosets' smallest elements (O(|G|), no |G|×|K|)
        self.coset_of: Labels = group.left_coset_labels(self.subgroup)
        self.order = int(self.coset_of.max()) + 1
        self.name = f"{group.name} / subgroup of order {self.subgroup.order}"
        if representatives is None:
            near = np.lexsort((group.labels, group.word_distance()))
            _, first = np.unique(self.coset_of[near], return_index=True)
            self.representatives: Labels = near[first]  # the nearest element of each coset
        else:
            reps = as_labels(np.asarray(representatives), group.order, "representative")
            if reps.shape != (self.order,) or not np.array_equal(
                self.coset_of[reps], np.arange(self.order)
            ):
                _, firsts = np.unique(self.coset_of, return_index=True)  # smallest elements
                raise ValueError(
                    f"representatives {brief(reps.tolist())} must hold one element of each of "
                    f"the {self.order} cosets of {self.name}, in coset order (coset j is the one "
                    f"whose smallest element is {brief(firsts.tolist())}[j])"
                )
            self.representatives = reps

    def __repr__(self) -> str:
        return f"<CosetSpace {self.name}: {self.order} cosets>"

    def translation(self, u: int) -> Labels:
        """``p`` with ``(u·f)(x) = f(u⁻¹·x) = f[p[x]]`` for a signal ``f`` on ``X``."""
        u_inv = self.group.inv(np.int64(u))
        return self.coset_of[self.group.mul(u_inv, self.representatives)]


class HomogeneousGMConv(nn.Module):
    """Group convolution between signals on ``X = G/K`` (App. D.1, eq. 18–20).

    ``y_o = Σ_i f̃_i ∗ ψ̄_{o,i} + b_o`` read on ``X`` (see the module doc), with
    ``ψ̄_{o,i}`` = ``weight[o, i, c]`` on the ``c``-th kernel coset (``kernel_cosets[c]``, the
    cosets meeting ``B_radius`` or ``kernel_elements``). Equivariant under ``G`` and
    independent of the ``representatives`` chosen.

    Args:
        group, subgroup: ``G`` and ``K``.
        in_channels, out_channels, radius, kernel_elements, channel_mixing, bias: as
            :class:`~gmcnn.nn.GMConv` (``kernel_elements`` are labels of ``G``).
        representatives: one element per coset (default: nearest the identity).

    Shape: ``(B, in, |X|)`` → ``(B, out, |X|)``, cosets in :class:`CosetSpace` order.
    """

    kernel_cosets: Tensor
    index: Tensor
    bias: nn.Parameter | None

    def __init__(
        self,
        group: FiniteGroup,
        subgroup: Subgroup | npt.ArrayLike,
        in_channels: int,
        out_channels: int,
        radius: int | None = None,
        kernel_elements: npt.ArrayLike | None = None,
        channel_mixing: ChannelMixing = "full",
        bias: bool = True,
        representatives: npt.ArrayLike | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.space = CosetSpace(group, subgroup, representatives)
        self.group = self.space.group
        self.in_channels = check_channels("in_channels", in_channels)
        self.out_channels = check_channels("out_channels", out_channels)
        check_choice("channel_mixing", channel_mixing, ("full", "shared"))
        self.channel_mixing = channel_mixing
        support = kernel_support(group, radius, kernel_elements)
        cosets = np.unique(self.space.coset_of[support])
        self.register_buffer("kernel_cosets", torch.tensor(cosets, device=device))
        # Derived from the kernel cosets, so not saved: loading other cosets rebuilds it.
        set_index(self, "index", self._index(cosets), device)
        self.weight, self.bias = kernel_parameters(
            self.out_channels, self.in_channels, cosets.size, channel_mixing, bias, device, dtype
        )
        self.reset_parameters()

    def _index(self, cosets: Labels) -> Labels:
        """``index[j, c, k]`` = coset of ``rep_j · k⁻¹ · z_c⁻¹`` (``z_c`` = representative of c)."""
        G, space = self.group, self.space
        k_inv = G.inv(space.subgroup.elements)
        z_inv = G.inv(space.representatives[cosets])
        right = G.mul(k_inv[None, :], z_inv[:, None])  # (J, |K|): k⁻¹·z_c⁻¹
        return space.coset_of[G.mul(space.representatives[:, None, None], right[None])]

    def _set_kernel_cosets(self, labels: npt.NDArray[Any]) -> None:
        """Compute with the kernel cosets ``labels`` (as many as now; checked)."""
        cosets = as_labels(labels, self.space.order, "kernel coset")
        if np.unique(cosets).size != cosets.size:
            raise ValueError(f"kernel cosets {brief(cosets.tolist())} repeat a coset")
        set_index(self, "index", self._index(cosets), self.kernel_cosets.device)
        with torch.no_grad():
            self.kernel_cosets.copy_(torch.from_numpy(cosets))

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
        # The kernel cosets are saved, the index derived from them is rebuilt (older
        # checkpoints that hold it still load).
        drop_saved_index(state_dict, prefix, "index")
        load_labels(self, "kernel_cosets", state_dict, prefix, error_msgs, self._set_kernel_cosets)
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def reset_parameters(self) -> None:
        """``U(±1/√fan_in)`` with ``fan_in = in_channels · |kernel cosets| · |K|``."""
        fan_in = self.in_channels * self.index.shape[1] * self.index.shape[2]
        init_kernel_parameters(self.weight, self.bias, fan_in)

    @traceable
    def forward(self, input: Tensor) -> Tensor:
        check_input(input, "HomogeneousGMConv", self.weight.dtype)
        if input.dim() != 3 or input.shape[1:] != (self.in_channels, self.space.order):
            raise ValueError(
                f"HomogeneousGMConv got an input of shape {tuple(input.shape)}; expected "
                f"(batch, {self.in_channels}, {self.space.order}) (a signal on {self.space.name})"
            )
        x = F.channel_sum(input) if self.channel_mixing == "shared" else input
        return F.coset_conv(x, self.weight, self.index, self.bias)

    def extra_repr(self) -> str:
        return (
            f"{self.space.name}, {self.in_channels}, {self.out_channels}, "
            f"kernel_cosets={self.weight.shape[2]}, channel_mixing={self.channel_mixing!r}, "
            f"bias={self.bias is not None}"
        )
