"""Signal layouts: ``(B, C, N)``, or ``(B, C, n₁, …, n_k)`` for products of ``k`` factors.

An image of ``H × W`` pixels is a function on ``G₁ × G₂`` with ``|G₁| = H``, ``|G₂| = W``:
pixel ``(i, j)`` is the element ``(i, j)``, label ``i·W + j`` — the row-major flattening.
A subgroup ``K₁ × K₂`` of such a product (what pooling leaves) keeps the image layout
``(|K₁|, |K₂|)``, since its labels are ordered the same way. Layouts are computed once, at
construction, so the forward pass does no group theory.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import numpy as np
import torch
from torch import Tensor
from torch.jit._trace import TracerWarning

from gmcnn.groups import DirectProduct, FiniteGroup, Subgroup

F = TypeVar("F", bound=Callable[..., Any])


def traceable(forward: F) -> F:
    """Decorate a layer's ``forward`` so that ``torch.jit.trace`` runs it without this
    package's tracer warnings.

    Under tracing, sizes are traced values, and the layers' Python checks and loops over
    channel counts, kernel chunks and blocks fix them into the graph, with a warning that
    the trace might not generalise. They are fixed for a layer anyway (it refuses other
    channel counts and groups); the batch size stays free (tested). Outside tracing this
    costs one call of ``torch.jit.is_tracing``.
    """

    @functools.wraps(forward)
    def run(*args: Any, **kwargs: Any) -> Any:
        if not torch.jit.is_tracing():  # type: ignore[attr-defined,no-untyped-call]
            return forward(*args, **kwargs)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=TracerWarning, module=r"gmcnn\.")
            return forward(*args, **kwargs)

    return cast(F, run)


def check_input(input: object, layer: str, dtype: torch.dtype | None = None) -> Tensor:
    """``input`` if a layer can compute with it; a one-line ``TypeError`` otherwise.

    Accepted: a :class:`torch.Tensor` of ``dtype`` (the layer's parameters' dtype) or, for
    ``dtype=None`` (layers without parameters) and under autocast (the layers cast), of
    any floating-point dtype. Integer, boolean and complex signals, a float64 input to a
    float32 layer and non-tensors (a numpy array) are refused, naming what was given and
    what was expected. Only Python-level checks: nothing is synchronised or copied.
    """
    if not isinstance(input, Tensor):
        kind = type(input)
        hint = " (convert it with torch.from_numpy)" if isinstance(input, np.ndarray) else ""
        raise TypeError(
            f"{layer} takes a torch.Tensor, got {kind.__module__}.{kind.__qualname__}{hint}"
        )
    if input.dtype != dtype:
        if dtype is None or torch.is_autocast_enabled(input.device.type):
            if not input.is_floating_point():
                raise TypeError(
                    f"{layer} got an input of dtype {input.dtype}; expected a floating-point "
                    "signal (convert it with .float())"
                )
        else:
            hint = f" or the layer with .to({input.dtype})" if input.is_floating_point() else ""
            raise TypeError(
                f"{layer} got an input of dtype {input.dtype}; expected {dtype}, the dtype of "
                f"its parameters (convert the input with .to({dtype}){hint})"
            )
    return input


def signal_shape(group: FiniteGroup) -> tuple[int, ...]:
    """The natural trailing shape of a signal on ``group`` (``(N,)`` unless it is a product)."""
    if isinstance(group, DirectProduct):
        return tuple(group.shape)
    if isinstance(group, Subgroup) and isinstance(group.parent, DirectProduct):
        parts = group.parent.split(group.elements)
        sizes = tuple(int(np.unique(p).size) for p in parts)
        if int(np.prod(sizes)) == group.order:  # a product K₁ × … × K_k of the factors
            return sizes
    return (group.order,)


@dataclass(frozen=True)
class SignalLayout:
    """The accepted trailing shapes of signals on a group of ``order`` elements."""

    order: int
    shape: tuple[int, ...]
    name: str

    @classmethod
    def of(cls, group: FiniteGroup) -> SignalLayout:
        return cls(group.order, signal_shape(group), group.name)

    def flatten(self, x: Tensor, channels: int | None, layer: str) -> Tensor:
        """``x`` as ``(B, C, N)``; ``ValueError`` naming the shape unless it is a signal here.

        Accepted: ``(B, C, N)`` and ``(B, C, *shape)``; ``channels=None`` accepts any count.
        """
        trailing = tuple(x.shape[2:])
        if (
            x.dim() < 3
            or trailing not in ((self.order,), self.shape)
            or (channels is not None and x.shape[1] != channels)
        ):
            c = "C" if channels is None else str(channels)
            options = f"(batch, {c}, {self.order})"
            if self.shape != (self.order,):
                options += f" or (batch, {c}, {', '.join(map(str, self.shape))})"
            raise ValueError(
                f"{layer} got an input of shape {tuple(x.shape)}; expected {options} "
                f"(a signal on {self.name})"
            )
        return x.reshape(x.shape[0], x.shape[1], self.order)

    def unflatten(self, y: Tensor, like: Tensor) -> Tensor:
        """``y`` ``(B, C, N)`` in the layout of the input ``like``: flat stays flat."""
        if like.dim() == 3:
            return y
        return y.reshape(y.shape[0], y.shape[1], *self.shape)
