"""Model equivariance error (MATH.md §8; the measure of Wang et al. 2022 used in App. E).

``EE(F) = mean over u and x of ‖F(u·x) − u·F(x)‖ / ‖F(x)‖`` with the left regular action
``(u·f)(g) = f(u⁻¹g)`` on the positions of the signal. For an invariant output (class
logits after global pooling) ``u`` acts trivially on the output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from gmcnn.groups import FiniteGroup, as_labels


def act_on_positions(group: FiniteGroup, element: int, x: torch.Tensor) -> torch.Tensor:
    """``(u·x)(g) = x(u⁻¹g)`` on the trailing position axes of ``x``.

    The positions are the last axis ``(…, N)`` or, for a direct product of ``k`` factors,
    the last ``k`` axes ``(…, n₁, …, n_k)`` in row-major order (the product's labels).
    """
    shape = tuple(getattr(group, "shape", (group.order,)))
    if tuple(x.shape[-len(shape) :]) == shape:
        lead = x.shape[: x.ndim - len(shape)]
    elif x.shape[-1] == group.order:
        lead = x.shape[:-1]
    else:
        raise ValueError(
            f"a signal on {group.name} needs trailing axes {shape} or ({group.order},), "
            f"got shape {tuple(x.shape)}"
        )
    u_inv = group.inv(as_labels(element, group.order))
    source = torch.as_tensor(group.mul(u_inv, group.labels), device=x.device)
    flat = x.reshape(*lead, group.order)
    return flat.index_select(-1, source).reshape(x.shape)


def sample_elements(
    group: FiniteGroup, count: int, seed: int = 0, among: Sequence[int] | np.ndarray | None = None
) -> np.ndarray:
    """``count`` distinct non-identity elements of ``group`` (or of ``among``), seeded."""
    labels = np.asarray(group.labels if among is None else among, dtype=np.int64)
    pool: np.ndarray = labels[labels != group.identity]
    if count >= pool.size:
        return pool
    chosen: np.ndarray = np.random.default_rng(seed).choice(pool, size=count, replace=False)
    return np.sort(chosen)


@torch.no_grad()
def equivariance_error(
    model: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    group: FiniteGroup,
    elements: Sequence[int],
    invariant: bool,
) -> float:
    """Mean relative equivariance error of ``model`` over ``elements`` and ``inputs``.

    ``inputs`` is a batch of signals on ``group`` (see :func:`act_on_positions`). With
    ``invariant`` the output is compared with ``F(x)`` itself, else with ``u·F(x)``.
    """
    if len(elements) == 0:
        raise ValueError("equivariance_error needs at least one group element")
    reference = model(inputs)
    norms = reference.flatten(1).norm(dim=1).clamp_min(torch.finfo(reference.dtype).tiny)
    errors = []
    for u in elements:
        moved = model(act_on_positions(group, int(u), inputs))
        expected = reference if invariant else act_on_positions(group, int(u), reference)
        errors.append(((moved - expected).flatten(1).norm(dim=1) / norms).mean())
    return float(torch.stack(errors).mean())
