"""Baselines of the dynamics tables (paper Tables 1–2; Wang et al. 2022's benchmark).

Every network maps ``(B, in_channels, H, W)`` to ``(B, out_channels, H, W)``: the last 10
velocity fields stacked to 20 channels in, the next field (2 channels) out.

Translation family (ordinary convolutions; exact symmetry: translations, with circular
padding):

- :class:`MLP` — fully connected on the flattened fields.
- :class:`ConvNet` — a ResNet-style CNN (identity skips around the hidden layers).
- :class:`RelaxedConvNet` — RGroup for translations: at every output position ``x`` a
  learned combination of ``L`` filter banks, ``y(x) = Σ_l w_l(x) (Ψ_l ⋆ f + b_l)(x)``.
- :class:`RPPConvNet` — residual pathway prior (Finzi et al. 2021): each layer is a
  convolution plus a non-equivariant (fully connected, low-rank) pathway.
- :class:`LiftConvNet` — lifting (Wang et al. 2022): an MLP encodes the whole input into a
  vector that is broadcast over the grid and concatenated to the features, which breaks
  the symmetry.

Rotation family (``C4`` / ``D4`` on square grids; :mod:`gmcnn.baselines.planar`): inputs
and outputs are vector fields, hidden features regular fields.

- :class:`SteerableCNN` — E2CNN / "Equiv" (Weiler & Cesa 2019), with ``e2cnn``'s basis.
- :class:`RelaxedSteerableCNN` — RSteer (Wang et al. 2022).
- :class:`RelaxedGroupCNN` — RGroup for rotations (Wang et al. 2022).
- :class:`RPPSteerableCNN` — RPP with a steerable and a free convolution per layer.
- :class:`LiftSteerableCNN` — a steerable CNN with lifted encoder features.

The datasets store a vector's second component along increasing row index (``y`` down);
the planar groups use ``y`` up. With ``y_down=True`` (default) the rotation networks flip
the sign of every second input and output channel, so they are equivariant for the data's
convention (:func:`~gmcnn.baselines.planar.transform_fields` with ``y_down``).

Relaxed networks have ``relaxation_penalty()``, the term their papers add to the loss.
"""

from __future__ import annotations

import functools
import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import cast

import torch
from torch import Tensor, nn

from gmcnn.baselines.planar import Representation, planar_group
from gmcnn.baselines.steerable import (
    Basis,
    FieldBatchNorm,
    PaddingMode,
    RelaxedGroupConv2d,
    RelaxedSteerableConv2d,
    SteerableConv2d,
)


def _penalties(model: nn.Module, layer_type: type[nn.Module]) -> Tensor:
    """The sum of ``relaxation_penalty()`` over ``model``'s layers of ``layer_type``."""
    terms = [
        cast(Callable[[], Tensor], m.relaxation_penalty)()
        for m in model.modules()
        if isinstance(m, layer_type)
    ]
    return torch.stack(terms).sum()


def _field_types(
    in_fields: int, hidden_fields: int, blocks: int
) -> list[tuple[Representation, int]]:
    """``(representation, fields)`` entering each hidden block: vectors first, then regular."""
    first: list[tuple[Representation, int]] = [("vector", in_fields)]
    return first + [("regular", hidden_fields)] * (blocks - 1)


def _check_layers(num_layers: int, minimum: int = 2) -> None:
    if num_layers < minimum:
        raise ValueError(f"num_layers must be at least {minimum}, got {num_layers}")


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if value < 1:
            raise ValueError(f"{name} must be positive, got {value}")


class SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` with 'same' padding of an odd kernel (zero or circular)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        bias: bool = True,
        padding_mode: PaddingMode = "zeros",
    ) -> None:
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd number, got {kernel_size}")
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            padding=(kernel_size - 1) // 2,
            bias=bias,
            padding_mode=padding_mode,
        )


class MLP(nn.Module):
    """Fully connected baseline: ``num_layers`` linear maps on the flattened fields.

    Hidden layers are ``Linear → BatchNorm1d → ReLU``. Defaults give Table 2's 8,678,240
    parameters at 64×64.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        height: int,
        width: int,
        hidden_features: int = 96,
        num_layers: int = 4,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        _check_layers(num_layers)
        _check_positive(height=height, width=width, hidden_features=hidden_features)
        self.out_channels = out_channels
        self.height, self.width = height, width
        layers: list[nn.Module] = []
        features = in_channels * height * width
        for _ in range(num_layers - 1):
            layers.append(nn.Linear(features, hidden_features))
            if batch_norm:
                layers.append(nn.BatchNorm1d(hidden_features))
            layers.append(nn.ReLU())
            features = hidden_features
        layers.append(nn.Linear(features, out_channels * height * width))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        out = self.layers(x.flatten(1))
        return out.reshape(x.shape[0], self.out_channels, self.height, self.width)


class ConvNet(nn.Module):
    """ResNet-style CNN: ``conv → ReLU``, hidden blocks ``h + ReLU(conv(h))``, then a conv.

    Defaults give Table 2's 1,821,186 parameters (the identity skips have none).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        hidden_channels: int = 256,
        kernel_size: int = 3,
        num_layers: int = 5,
        residual: bool = True,
        padding_mode: PaddingMode = "zeros",
    ) -> None:
        super().__init__()
        _check_layers(num_layers)
        self.residual = residual
        self.first = SameConv2d(
            in_channels, hidden_channels, kernel_size, padding_mode=padding_mode
        )
        self.hidden = nn.ModuleList(
            SameConv2d(hidden_channels, hidden_channels, kernel_size, padding_mode=padding_mode)
            for _ in range(num_layers - 2)
        )
        self.last = SameConv2d(
            hidden_channels, out_channels, kernel_size, padding_mode=padding_mode
        )

    def forward(self, x: Tensor) -> Tensor:
        h = torch.relu(self.first(x))
        for conv in self.hidden:
            update = torch.relu(conv(h))
            h = h + update if self.residual else update
        return self.last(h)


class RelaxedConv2d(nn.Module):
    """Relaxed translation convolution: ``y(x) = Σ_l w_l(x) ((Ψ_l ⋆ f)(x) + b_l)``.

    Wang et al. 2022, relaxed group convolution for ``G = Z²``: ``L = num_banks`` kernels
    and a weight per bank and output position (``height × width``), tied at ``1/L``
    initially; with ``w_l(x) = w_l`` everywhere it is the convolution with ``Σ_l w_l Ψ_l``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        height: int,
        width: int,
        num_banks: int = 3,
        bias: bool = True,
        padding_mode: PaddingMode = "zeros",
    ) -> None:
        super().__init__()
        _check_positive(num_banks=num_banks, height=height, width=width)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.num_banks = num_banks
        self.padding_mode = padding_mode
        self.banks = SameConv2d(
            in_channels, num_banks * out_channels, kernel_size, bias, padding_mode
        )
        self.combination = nn.Parameter(torch.empty(num_banks, height, width))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.banks.reset_parameters()
        nn.init.constant_(self.combination, 1.0 / self.num_banks)

    def forward(self, x: Tensor) -> Tensor:
        out = self.banks(x)
        banks = out.reshape(out.shape[0], self.num_banks, self.out_channels, *out.shape[2:])
        return torch.einsum("lhw,blohw->bohw", self.combination, banks)

    def relaxation_penalty(self) -> Tensor:
        """Mean ``|w_l(x) − mean_x w_l(x)|``: zero exactly when the layer is a convolution."""
        mean = self.combination.mean(dim=(1, 2), keepdim=True)
        return (self.combination - mean).abs().mean()

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, num_banks={self.num_banks}, "
            f"positions={tuple(self.combination.shape[1:])}"
        )


class RelaxedConvNet(nn.Module):
    """RGroup (translations): :class:`RelaxedConv2d` layers with ReLU.

    Defaults give Table 2's 1,921,158 parameters at 64×64.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        height: int,
        width: int,
        hidden_channels: int = 128,
        kernel_size: int = 3,
        num_layers: int = 6,
        num_banks: int = 3,
        alpha: float = 0.0,
        padding_mode: PaddingMode = "zeros",
    ) -> None:
        super().__init__()
        _check_layers(num_layers)
        self.alpha = alpha
        widths = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.layers = nn.ModuleList(
            RelaxedConv2d(
                c_in, c_out, kernel_size, height, width, num_banks, padding_mode=padding_mode
            )
            for c_in, c_out in itertools.pairwise(widths)
        )

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x)

    def relaxation_penalty(self) -> Tensor:
        """``alpha`` times the layers' distance from a convolution."""
        return self.alpha * _penalties(self, RelaxedConv2d)


class ResidualPathway(nn.Module):
    """``A_eq(x) + A_free(x)``: one layer of a residual pathway prior (Finzi et al. 2021)."""

    def __init__(self, equivariant: nn.Module, free: nn.Module) -> None:
        super().__init__()
        self.equivariant = equivariant
        self.free = free

    def forward(self, x: Tensor) -> Tensor:
        return self.equivariant(x) + self.free(x)


class FlatLinear(nn.Module):
    """A fully connected map between whole fields through a ``bottleneck`` (non-equivariant)."""

    def __init__(
        self, in_channels: int, out_channels: int, height: int, width: int, bottleneck: int
    ) -> None:
        super().__init__()
        _check_positive(bottleneck=bottleneck, height=height, width=width)
        self.shape = (out_channels, height, width)
        self.down = nn.Linear(in_channels * height * width, bottleneck)
        self.up = nn.Linear(bottleneck, out_channels * height * width)

    def forward(self, x: Tensor) -> Tensor:
        return self.up(self.down(x.flatten(1))).reshape(x.shape[0], *self.shape)


def pathway_penalty(
    layers: Iterable[nn.Module], equivariant_decay: float, free_decay: float
) -> Tensor:
    """The RPP prior: ``equivariant_decay·‖θ_eq‖² + free_decay·‖θ_free‖²`` (Finzi et al. 2021).

    A Gaussian prior on both pathways with a much smaller variance on the free one, so the
    free pathway is used only where the data asks for it.
    """
    pathways = [m for m in layers if isinstance(m, ResidualPathway)]
    zero = torch.zeros(())
    eq = sum((p.square().sum() for m in pathways for p in m.equivariant.parameters()), zero)
    free = sum((p.square().sum() for m in pathways for p in m.free.parameters()), zero)
    return equivariant_decay * eq + free_decay * free


def _check_decays(equivariant_decay: float, free_decay: float) -> None:
    if equivariant_decay < 0 or free_decay < 0:
        raise ValueError(
            f"decays must be non-negative, got equivariant_decay={equivariant_decay} and "
            f"free_decay={free_decay}"
        )


def _normed_chain(x: Tensor, layers: nn.ModuleList, norms: nn.ModuleList) -> Tensor:
    for layer, norm in zip(layers[:-1], norms, strict=True):
        x = torch.relu(norm(layer(x)))
    return layers[-1](x)


def _check_lift(num_layers: int, lift_after: int) -> None:
    _check_layers(num_layers, minimum=3)
    if not 1 <= lift_after <= num_layers - 2:
        raise ValueError(f"lift_after must be in [1, {num_layers - 2}], got {lift_after}")


def _lift_encoder(in_features: int, encoder_features: int, out_features: int) -> nn.Sequential:
    """``Linear → BN → ReLU → Linear → BN → ReLU → Linear``: the Lift networks' encoder."""
    return nn.Sequential(
        nn.Linear(in_features, encoder_features),
        nn.BatchNorm1d(encoder_features),
        nn.ReLU(),
        nn.Linear(encoder_features, encoder_features),
        nn.BatchNorm1d(encoder_features),
        nn.ReLU(),
        nn.Linear(encoder_features, out_features),
    )


def _lifted_blocks(x: Tensor, encoder: nn.Module, blocks: nn.ModuleList, lift_after: int) -> Tensor:
    """``blocks`` on ``x``, with ``encoder(x)`` broadcast over the grid and concatenated to
    the features entering block ``lift_after``."""
    lifted = encoder(x.flatten(1))[:, :, None, None]
    h = x
    for index, block in enumerate(blocks):
        if index == lift_after:
            h = torch.cat([h, lifted.expand(-1, -1, *h.shape[2:])], dim=1)
        h = block(h)
    return h


class RPPConvNet(nn.Module):
    """RPP (translations): a convolution plus a low-rank fully connected pathway per layer.

    Hidden layers are followed by BatchNorm and ReLU; :meth:`relaxation_penalty` is the
    prior of :func:`pathway_penalty`.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        height: int,
        width: int,
        hidden_channels: int = 128,
        kernel_size: int = 3,
        num_layers: int = 5,
        bottleneck: int = 1,
        equivariant_decay: float = 0.0,
        free_decay: float = 1e-4,
        padding_mode: PaddingMode = "zeros",
    ) -> None:
        super().__init__()
        _check_layers(num_layers)
        _check_decays(equivariant_decay, free_decay)
        self.equivariant_decay, self.free_decay = equivariant_decay, free_decay
        widths = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.layers = nn.ModuleList(
            ResidualPathway(
                SameConv2d(c_in, c_out, kernel_size, padding_mode=padding_mode),
                FlatLinear(c_in, c_out, height, width, bottleneck),
            )
            for c_in, c_out in itertools.pairwise(widths)
        )
        self.norms = nn.ModuleList(nn.BatchNorm2d(hidden_channels) for _ in range(num_layers - 1))

    def forward(self, x: Tensor) -> Tensor:
        return _normed_chain(x, self.layers, self.norms)

    def relaxation_penalty(self) -> Tensor:
        return pathway_penalty(self.layers, self.equivariant_decay, self.free_decay)


class LiftConvNet(nn.Module):
    """Lift (translations): a CNN with encoder features concatenated after ``lift_after`` blocks.

    The encoder (``Linear → BN → ReLU → Linear → BN → ReLU → Linear``) maps the flattened
    input to ``lift_channels`` numbers, broadcast over the grid. Convolution blocks are
    ``conv → BN → ReLU``. Defaults give Table 2's 8,235,362 parameters at 64×64.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        height: int,
        width: int,
        hidden_channels: int = 96,
        encoder_features: int = 96,
        lift_channels: int = 96,
        kernel_size: int = 3,
        num_layers: int = 5,
        lift_after: int = 2,
        padding_mode: PaddingMode = "zeros",
    ) -> None:
        super().__init__()
        _check_lift(num_layers, lift_after)
        _check_positive(encoder_features=encoder_features, lift_channels=lift_channels)
        self.lift_after = lift_after
        self.encoder = _lift_encoder(in_channels * height * width, encoder_features, lift_channels)
        inputs = [in_channels] + [hidden_channels] * (num_layers - 1)
        inputs[lift_after] += lift_channels
        self.blocks = nn.ModuleList(
            nn.Sequential(
                SameConv2d(c_in, hidden_channels, kernel_size, padding_mode=padding_mode),
                nn.BatchNorm2d(hidden_channels),
                nn.ReLU(),
            )
            for c_in in inputs[:-1]
        )
        self.last = SameConv2d(inputs[-1], out_channels, kernel_size, padding_mode=padding_mode)

    def forward(self, x: Tensor) -> Tensor:
        return self.last(_lifted_blocks(x, self.encoder, self.blocks, self.lift_after))


def _vector_fields(channels: int, what: str) -> int:
    if channels % 2:
        raise ValueError(f"{what} must be an even number (2D vector fields), got {channels}")
    return channels // 2


class _RotationNet(nn.Module, ABC):
    """Vector fields in and out; flips the ``y`` components when ``y_down`` (module doc)."""

    def __init__(self, in_channels: int, out_channels: int, group: str, y_down: bool) -> None:
        super().__init__()
        self.group = planar_group(group)
        self.in_fields = _vector_fields(in_channels, "in_channels")
        self.out_fields = _vector_fields(out_channels, "out_channels")
        self.y_down = y_down

    def _flip(self, x: Tensor) -> Tensor:
        if not self.y_down:
            return x
        sign = torch.tensor([1.0, -1.0], dtype=x.dtype, device=x.device)
        fields = x.reshape(x.shape[0], -1, 2, *x.shape[2:])
        return (fields * sign[:, None, None]).reshape(x.shape)

    @abstractmethod
    def features(self, x: Tensor) -> Tensor:
        """The network on vector fields in the group's ``y``-up convention."""

    def forward(self, x: Tensor) -> Tensor:
        return self._flip(self.features(self._flip(x)))


def _block(conv: nn.Module, group: str, fields: int, batch_norm: bool) -> nn.Sequential:
    norm: nn.Module = FieldBatchNorm(group, "regular", fields) if batch_norm else nn.Identity()
    return nn.Sequential(conv, norm, nn.ReLU())


def _default_basis(group: str, basis: Basis | None) -> Basis:
    return basis if basis is not None else ("e2cnn" if group == "C4" else "grid")


#: ``conv(rep_in, rep_out, fields_in, fields_out)``: a convolution between field types.
_FieldConvFactory = Callable[[Representation, Representation, int, int], nn.Module]


def _steerable_stack(
    conv: _FieldConvFactory,
    types: Iterable[tuple[Representation, int]],
    group: str,
    hidden_fields: int,
    out_fields: int,
    batch_norm: bool = True,
    head: _FieldConvFactory | None = None,
) -> tuple[list[nn.Sequential], nn.Module]:
    """The hidden blocks and the head of a steerable CNN, built in that order.

    One ``conv → per-field BN → ReLU`` block (:func:`_block`) per ``(representation,
    fields)`` of ``types``, each to ``hidden_fields`` regular fields; then ``head`` (default
    ``conv``) from those to ``out_fields`` vector fields.
    """
    blocks = [
        _block(conv(rep, "regular", f, hidden_fields), group, hidden_fields, batch_norm)
        for rep, f in types
    ]
    last = (head or conv)("regular", "vector", hidden_fields, out_fields)
    return blocks, last


class SteerableCNN(_RotationNet):
    """E2CNN / Equiv: a steerable CNN, vector fields → regular fields → vector fields.

    Hidden blocks are ``steerable conv → per-field BN → ReLU`` (Weiler & Cesa 2019, the
    architecture of Wang et al. 2022). ``basis=None`` takes ``e2cnn``'s basis for ``C4``
    and the full grid basis for ``D4``. Defaults give Table 2's 1,198,080 parameters
    (``C4``, 128 fields, 5 layers); 64 fields and 3 layers give Table 1's 107,136.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        group: str = "C4",
        hidden_fields: int = 128,
        kernel_size: int = 3,
        num_layers: int = 5,
        basis: Basis | None = None,
        batch_norm: bool = True,
        y_down: bool = True,
    ) -> None:
        super().__init__(in_channels, out_channels, group, y_down)
        _check_layers(num_layers)
        basis = _default_basis(group, basis)
        types = _field_types(self.in_fields, hidden_fields, num_layers - 1)
        conv = functools.partial(SteerableConv2d, group, kernel_size=kernel_size, basis=basis)
        blocks, last = _steerable_stack(
            conv, types, group, hidden_fields, self.out_fields, batch_norm
        )
        self.blocks = nn.Sequential(*blocks)
        self.last = last

    def features(self, x: Tensor) -> Tensor:
        return self.last(self.blocks(x))


class RelaxedSteerableCNN(_RotationNet):
    """RSteer: :class:`SteerableCNN` with :class:`~gmcnn.baselines.steerable.
    RelaxedSteerableConv2d` layers (Wang et al. 2022); ``alpha`` weighs the penalty."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        group: str = "C4",
        hidden_fields: int = 104,
        kernel_size: int = 3,
        num_layers: int = 5,
        basis: Basis | None = None,
        batch_norm: bool = True,
        alpha: float = 1e-5,
        y_down: bool = True,
    ) -> None:
        super().__init__(in_channels, out_channels, group, y_down)
        _check_layers(num_layers)
        basis = _default_basis(group, basis)
        self.alpha = alpha
        types = _field_types(self.in_fields, hidden_fields, num_layers - 1)
        conv = functools.partial(
            RelaxedSteerableConv2d, group, kernel_size=kernel_size, basis=basis
        )
        blocks, last = _steerable_stack(
            conv, types, group, hidden_fields, self.out_fields, batch_norm
        )
        self.blocks = nn.Sequential(*blocks)
        self.last = last

    def features(self, x: Tensor) -> Tensor:
        return self.last(self.blocks(x))

    def relaxation_penalty(self) -> Tensor:
        """``alpha`` times the layers' distance from tied coefficients."""
        return self.alpha * _penalties(self, RelaxedSteerableConv2d)


class RelaxedGroupCNN(_RotationNet):
    """RGroup (rotations): relaxed group convolutions to regular fields, then an exact
    steerable layer to the output vector fields (Wang et al. 2022)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        group: str = "C4",
        hidden_fields: int = 92,
        kernel_size: int = 3,
        num_layers: int = 5,
        num_banks: int = 2,
        batch_norm: bool = True,
        alpha: float = 0.0,
        y_down: bool = True,
    ) -> None:
        super().__init__(in_channels, out_channels, group, y_down)
        _check_layers(num_layers)
        self.alpha = alpha
        types = _field_types(self.in_fields, hidden_fields, num_layers - 1)
        blocks, last = _steerable_stack(
            # a relaxed group convolution always maps to regular fields: no ``rep_out``
            lambda rep, _, f_in, f_out: RelaxedGroupConv2d(
                group, rep, f_in, f_out, kernel_size, num_banks
            ),
            types,
            group,
            hidden_fields,
            self.out_fields,
            batch_norm,
            head=functools.partial(SteerableConv2d, group, kernel_size=kernel_size, basis="grid"),
        )
        self.blocks = nn.Sequential(*blocks)
        self.last = last

    def features(self, x: Tensor) -> Tensor:
        return self.last(self.blocks(x))

    def relaxation_penalty(self) -> Tensor:
        """``alpha`` times the layers' distance from tied combination weights."""
        return self.alpha * _penalties(self, RelaxedGroupConv2d)


class RPPSteerableCNN(_RotationNet):
    """RPP (rotations): per layer a steerable convolution plus a free ``nn.Conv2d`` on the
    same channels (Finzi et al. 2021); per-field BN and ReLU between layers."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        group: str = "C4",
        hidden_fields: int = 104,
        kernel_size: int = 3,
        num_layers: int = 5,
        basis: Basis | None = None,
        equivariant_decay: float = 0.0,
        free_decay: float = 1e-4,
        y_down: bool = True,
    ) -> None:
        super().__init__(in_channels, out_channels, group, y_down)
        _check_layers(num_layers)
        _check_decays(equivariant_decay, free_decay)
        basis = _default_basis(group, basis)
        self.equivariant_decay, self.free_decay = equivariant_decay, free_decay
        last: list[tuple[Representation, int]] = [("vector", self.out_fields)]
        types = _field_types(self.in_fields, hidden_fields, num_layers) + last
        layers = []
        for (rep_in, f_in), (rep_out, f_out) in itertools.pairwise(types):
            steerable = SteerableConv2d(group, rep_in, rep_out, f_in, f_out, kernel_size, basis)
            free = SameConv2d(steerable.in_channels, steerable.out_channels, kernel_size)
            layers.append(ResidualPathway(steerable, free))
        self.layers = nn.ModuleList(layers)
        self.norms = nn.ModuleList(
            FieldBatchNorm(group, "regular", hidden_fields) for _ in range(num_layers - 1)
        )

    def features(self, x: Tensor) -> Tensor:
        return _normed_chain(x, self.layers, self.norms)

    def relaxation_penalty(self) -> Tensor:
        return pathway_penalty(self.layers, self.equivariant_decay, self.free_decay)


class LiftSteerableCNN(_RotationNet):
    """Lift (rotations): a steerable CNN with ``lift_fields`` extra regular fields, encoded
    from the whole input by an MLP and broadcast over the grid, after ``lift_after`` blocks.

    The encoded fields are not invariant, so they break the symmetry; if the encoder's output
    is constant within each field the network is exactly equivariant.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        height: int,
        width: int,
        group: str = "C4",
        hidden_fields: int = 64,
        encoder_features: int = 18,
        lift_fields: int = 16,
        kernel_size: int = 3,
        num_layers: int = 5,
        lift_after: int = 2,
        basis: Basis | None = None,
        y_down: bool = True,
    ) -> None:
        super().__init__(in_channels, out_channels, group, y_down)
        _check_lift(num_layers, lift_after)
        _check_positive(encoder_features=encoder_features, lift_fields=lift_fields)
        basis = _default_basis(group, basis)
        self.lift_after = lift_after
        self.encoder = _lift_encoder(
            in_channels * height * width, encoder_features, lift_fields * self.group.order
        )
        types = _field_types(self.in_fields, hidden_fields, num_layers - 1)
        types[lift_after] = ("regular", hidden_fields + lift_fields)
        conv = functools.partial(SteerableConv2d, group, kernel_size=kernel_size, basis=basis)
        blocks, last = _steerable_stack(conv, types, group, hidden_fields, self.out_fields)
        self.blocks = nn.ModuleList(blocks)
        self.last = last

    def features(self, x: Tensor) -> Tensor:
        return self.last(_lifted_blocks(x, self.encoder, self.blocks, self.lift_after))
