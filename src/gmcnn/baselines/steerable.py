"""Steerable and group convolutions on the pixel grid, exact and relaxed.

Fields and actions are those of :mod:`gmcnn.baselines.planar`. A layer maps ``I`` input
fields of representation ``ρ_in`` to ``O`` output fields of ``ρ_out``; channels are
field-major (``I·d_in`` in, ``O·d_out`` out).

- :class:`SteerableConv2d` — ``K = Σ_b w_b ψ_b`` over a basis of equivariant kernels
  (Weiler & Cesa 2019): exactly equivariant.
- :class:`RelaxedSteerableConv2d` — RSteer (Wang et al. 2022, §4.2): the coefficients may
  differ at every kernel tap, ``K(y) = Σ_b w_b(y) ψ_b(y)``; with ``w_b(y)`` the same at every
  tap (*tied*) it is :class:`SteerableConv2d`.
- :class:`RelaxedGroupConv2d` — RGroup (Wang et al. 2022, §4.1): ``L`` free kernels
  (filter banks) ``Ψ_l`` on ``G × Z²`` and combination weights ``w_l(a)`` per output group
  element ``a``:

      [f ⋆̃ Ψ](a, x) = Σ_{b, y} Σ_l w_l(a) Ψ_l(a⁻¹b, a⁻¹y) f(b, x + y)

  (for a non-regular input the kernel row is ``Σ_l w_l(a) Ψ_l(a⁻¹y) ρ_in(a)⁻¹``). With
  ``w_l(a) = w_l`` for every ``a`` it is the group convolution (Cohen & Welling 2016) with the
  kernel ``Σ_l w_l Ψ_l``.
- :class:`FieldBatchNorm` — batch normalisation with one mean, variance and affine pair per
  field (``e2cnn``'s ``InnerBatchNorm``), equivariant for permutation representations.

Every relaxed layer has ``relaxation_penalty()``: the mean absolute deviation of its
relaxation weights from their tied mean, zero exactly when the layer is equivariant.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gmcnn.baselines.planar import (
    PlanarGroup,
    Representation,
    e2cnn_kernel_basis,
    grid_kernel_basis,
    grid_permutations,
    invariant_vectors,
    planar_group,
    representation_size,
)

Basis = Literal["grid", "e2cnn"]
PaddingMode = Literal["zeros", "circular"]


def kernel_basis(
    group: PlanarGroup, rep_in: Representation, rep_out: Representation, size: int, basis: Basis
) -> Tensor:
    """The basis ``(B, d_out, d_in, k, k)`` named ``basis`` (``"grid"`` or ``"e2cnn"``)."""
    if basis == "grid":
        return grid_kernel_basis(group, rep_in, rep_out, size)
    if basis == "e2cnn":
        return e2cnn_kernel_basis(group, rep_in, rep_out, size)
    raise ValueError(f"basis {basis!r} is not one of 'grid', 'e2cnn'")


def same_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None, padding_mode: str) -> Tensor:
    """``F.conv2d`` with 'same' padding of an odd kernel, zero or circular."""
    pad = (weight.shape[-1] - 1) // 2
    if padding_mode == "circular":
        return F.conv2d(F.pad(x, (pad, pad, pad, pad), mode="circular"), weight, bias)
    if padding_mode == "zeros":
        return F.conv2d(x, weight, bias, padding=pad)
    raise ValueError(f"padding_mode {padding_mode!r} is not one of 'zeros', 'circular'")


def _deviation_from_tied(weight: Tensor, dim: int) -> Tensor:
    return (weight - weight.mean(dim=dim, keepdim=True)).abs().mean()


class _FieldConv(nn.Module, ABC):
    """Shared bookkeeping: group, field types, invariant bias, padding."""

    bias_basis: Tensor

    def __init__(
        self,
        group: str,
        in_rep: Representation,
        out_rep: Representation,
        in_fields: int,
        out_fields: int,
        kernel_size: int,
        bias: bool,
        padding_mode: PaddingMode,
    ) -> None:
        super().__init__()
        if in_fields < 1 or out_fields < 1:
            raise ValueError(f"field counts must be positive, got {in_fields} and {out_fields}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd number, got {kernel_size}")
        if padding_mode not in ("zeros", "circular"):
            raise ValueError(f"padding_mode {padding_mode!r} is not one of 'zeros', 'circular'")
        self.group = planar_group(group)
        self.in_rep = in_rep
        self.out_rep = out_rep
        self.in_fields = in_fields
        self.out_fields = out_fields
        self.kernel_size = kernel_size
        self.padding_mode = padding_mode
        self.in_channels = in_fields * representation_size(in_rep, self.group)
        self.out_channels = out_fields * representation_size(out_rep, self.group)
        invariant = invariant_vectors(self.group, out_rep)
        self.register_buffer("bias_basis", invariant)
        has_bias = bias and invariant.shape[1] > 0
        self.bias = nn.Parameter(torch.zeros(out_fields, invariant.shape[1])) if has_bias else None

    def expanded_bias(self) -> Tensor | None:
        """The bias of every output channel, ``(O·d_out,)``, from the invariant directions."""
        if self.bias is None:
            return None
        return (self.bias @ self.bias_basis.T).reshape(-1)

    @abstractmethod
    def kernel(self) -> Tensor:
        """The full convolution weight ``(O·d_out, I·d_in, k, k)``."""

    def forward(self, x: Tensor) -> Tensor:
        return same_conv2d(x, self.kernel(), self.expanded_bias(), self.padding_mode)

    def extra_repr(self) -> str:
        return (
            f"{self.group.name}, {self.in_fields}×{self.in_rep} → {self.out_fields}×"
            f"{self.out_rep}, kernel_size={self.kernel_size}, bias={self.bias is not None}"
        )


class SteerableConv2d(_FieldConv):
    """Equivariant convolution ``K = Σ_b w_b ψ_b`` over an equivariant kernel basis.

    ``basis="grid"``: every equivariant ``k×k`` kernel (:func:`~gmcnn.baselines.planar.
    grid_kernel_basis`); ``basis="e2cnn"``: ``e2cnn``'s band-limited basis (``C4``), the
    parameterisation of ``e2cnn.nn.R2Conv`` (Weiler & Cesa 2019).
    """

    basis: Tensor

    def __init__(
        self,
        group: str,
        in_rep: Representation,
        out_rep: Representation,
        in_fields: int,
        out_fields: int,
        kernel_size: int = 3,
        basis: Basis = "grid",
        bias: bool = True,
        padding_mode: PaddingMode = "zeros",
    ) -> None:
        super().__init__(
            group, in_rep, out_rep, in_fields, out_fields, kernel_size, bias, padding_mode
        )
        self.basis_name = basis
        self.register_buffer("basis", kernel_basis(self.group, in_rep, out_rep, kernel_size, basis))
        self.weight = nn.Parameter(torch.empty(out_fields, in_fields, len(self.basis)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        d_out = self.basis.shape[1]
        std = math.sqrt(2.0 * d_out / (self.in_fields * len(self.basis)))
        nn.init.normal_(self.weight, std=std)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def kernel(self) -> Tensor:
        kernel = torch.einsum("oib,bpqyx->opiqyx", self.weight, self.basis)
        k = self.kernel_size
        return kernel.reshape(self.out_channels, self.in_channels, k, k)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", basis={self.basis_name!r}"


class RelaxedSteerableConv2d(_FieldConv):
    """RSteer: ``K(y) = Σ_b w_b(y) ψ_b(y)``, one coefficient per basis element and tap.

    Wang et al. 2022 relax a steerable convolution by letting its basis coefficients vary
    over the kernel's support. Starts tied (exactly equivariant);
    :meth:`relaxation_penalty` measures the distance from tied.
    """

    basis: Tensor

    def __init__(
        self,
        group: str,
        in_rep: Representation,
        out_rep: Representation,
        in_fields: int,
        out_fields: int,
        kernel_size: int = 3,
        basis: Basis = "e2cnn",
        bias: bool = True,
        padding_mode: PaddingMode = "zeros",
    ) -> None:
        super().__init__(
            group, in_rep, out_rep, in_fields, out_fields, kernel_size, bias, padding_mode
        )
        self.basis_name = basis
        self.register_buffer("basis", kernel_basis(self.group, in_rep, out_rep, kernel_size, basis))
        taps = kernel_size * kernel_size
        self.weight = nn.Parameter(torch.empty(out_fields, in_fields, len(self.basis), taps))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        d_out = self.basis.shape[1]
        std = math.sqrt(2.0 * d_out / (self.in_fields * len(self.basis)))
        with torch.no_grad():
            tied = torch.randn(self.weight.shape[:3]) * std
            self.weight.copy_(tied[..., None].expand_as(self.weight))
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def kernel(self) -> Tensor:
        basis = self.basis.flatten(3)
        kernel = torch.einsum("oibs,bpqs->opiqs", self.weight, basis)
        k = self.kernel_size
        return kernel.reshape(self.out_channels, self.in_channels, k, k)

    def relaxation_penalty(self) -> Tensor:
        """Mean ``|w_b(y) − mean_y w_b(y)|``: zero exactly when the coefficients are tied."""
        return _deviation_from_tied(self.weight, dim=-1)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", basis={self.basis_name!r}"


class RelaxedGroupConv2d(_FieldConv):
    """RGroup: relaxed group convolution to regular fields (see the module doc).

    ``num_banks`` free kernels ``Ψ_l: (O, I, d_in, k, k)``, combination weights
    ``w: (|G|, L)`` (one row per output group element), tied at ``1/L`` initially.
    """

    tap_permutations: Tensor
    rho_in_inverse: Tensor

    def __init__(
        self,
        group: str,
        in_rep: Representation,
        in_fields: int,
        out_fields: int,
        kernel_size: int = 3,
        num_banks: int = 2,
        bias: bool = True,
        padding_mode: PaddingMode = "zeros",
    ) -> None:
        super().__init__(
            group, in_rep, "regular", in_fields, out_fields, kernel_size, bias, padding_mode
        )
        if num_banks < 1:
            raise ValueError(f"num_banks must be positive, got {num_banks}")
        self.num_banks = num_banks
        d_in = representation_size(in_rep, self.group)
        order = self.group.order
        self.banks = nn.Parameter(
            torch.empty(num_banks, out_fields, in_fields, d_in, kernel_size, kernel_size)
        )
        self.combination = nn.Parameter(torch.empty(order, num_banks))
        perms = torch.as_tensor(grid_permutations(self.group, kernel_size))
        self.register_buffer("tap_permutations", perms)
        rho_in = torch.as_tensor(self.group.representation(in_rep), dtype=torch.float32)
        self.register_buffer("rho_in_inverse", torch.linalg.inv(rho_in))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _, _, in_fields, d_in, k, _ = self.banks.shape
        fan_in = in_fields * d_in * k * k
        nn.init.normal_(self.banks, std=math.sqrt(2.0 * self.num_banks / fan_in))
        nn.init.constant_(self.combination, 1.0 / self.num_banks)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def kernel(self) -> Tensor:
        # Ψ_a = Σ_l w_l(a) Ψ_l, then row block a is Ψ_a(a⁻¹y) ρ_in(a)⁻¹
        mixed = torch.einsum("al,loiqyx->aoiqyx", self.combination, self.banks)
        k = self.kernel_size
        taps = mixed.flatten(-2)
        index = self.tap_permutations[:, None, None, None, :].expand_as(taps)
        rotated = torch.gather(taps, -1, index)
        rows = torch.einsum("aoiqs,aqc->oaics", rotated, self.rho_in_inverse)
        return rows.reshape(self.out_channels, self.in_channels, k, k)

    def relaxation_penalty(self) -> Tensor:
        """Mean ``|w_l(a) − mean_a w_l(a)|``: zero exactly when the weights are tied."""
        return _deviation_from_tied(self.combination, dim=0)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", num_banks={self.num_banks}"


class FieldBatchNorm(nn.Module):
    """Batch norm with statistics and affine parameters per field (trivial or regular fields).

    The ``d`` channels of a field share one mean, variance, scale and shift, so a
    permutation of them (the action of ``G`` on regular fields) commutes with the layer.
    """

    def __init__(self, group: str, rep: Representation, fields: int) -> None:
        super().__init__()
        if rep == "vector":
            raise ValueError("FieldBatchNorm needs permutation fields ('trivial' or 'regular')")
        self.group = planar_group(group)
        self.rep = rep
        self.fields = fields
        self.size = representation_size(rep, self.group)
        self.norm = nn.BatchNorm3d(fields)

    def forward(self, x: Tensor) -> Tensor:
        batch, _, height, width = x.shape
        fields = x.reshape(batch, self.fields, self.size, height, width)
        return self.norm(fields).reshape(x.shape)

    def extra_repr(self) -> str:
        return f"{self.group.name}, {self.fields}×{self.rep}"
