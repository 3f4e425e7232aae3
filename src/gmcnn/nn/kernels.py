"""Kernel supports and the index arrays of group convolution (MATH.md §2, eq. 2–3).

A kernel ``ψ`` is stored by its values on a finite set of *kernel elements* ``k₀ … k_{K-1}``
(by default the word-metric ball ``B_r``). The group convolution
``(f ∗ ψ)(g) = Σ_h f(h) ψ(h⁻¹g)`` then reads, for output position ``g`` and kernel element
``k``, the input at ``h = g·k⁻¹``:

    (f ∗ ψ)(g) = Σ_k ψ(k) f(g·k⁻¹) = Σ_k ψ(k) (B_{k⁻¹} f)(g)        (eq. 3)

``source[g, k] = g·k⁻¹`` is the column index array of the group diagonal ``B_{k⁻¹}``; its
inverse permutation ``target[h, k] = h·k`` is what the transpose (the backward pass) reads.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor, nn

from gmcnn.groups import FiniteGroup, Labels, as_labels, check_integer


def kernel_support(
    group: FiniteGroup, radius: int | None, kernel_elements: npt.ArrayLike | None
) -> Labels:
    """The kernel elements: the ball ``B_radius`` or the given labels (validated, order kept).

    Exactly one of ``radius`` and ``kernel_elements`` must be given. Raises ``ValueError`` for a
    radius beyond the group's diameter, labels out of range, repeated or no labels, and
    ``TypeError`` for a radius or labels that are not integers (``radius=True`` is refused).
    """
    if (radius is None) == (kernel_elements is None):
        raise ValueError(
            "give exactly one of radius and kernel_elements "
            f"(got radius={radius!r}, kernel_elements={kernel_elements!r})"
        )
    if radius is not None:
        return group.ball(check_integer(radius, "radius"))
    elements = as_labels(np.asarray(kernel_elements), group.order, "kernel element")
    if elements.ndim != 1 or elements.size == 0:
        raise ValueError(
            f"kernel_elements must be a non-empty 1-d array of labels of {group.name}, "
            f"got shape {elements.shape}"
        )
    unique, counts = np.unique(elements, return_counts=True)
    if np.any(counts > 1):
        raise ValueError(
            f"kernel element {unique[counts > 1][0]} is repeated; expected distinct labels"
        )
    return elements


def source_index(group: FiniteGroup, kernel_elements: Labels, rows: Labels | None = None) -> Labels:
    """``source[i, k] = g_i·k⁻¹`` for output positions ``g_i`` (all of ``G`` by default)."""
    rows = group.labels if rows is None else rows
    return group.mul(rows[:, None], group.inv(kernel_elements)[None, :])


def target_index(group: FiniteGroup, kernel_elements: Labels) -> Labels:
    """``target[h, k] = h·k``: the output position that reads input ``h`` through ``k``."""
    return group.mul(group.labels[:, None], kernel_elements[None, :])


def gather_indices(group: FiniteGroup, kernel_elements: Labels) -> tuple[Labels, Labels]:
    """``source[k, g] = g·k⁻¹`` and ``target[k, h] = h·k``, each ``(K, N)`` and contiguous.

    The gather path's index arrays (:mod:`gmcnn.nn.gather`): the right translations by
    ``k⁻¹`` and ``k`` (:meth:`~gmcnn.groups.FiniteGroup.right_translations`, built without
    large temporaries, from the factors' rows on direct products).
    """
    return group.right_translations(group.inv(kernel_elements)), group.right_translations(
        kernel_elements
    )


def set_index(
    module: nn.Module,
    name: str,
    array: npt.NDArray[np.int64] | None,
    device: torch.device | str | None,
) -> None:
    """Make ``array`` the module's index buffer ``name`` (not saved in the state dict:
    derived from the group and the layer's labels), or the attribute ``None``.

    ``None`` is a plain attribute rather than a ``None`` buffer, which ``torch.export``
    miscounts (it shifts the buffers registered after it). The array is shared, not copied,
    on the CPU.
    """
    if array is None:
        module._buffers.pop(name, None)
        module.__dict__[name] = None
        return
    module.__dict__.pop(name, None)
    tensor = torch.from_numpy(np.ascontiguousarray(array)).to(device)
    module.register_buffer(name, tensor, persistent=False)


def load_labels(
    module: nn.Module,
    name: str,
    state_dict: dict[str, Any],
    prefix: str,
    error_msgs: list[str],
    rebuild: Callable[[npt.NDArray[Any]], None],
) -> None:
    """For ``_load_from_state_dict``: compute with a checkpoint's labels buffer ``name``.

    A layer's labels (kernel elements, kernel cosets, offsets) are saved; the index arrays
    derived from them are not. When the checkpoint's labels differ from the module's (same
    shape; other shapes are torch's size-mismatch error), ``rebuild`` checks them and
    rebuilds what is derived from them, so that the layer computes with the labels it
    shows. Labels that ``rebuild`` refuses (``TypeError``/``ValueError``) are reported in
    ``error_msgs`` (``load_state_dict`` raises them) and the module keeps its own.
    """
    key = prefix + name
    saved = state_dict.get(key)
    current = getattr(module, name)
    if not isinstance(saved, Tensor) or saved.shape != current.shape:
        return
    if saved.dtype == current.dtype and torch.equal(saved.detach().cpu(), current.cpu()):
        return
    try:
        rebuild(saved.detach().cpu().numpy())
    except (TypeError, ValueError) as error:
        error_msgs.append(f"{key} of the checkpoint: {error}")
        state_dict[key] = current.detach().clone()  # load_state_dict's copy: keep our own


def drop_saved_index(state_dict: dict[str, Any], prefix: str, *names: str) -> None:
    """Forget derived index arrays that older versions saved (they are rebuilt, not loaded)."""
    for name in names:
        state_dict.pop(prefix + name, None)


def kernel_parameters(
    out_channels: int,
    in_channels: int,
    kernel_size: int,
    channel_mixing: str,
    bias: bool,
    device: torch.device | str | None,
    dtype: torch.dtype | None,
) -> tuple[nn.Parameter, nn.Parameter | None]:
    """Uninitialised ``weight`` ``(out, in, K)`` (``(out, 1, K)`` for ``"shared"`` mixing)
    and ``bias`` ``(out,)`` (``None`` without bias) of a group-kernel layer."""
    mixed = in_channels if channel_mixing == "full" else 1
    weight = nn.Parameter(torch.empty(out_channels, mixed, kernel_size, device=device, dtype=dtype))
    if not bias:
        return weight, None
    return weight, nn.Parameter(torch.empty(out_channels, device=device, dtype=dtype))


def init_kernel_parameters(weight: torch.Tensor, bias: torch.Tensor | None, fan_in: int) -> None:
    """``U(±1/√fan_in)`` for ``weight`` and ``bias``; ``fan_in`` = terms summed per output."""
    bound = 1.0 / math.sqrt(fan_in)
    nn.init.uniform_(weight, -bound, bound)
    if bias is not None:
        nn.init.uniform_(bias, -bound, bound)
