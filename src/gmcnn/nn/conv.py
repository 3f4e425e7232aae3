"""``GMConv``: group convolution on any finite group, exact or approximately equivariant.

MATH.md §2 (eq. 2–3) for the exact layer, §4–§6 (eq. 7–13) for the relaxed ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy.typing as npt
import torch
from torch import Tensor, nn

from gmcnn.groups import FiniteGroup, Labels, check_integer
from gmcnn.groups.base import brief
from gmcnn.nn import functional as F
from gmcnn.nn.circulant import MAX_GRID_AXES, GridSpec, grid_form, plan_circulant
from gmcnn.nn.fourier import (
    FourierSpec,
    fourier_cost,
    gather_cost,
    plan_fourier,
    stencil_cost,
)
from gmcnn.nn.kernels import (
    gather_indices,
    init_kernel_parameters,
    kernel_parameters,
    kernel_support,
    load_labels,
    set_index,
    source_index,
)
from gmcnn.nn.relaxation import (
    ErrorPositions,
    displacement_ranks,
    position_kernels,
    squared_distances,
)
from gmcnn.nn.relaxation import error_positions as error_positions_of
from gmcnn.nn.signals import SignalLayout, check_input, traceable
from gmcnn.structured import MAX_DENSE_ORDER

ChannelMixing = Literal["full", "shared"]
Relaxation = Literal["low_rank", "error_addition", "output_scaling"]
Implementation = Literal["auto", "conv", "fft", "gather"]

# dense_matrix() refuses layers whose (O·N) × (C·N) matrix has more entries than this.
MAX_DENSE_ENTRIES = 1 << 26


def check_group(group: object) -> FiniteGroup:
    """``group``, or a ``TypeError`` unless it is a :class:`~gmcnn.groups.FiniteGroup`."""
    if not isinstance(group, FiniteGroup):
        raise TypeError(
            f"group must be a gmcnn.groups.FiniteGroup, got {brief(group)} of type "
            f"{type(group).__name__}"
        )
    return group


def check_channels(name: str, value: object) -> int:
    """A channel count: ``TypeError`` unless an integer (not ``bool``), ``ValueError`` if < 1."""
    return check_integer(value, name, 1)


def check_choice(name: str, value: object, choices: tuple[object, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


class GMConv(nn.Module):
    r"""Group convolution ``y_o = Σ_i f_i ∗ ψ_{o,i} + b_o`` on a finite group ``G`` (eq. 2–3).

    ``(f ∗ ψ)(g) = Σ_h f(h) ψ(h⁻¹g)``, with ``ψ_{o,i}(kernel_elements[k]) = weight[o, i, k]``
    and ``ψ`` zero elsewhere; ``kernel_elements`` is the word-metric ball ``B_radius`` unless
    given. The layer commutes with every left translation ``(L_u f)(g) = f(u⁻¹g)``.

    Args:
        group: any :class:`~gmcnn.groups.FiniteGroup`.
        in_channels, out_channels: channel counts.
        radius: kernel support ``B_radius`` (MATH.md §1); or give ``kernel_elements``.
        kernel_elements: explicit labels of the kernel's support.
        channel_mixing: ``"full"`` — ``weight`` ``(out, in, K)``, a standard G-CNN layer;
            ``"shared"`` — ``weight`` ``(out, 1, K)``: one kernel per output channel applied to
            the sum of the input channels (the paper's parameter-efficient layer, Table 3).
        bias: learn ``b_o``.
        rank: ``r > 0`` makes the layer approximately equivariant with displacement rank
            ``<= r`` (eq. 12): ``V = 1·ψ₀ᵀ + Σ_{l<=r} u_l ψ_lᵀ`` with ``ψ_l`` =
            ``relaxed_weight[l]`` (zero at initialisation) and learnable position profiles
            ``u_l`` = ``position_profiles[l]``. ``r = 0`` is exactly equivariant.
        relaxation: the relaxed family; ``"low_rank"`` (implied by ``rank > 0``), or the
            paper's two variants, both of displacement rank ``<= 1``:
            ``"error_addition"`` ("E" in Table 3) — an ``error_weight`` of the same shape as
            ``weight`` (doubling the kernel parameters), applied for output channel ``o``
            only at position ``error_positions[o]`` (see ``error_positions``);
            ``"output_scaling"`` — the output of the
            convolution scaled per position by a learnable ``position_scale`` (``V = u ψᵀ``,
            the public code's regression layer).
        normalize: with ``relaxation="output_scaling"`` only: apply each output channel's
            kernel ``weight[o]`` and the ``position_scale`` vector divided by their L2 norms
            (``ψ_o / ‖ψ_o‖``, ``u / ‖u‖``), as the public code's regression layer does at every
            forward pass. The stored parameters are unchanged; the layer's output does not
            change when they are rescaled by positive factors. The bias is not normalised.
        error_positions: where error addition puts each output channel's error term
            (:func:`gmcnn.nn.relaxation.error_positions`): ``"centre"`` — the grid points
            nearest the centre of the signal's grid, as the public code does (for images the
            pixels nearest the image centre); ``"identity"`` — the elements nearest the
            identity by word distance; or ``out_channels`` distinct labels. Default ``None``:
            ``"centre"`` for groups laid out on a grid (direct products, cyclic groups),
            ``"identity"`` otherwise. Only for ``relaxation="error_addition"``.
        implementation: where the group has a block-and-grid form (cyclic, dihedral, their
            direct and semidirect products and such subgroups; :mod:`gmcnn.nn.circulant`),
            full mixing has two exact ways to compute the block-circular convolution:
            ``"conv"``, one direct circular ``conv1d/2d/3d`` (its cost grows with the
            stencil), and ``"fft"``, the DFT of the grid with one complex matrix product per
            frequency (its cost does not depend on the kernel's size;
            :mod:`gmcnn.nn.fourier`). ``"auto"`` picks the cheapest of these and the gather
            path by the cost model of :mod:`gmcnn.nn.fourier`, and uses the gather path for
            other groups and always for shared mixing, whose single summed channel makes
            the gather small and the product one matrix multiplication (measured faster
            than a convolution or an FFT from one channel). ``"conv"``, ``"fft"`` or
            ``"gather"`` force a path; all compute the same function.

    Shape: input ``(B, in, N)`` or, for a product group, ``(B, in, n₁, …, n_k)`` (pixel
    ``(i, j)`` is the element ``(i, j)``); the output keeps the input's layout.
    """

    kernel_elements: Tensor
    taps: Tensor | None
    members: Tensor | None
    turns: Tensor | None
    layout: Tensor | None
    position: Tensor | None
    source: Tensor | None
    target: Tensor | None
    error_positions: Tensor
    error_source: Tensor
    bias: nn.Parameter | None
    relaxed_weight: nn.Parameter | None
    position_profiles: nn.Parameter | None
    error_weight: nn.Parameter | None
    position_scale: nn.Parameter | None

    def __init__(
        self,
        group: FiniteGroup,
        in_channels: int,
        out_channels: int,
        radius: int | None = None,
        kernel_elements: npt.ArrayLike | None = None,
        channel_mixing: ChannelMixing = "full",
        bias: bool = True,
        rank: int = 0,
        relaxation: Relaxation | None = None,
        implementation: Implementation = "auto",
        error_positions: ErrorPositions = None,
        normalize: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.group = check_group(group)
        self.signal = SignalLayout.of(group)
        self.in_channels = check_channels("in_channels", in_channels)
        self.out_channels = check_channels("out_channels", out_channels)
        check_choice("channel_mixing", channel_mixing, ("full", "shared"))
        check_choice("implementation", implementation, ("auto", "conv", "fft", "gather"))
        self.channel_mixing = channel_mixing
        self.rank, self.relaxation = _check_relaxation(rank, relaxation)
        elements = kernel_support(group, radius, kernel_elements)
        self.kernel_size = int(elements.size)
        self.register_buffer("kernel_elements", torch.tensor(elements, device=device))

        self._set_path(elements, implementation, device)

        def parameter(*size: int) -> nn.Parameter:
            return nn.Parameter(torch.empty(size, device=device, dtype=dtype))

        self.weight, self.bias = kernel_parameters(
            self.out_channels,
            self.in_channels,
            self.kernel_size,
            channel_mixing,
            bias,
            device,
            dtype,
        )
        shape = tuple(self.weight.shape)
        N = group.order
        self.relaxed_weight = self.position_profiles = self.error_weight = None
        self.position_scale = None
        if self.relaxation == "low_rank":
            self.relaxed_weight = parameter(self.rank, *shape)
            self.position_profiles = parameter(self.rank, N)
        elif self.relaxation == "error_addition":
            self.error_weight = parameter(*shape)
            self._set_error_positions(error_positions_of(group, self.out_channels, error_positions))
        elif self.relaxation == "output_scaling":
            self.position_scale = parameter(N)
        if error_positions is not None and self.relaxation != "error_addition":
            raise ValueError(
                f"error_positions={error_positions!r} needs relaxation='error_addition', got "
                f"relaxation={self.relaxation!r}"
            )
        if not isinstance(normalize, bool):
            raise TypeError(f"normalize must be True or False, got {normalize!r}")
        if normalize and self.relaxation != "output_scaling":
            raise ValueError(
                f"normalize=True needs relaxation='output_scaling' (the public regression "
                f"layer), got relaxation={self.relaxation!r}"
            )
        self.normalize = normalize
        self.reset_parameters()

    def _set_path(
        self, elements: Labels, implementation: Implementation, device: torch.device | str | None
    ) -> None:
        """Choose the path for ``elements`` and register its index arrays as buffers.

        They are derived from the group and the kernel elements, so they are left out of
        the state dict: a checkpoint loads whichever path the layer takes, and loading other
        ``kernel_elements`` rebuilds them (:meth:`_load_from_state_dict`).
        """
        path = _choose_path(
            self.group,
            elements,
            implementation,
            self.channel_mixing,
            self.in_channels,
            self.out_channels,
        )
        self.implementation: Literal["conv", "fft", "gather"] = path.name
        self.spec = path.spec
        # source[k] = (g ↦ g·k⁻¹) and target[k] = (h ↦ h·k), one row per kernel element.
        source, target = (
            gather_indices(self.group, elements) if path.name == "gather" else (None, None)
        )
        index = {
            "taps": path.taps,
            "members": path.members,
            "turns": path.turns,
            "layout": path.layout,
            "position": path.position,
            "source": source,
            "target": target,
        }
        for name, array in index.items():
            set_index(self, name, array, device)

    def _set_error_positions(self, positions: Labels) -> None:
        """Error addition at ``positions`` (checked labels, one per output channel).

        ``error_positions`` is in the state dict (a checkpoint keeps where its error terms
        act); ``error_source``, the inputs each error kernel reads, is derived from it.
        """
        device = self.kernel_elements.device
        elements = self.kernel_elements.cpu().numpy()
        self.register_buffer("error_positions", torch.tensor(positions, device=device))
        error_source = source_index(self.group, elements, rows=positions)
        self.register_buffer(
            "error_source", torch.tensor(error_source, device=device), persistent=False
        )

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
        # The kernel elements travel with the weights: other labels of the same count are
        # computed with (the index arrays are rebuilt on the layer's path), invalid ones are
        # an error of load_state_dict.
        load_labels(
            self, "kernel_elements", state_dict, prefix, error_msgs, self._set_kernel_elements
        )
        # Error positions travel with the weights: a checkpoint's positions replace the
        # layer's; a checkpoint saved before they were stored used the identity rule.
        key = prefix + "error_positions"
        if self.error_weight is not None:
            if key not in state_dict:
                state_dict[key] = torch.as_tensor(
                    error_positions_of(self.group, self.out_channels, "identity")
                )
            saved = state_dict[key].detach().cpu()
            if saved.shape == self.error_positions.shape and not torch.equal(
                saved, self.error_positions.cpu()
            ):
                self._set_error_positions(
                    error_positions_of(self.group, self.out_channels, saved.numpy())
                )
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def _set_kernel_elements(self, labels: npt.NDArray[Any]) -> None:
        """Compute with the kernel elements ``labels`` (as many as now; checked): the buffer
        and every index array derived from it, on the layer's current path."""
        elements = kernel_support(self.group, None, labels)
        device = self.kernel_elements.device
        self._set_path(elements, self.implementation, device)
        with torch.no_grad():
            self.kernel_elements.copy_(torch.from_numpy(elements))
        if self.error_weight is not None:
            self._set_error_positions(self.error_positions.cpu().numpy())

    def reset_parameters(self) -> None:
        """``U(±1/√fan_in)`` for ``weight`` and ``bias`` (``fan_in = in_channels · K``, the
        number of terms summed per output value); relaxations start exactly equivariant:
        ``relaxed_weight = error_weight = 0``, ``position_scale = 1``, and
        ``position_profiles ~ N(0, 1)``."""
        init_kernel_parameters(self.weight, self.bias, self.in_channels * self.kernel_size)
        if self.relaxed_weight is not None and self.position_profiles is not None:
            nn.init.zeros_(self.relaxed_weight)
            nn.init.normal_(self.position_profiles)
        if self.error_weight is not None:
            nn.init.zeros_(self.error_weight)
        if self.position_scale is not None:
            nn.init.ones_(self.position_scale)

    def _convolve(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        if isinstance(self.spec, GridSpec) and self.taps is not None:
            return F.circulant_group_conv(
                x, weight, self.taps, self.spec, self.layout, self.position, bias
            )
        if isinstance(self.spec, FourierSpec) and self.members is not None:
            assert self.turns is not None
            return F.fourier_group_conv(
                x, weight, self.members, self.turns, self.spec, self.layout, self.position, bias
            )
        assert self.source is not None and self.target is not None
        return F.group_conv(x, weight, self.source, self.target, bias)

    @traceable
    def forward(self, input: Tensor) -> Tensor:
        check_input(input, "GMConv", self.weight.dtype)
        device = input.device.type
        if torch.is_autocast_enabled(device):
            # Mixed precision. The index kernels mix dtypes badly, and the general paths sum
            # K·C products per output over several products, so they run in float32. The
            # single-channel gather path (shared mixing, or one input channel) is a channel
            # sum and one matrix product, each accumulated in float32 and rounded once: it
            # computes in the autocast dtype.
            with torch.autocast(device, enabled=False):
                if self.weight.dtype != torch.float32:
                    raise TypeError(
                        f"GMConv runs in float32 under autocast; its parameters are "
                        f"{self.weight.dtype} (convert the layer with .float())"
                    )
                if self._single_channel_gather():
                    return self._forward(input, torch.get_autocast_dtype(device))
                return self._forward(input.float())
        return self._forward(input)

    def _single_channel_gather(self) -> bool:
        """Whether the convolution is :func:`F.group_conv` of one (summed) input channel."""
        one = self.channel_mixing == "shared" or self.in_channels == 1
        return one and self.source is not None

    def _forward(self, input: Tensor, compute: torch.dtype | None = None) -> Tensor:
        """The layer; with ``compute`` (mixed precision) in that dtype, parameters included
        (the channel sum and the matrix product accumulate in float32)."""

        def cast(t: Tensor) -> Tensor:
            return t if compute is None else t.to(compute)

        x = cast(self.signal.flatten(input, self.in_channels, "GMConv"))
        if self.channel_mixing == "shared":
            x = F.channel_sum(x)
        bias = None if self.bias is None else cast(self.bias)
        if self.relaxed_weight is not None and self.position_profiles is not None:
            stacked = torch.cat([self.weight.unsqueeze(0), self.relaxed_weight]).flatten(0, 1)
            z = self._convolve(x, cast(stacked), None).view(
                x.shape[0], self.rank + 1, self.out_channels, self.group.order
            )
            profiles = cast(self.position_profiles)
            y = z[:, 0] + (z[:, 1:] * profiles[None, :, None, :]).sum(dim=1)
            y = y if bias is None else y + bias[:, None]
        elif self.position_scale is not None:
            weight, scale = self.scaling_parameters()
            y = self._convolve(x, cast(weight), None) * cast(scale)
            y = y if bias is None else y + bias[:, None]
        else:
            y = self._convolve(x, cast(self.weight), bias)
        if self.error_weight is not None:
            y = self._add_error(x, y, cast(self.error_weight))
        return self.signal.unflatten(y, input)

    def scaling_parameters(self) -> tuple[Tensor, Tensor]:
        """The kernel and the position scale as output scaling applies them: ``(O, C', K)``
        and ``(N,)``; divided by their L2 norms (per output channel, and as a whole) when
        ``normalize`` is set, else the parameters themselves. ``ValueError`` for a layer
        without output scaling."""
        if self.position_scale is None:
            raise ValueError(
                f"scaling_parameters() needs relaxation='output_scaling', got "
                f"relaxation={self.relaxation!r}"
            )
        if not self.normalize:
            return self.weight, self.position_scale
        weight = torch.nn.functional.normalize(self.weight.flatten(1), dim=1)
        scale = torch.nn.functional.normalize(self.position_scale, dim=0)
        return weight.view_as(self.weight), scale

    def _add_error(self, x: Tensor, y: Tensor, error_weight: Tensor) -> Tensor:
        """``y`` plus ``error_weight[o]`` applied at position ``error_positions[o]`` only."""
        gathered = x[:, :, self.error_source]  # (B, C', O, K)
        values = torch.einsum("biok,oik->bo", gathered, error_weight)
        flat = self.error_positions + self.group.order * torch.arange(
            self.out_channels, device=values.device
        )
        return y.flatten(1).index_add(1, flat, values).view_as(y)

    # -- introspection (MATH.md §4–§6) ------------------------------------------------------
    def relaxed_parts(self) -> tuple[Tensor, Tensor, Tensor]:
        """The kernel in the group-diagonal basis, ``(base, profiles, relaxed)``.

        ``V_{o,i}[g, k] = base[o, i, k] + Σ_l profiles[l, o, g] · relaxed[l, o, i, k]`` with
        shapes ``(O, C', K)``, ``(L, 1 or O, N)``, ``(L, O, C', K)`` (``C' = 1`` for shared
        mixing); see :mod:`gmcnn.nn.relaxation`. ``L = 0`` for an exact layer.
        """
        w = self.weight
        N = self.group.order
        if self.relaxed_weight is not None and self.position_profiles is not None:
            return w, self.position_profiles[:, None, :], self.relaxed_weight
        if self.error_weight is not None:
            onehot = torch.nn.functional.one_hot(self.error_positions, N).to(w.dtype)
            return w, onehot[None], self.error_weight[None]
        if self.position_scale is not None:
            kernel, scale = self.scaling_parameters()
            return torch.zeros_like(kernel), scale[None, None, :], kernel[None]
        return w, w.new_zeros(0, 1, N), w.new_zeros(0, *w.shape)

    def dense_matrix(self) -> Tensor:
        """The layer's ``(out·N) × (in·N)`` matrix (bias excluded; small groups only).

        Row ``o·N + g``, column ``i·N + h``: ``y.flatten(1) = x.flatten(1) @ M.T + bias``
        (bias repeated over ``g``). Built from the parameters, differentiably.
        """
        N = self.group.order
        entries = self.out_channels * self.in_channels * N * N
        if N > MAX_DENSE_ORDER or entries > MAX_DENSE_ENTRIES:
            raise ValueError(
                f"dense_matrix() of a {self.out_channels}×{self.in_channels}-channel layer on "
                f"{self.group.name} would have {entries} entries; it is built only for "
                f"orders <= {MAX_DENSE_ORDER} and at most {MAX_DENSE_ENTRIES} entries"
            )
        V = position_kernels(*self.relaxed_parts())  # (O, C', N, K)
        V = V.expand(self.out_channels, self.in_channels, N, self.kernel_size)
        src = torch.tensor(
            source_index(self.group, self.kernel_elements.cpu().numpy()), device=V.device
        )
        M = V.new_zeros(self.out_channels, self.in_channels, N, N)
        M = M.scatter(3, src.expand_as(V), V)  # M[o, i, g, g·k⁻¹] = V[o, i, g, k]
        return M.permute(0, 2, 1, 3).reshape(self.out_channels * N, self.in_channels * N)

    def displacement_rank(self) -> int:
        """``max_{o,i} DR(M_{o,i})`` (eq. 11): ``<= rank`` (1 for the two variants), 0 if exact."""
        _, profiles, relaxed = self.relaxed_parts()
        ranks = displacement_ranks(profiles.detach().double(), relaxed.detach().double())
        return int(ranks.max()) if ranks.numel() else 0

    def equivariance_penalty(self) -> Tensor:
        """``Σ_{o,i} dist_G(M_{o,i})²`` (eq. 13), differentiable: add it to a loss to pull a
        relaxed layer softly towards equivariance. Zero for an exact layer."""
        _, profiles, relaxed = self.relaxed_parts()
        total = squared_distances(profiles, relaxed).sum()
        return total * self.in_channels if self.channel_mixing == "shared" else total

    def distance_to_group_matrices(self) -> Tensor:
        """The Frobenius distance of :meth:`dense_matrix` to block group matrices (eq. 13).

        ``sqrt(Σ_{o,i} dist_G(M_{o,i})²)``, computed from the parameters (any group size).
        """
        return self.equivariance_penalty().sqrt()

    def extra_repr(self) -> str:
        parts = [
            self.group.name,
            str(self.in_channels),
            str(self.out_channels),
            f"kernel_size={self.kernel_size}",
            f"channel_mixing={self.channel_mixing!r}",
            f"bias={self.bias is not None}",
        ]
        if self.relaxation is not None:
            parts.append(f"relaxation={self.relaxation!r}")
        if self.normalize:
            parts.append("normalize=True")
        if self.rank:
            parts.append(f"rank={self.rank}")
        parts.append(f"implementation={self.implementation!r}")
        return ", ".join(parts)


def _check_relaxation(rank: object, relaxation: object) -> tuple[int, Relaxation | None]:
    rank = check_integer(rank, "rank")
    check_choice("relaxation", relaxation, (None, "low_rank", "error_addition", "output_scaling"))
    if relaxation is None:
        return int(rank), "low_rank" if rank > 0 else None
    if relaxation == "low_rank" and rank == 0:
        raise ValueError("relaxation='low_rank' needs rank >= 1, got rank=0")
    if relaxation != "low_rank" and rank > 1:
        raise ValueError(
            f"relaxation={relaxation!r} has displacement rank 1 by construction; "
            f"rank must be 0 or 1, got {rank}"
        )
    return int(rank), relaxation  # type: ignore[return-value]


@dataclass(frozen=True)
class _Path:
    """The computation a :class:`GMConv` uses, with the index arrays it needs."""

    name: Literal["conv", "fft", "gather"]
    spec: GridSpec | FourierSpec | None = None
    taps: Labels | None = None
    members: Labels | None = None
    turns: Labels | None = None
    layout: Labels | None = None
    position: Labels | None = None


def _choose_path(
    group: FiniteGroup,
    elements: Labels,
    implementation: Implementation,
    channel_mixing: ChannelMixing,
    in_channels: int,
    out_channels: int,
) -> _Path:
    """The path ``implementation`` asks for; for ``"auto"`` the cheapest by the cost model of
    :mod:`gmcnn.nn.fourier` (full mixing; shared mixing always gathers its single channel)."""
    if implementation == "gather" or (implementation == "auto" and channel_mixing == "shared"):
        return _Path("gather")
    form = grid_form(group)
    if implementation != "auto" and (
        form is None or (implementation == "conv" and len(form.shape) > MAX_GRID_AXES)
    ):
        limit = " of at most three axes" if implementation == "conv" else ""
        raise ValueError(
            f"implementation={implementation!r} needs a block-and-grid form{limit}; "
            f"{group.name} has none (use 'auto' or 'gather')"
        )
    if form is None:
        return _Path("gather")
    candidates: dict[str, tuple[float, _Path]] = {}
    if implementation in ("auto", "conv") and len(form.shape) <= MAX_GRID_AXES:
        stencil = plan_circulant(group, form, elements)
        taps = stencil.taps.shape[1] * stencil.taps.shape[2]
        candidates["conv"] = (
            stencil_cost(taps, in_channels, out_channels),
            _Path(
                "conv",
                stencil.spec,
                taps=stencil.taps,
                layout=stencil.layout,
                position=stencil.position,
            ),
        )
    if implementation in ("auto", "fft"):
        fourier = plan_fourier(group, form, elements)
        candidates["fft"] = (
            fourier_cost(fourier.spec, in_channels, out_channels),
            _Path(
                "fft",
                fourier.spec,
                members=fourier.members,
                turns=fourier.turns,
                layout=fourier.layout,
                position=fourier.position,
            ),
        )
    if implementation == "auto":
        candidates["gather"] = (
            gather_cost(elements.size, in_channels, out_channels),
            _Path("gather"),
        )
    return min(candidates.values(), key=lambda c: c[0])[1]
