"""Equivariance checks for any module and any finite group (MATH.md §8).

A group ``U`` acts on signals on a *space* — the group itself, a group it is a subgroup of,
or a coset space ``G/K`` — by left translation, ``(u·f)(x) = f(u⁻¹·x)``. A module ``F`` from
signals on one space to signals on another is equivariant if ``F(u·x) = u·F(x)`` for all
``u``; it suffices to check the generators, and random elements are checked as well.

    >>> from gmcnn.groups import dihedral
    >>> from gmcnn.nn import GMConv
    >>> D4 = dihedral(4)
    >>> worst = assert_equivariant(GMConv(D4, 2, 3, radius=1), D4)
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor, nn

from gmcnn.groups import FiniteGroup, Labels, Subgroup, as_labels, check_integer
from gmcnn.nn.homogeneous import CosetSpace

Space = FiniteGroup | CosetSpace


def _embed(group: FiniteGroup, ambient: FiniteGroup, u: int) -> int:
    """The label in ``ambient`` of element ``u`` of ``group`` (a subgroup, possibly nested)."""
    current, label = group, int(u)
    while current is not ambient:
        if not isinstance(current, Subgroup):
            raise ValueError(
                f"{group.name} does not act on signals on {ambient.name}: expected that group "
                "or a (nested) subgroup of it"
            )
        label = int(current.to_parent(label))
        current = current.parent
    return label


def translation(space: Space, group: FiniteGroup, u: int) -> Labels:
    """``p`` with ``(u·f)[x] = f[p[x]] = f(u⁻¹·x)``, for ``u ∈ group`` acting on ``space``."""
    if isinstance(space, CosetSpace):
        return space.translation(_embed(group, space.group, u))
    v = np.int64(_embed(group, space, u))
    return space.mul(space.inv(v), space.labels)


@dataclass(frozen=True)
class ElementError:
    """``‖F(u·x) − u·F(x)‖`` and ``‖F(x)‖`` for one element ``u``."""

    element: int
    error: float
    norm: float


def _elements(group: FiniteGroup, max_elements: int, seed: int) -> Labels:
    if group.order <= max_elements:
        return group.labels
    rng = np.random.default_rng(seed)
    sample = rng.choice(group.order, size=max_elements, replace=False)
    return np.union1d(group.generators, sample)


def element_errors(
    module: nn.Module,
    group: FiniteGroup,
    *,
    input_space: Space | None = None,
    output_space: Space | None = None,
    inputs: Tensor | None = None,
    in_channels: int | None = None,
    input_shape: tuple[int, ...] | None = None,
    batch_size: int = 2,
    elements: npt.ArrayLike | None = None,
    max_elements: int = 8,
    dtype: torch.dtype = torch.float64,
    seed: int = 0,
) -> list[ElementError]:
    """``F(u·x)`` against ``u·F(x)`` for each tested ``u`` (see :func:`assert_equivariant`)."""
    if not isinstance(group, FiniteGroup):
        raise TypeError(f"group must be a gmcnn.groups.FiniteGroup, got {type(group).__name__}")
    batch_size = check_integer(batch_size, "batch_size", 1)
    max_elements = check_integer(max_elements, "max_elements", 1)
    seed = check_integer(seed, "seed")
    if in_channels is not None:
        in_channels = check_integer(in_channels, "in_channels", 1)
    input_space = group if input_space is None else input_space
    output_space = group if output_space is None else output_space
    tensors = dict(itertools.chain(module.named_parameters(), module.named_buffers()))
    device = next(iter(tensors.values())).device if tensors else torch.device("cpu")
    if inputs is None:
        channels = in_channels if in_channels is not None else getattr(module, "in_channels", 1)
        shape = input_shape if input_shape is not None else (input_space.order,)
        generator = torch.Generator().manual_seed(seed)
        inputs = torch.randn(batch_size, channels, *shape, generator=generator, dtype=dtype)
    inputs = inputs.to(device=device, dtype=dtype)
    converted = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}

    def call(x: Tensor) -> Tensor:
        out = torch.func.functional_call(module, converted, (x,))
        first: Tensor = out[0] if isinstance(out, tuple) else out
        return first

    with torch.no_grad():
        y = call(inputs)
        norm = float(y.norm())
        labels = (
            _elements(group, max_elements, seed)
            if elements is None
            else as_labels(np.atleast_1d(elements), group.order)
        )
        results = []
        for u in labels.tolist():
            p_in = torch.tensor(translation(input_space, group, u), device=device)
            p_out = torch.tensor(translation(output_space, group, u), device=device)
            moved = inputs.flatten(2)[:, :, p_in].view_as(inputs)
            expected = y.flatten(2)[:, :, p_out]
            error = float((call(moved).flatten(2) - expected).norm())
            results.append(ElementError(int(u), error, norm))
    return results


def equivariance_error(module: nn.Module, group: FiniteGroup, **kwargs: object) -> float:
    """``EE(F) = mean_u ‖F(u·x) − u·F(x)‖ / ‖F(x)‖`` (MATH.md §8) on random inputs.

    Keyword arguments as :func:`assert_equivariant` (without the tolerances).
    """
    errors = element_errors(module, group, **kwargs)  # type: ignore[arg-type]
    return float(np.mean([e.error / max(e.norm, 1e-300) for e in errors]))


def assert_equivariant(
    module: nn.Module,
    group: FiniteGroup,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    input_space: Space | None = None,
    output_space: Space | None = None,
    inputs: Tensor | None = None,
    in_channels: int | None = None,
    input_shape: tuple[int, ...] | None = None,
    batch_size: int = 2,
    elements: npt.ArrayLike | None = None,
    max_elements: int = 8,
    dtype: torch.dtype = torch.float64,
    seed: int = 0,
) -> float:
    """Assert ``F(u·x) = u·F(x)`` for random inputs ``x`` and elements ``u`` of ``group``.

    Args:
        module: maps signals on ``input_space`` to signals on ``output_space``; a tuple
            output is checked on its first entry. Its parameters are cast to ``dtype`` for
            the check only (the module is not modified).
        group: the acting group ``U``.
        rtol, atol: the check is ``‖F(u·x) − u·F(x)‖ <= atol + rtol·‖F(x)‖`` per element;
            defaults ``1e-9`` and ``1e-12`` in float64, ``1e-4`` and ``1e-6`` otherwise.
        input_space, output_space: ``group`` by default; a group that ``group`` is a
            (nested) subgroup of (e.g. pooling ``G → K`` is checked with ``group=K``,
            ``input_space=G``); or a :class:`~gmcnn.nn.CosetSpace` ``G/K``.
        inputs: the test signals; by default ``randn(batch_size, in_channels, *input_shape)``
            with ``in_channels`` from the module (or 1) and ``input_shape`` ``(|input_space|,)``.
        elements: the elements to check; by default all of ``group`` if it has at most
            ``max_elements`` elements, else its generators and ``max_elements`` random ones.
        dtype, seed: precision and randomness of the check.

    Returns the largest relative error ``‖F(u·x) − u·F(x)‖ / ‖F(x)‖``. Raises
    ``AssertionError`` naming the first element that fails.
    """
    double = dtype == torch.float64
    rtol = (1e-9 if double else 1e-4) if rtol is None else rtol
    atol = (1e-12 if double else 1e-6) if atol is None else atol
    errors = element_errors(
        module,
        group,
        input_space=input_space,
        output_space=output_space,
        inputs=inputs,
        in_channels=in_channels,
        input_shape=input_shape,
        batch_size=batch_size,
        elements=elements,
        max_elements=max_elements,
        dtype=dtype,
        seed=seed,
    )
    for e in errors:
        if e.error > atol + rtol * e.norm:
            raise AssertionError(
                f"{type(module).__name__} is not equivariant under element {e.element} of "
                f"{group.name}: ‖F(u·x) − u·F(x)‖ = {e.error:.3g} with ‖F(x)‖ = {e.norm:.3g} "
                f"(allowed {atol:.1g} + {rtol:.1g}·‖F(x)‖)"
            )
    return max(e.error / max(e.norm, 1e-300) for e in errors)


def shift(x: Tensor, offset: tuple[int, ...]) -> Tensor:
    """Translate a window signal ``(B, C, n₁, …, n_d)`` by ``offset`` in ``Z^d``, zero-filled."""
    dims = tuple(range(2, x.dim()))
    out = torch.roll(x, offset, dims)
    for dim, s in zip(dims, offset, strict=True):
        if s > 0:
            out.narrow(dim, 0, min(s, x.shape[dim])).zero_()
        elif s < 0:
            k = min(-s, x.shape[dim])
            out.narrow(dim, x.shape[dim] - k, k).zero_()
    return out


def shift_equivariance_error(
    module: nn.Module, inputs: Tensor, offsets: list[tuple[int, ...]]
) -> float:
    """``mean_δ ‖F(δ·x) − δ·F(x)‖ / ‖F(x)‖`` for translations of ``Z^d`` on a window (§D.3).

    ``δ·x`` shifts the window signal by ``δ`` with zero fill (the signal is extended by
    zero outside the window, translated, and restricted again).
    """
    with torch.no_grad():
        y = module(inputs)
        errors = [
            float((module(shift(inputs, d)) - shift(y, d)).norm() / y.norm()) for d in offsets
        ]
    return float(np.mean(errors))
