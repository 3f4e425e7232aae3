"""Dense references for the layer tests: the definitions, written out without the layers' code."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch

from gmcnn.groups import FiniteGroup


def eq2_convolution(
    G: FiniteGroup, f: npt.NDArray[np.float64], psi: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """``(f ∗ ψ)(g) = Σ_h f(h) ψ(h⁻¹g)`` (eq. 2), literally: ``f (…, N)``, ``ψ (N,)``."""
    relative = G.mul(G.inv(G.labels)[:, None], G.labels[None, :])  # [h, g] = h⁻¹g
    return np.asarray(f @ psi[relative])


def kernels_on_group(
    G: FiniteGroup, weight: torch.Tensor, kernel_elements: torch.Tensor, in_channels: int
) -> npt.NDArray[np.float64]:
    """``ψ[o, i]`` as functions on ``G`` (zero off the kernel), shared kernels broadcast."""
    w = weight.detach().double().cpu().numpy()
    w = np.broadcast_to(w, (w.shape[0], in_channels, w.shape[2]))
    psi = np.zeros((w.shape[0], in_channels, G.order))
    psi[:, :, kernel_elements.cpu().numpy()] = w
    return psi


def layer_reference(
    G: FiniteGroup,
    x: torch.Tensor,
    psi: npt.NDArray[np.float64],
    bias: torch.Tensor | None,
) -> npt.NDArray[np.float64]:
    """``y_o = Σ_i f_i ∗ ψ_{o,i} + b_o`` for ``x (B, C, N)``."""
    f = x.detach().double().cpu().numpy()
    out = np.stack(
        [
            sum(eq2_convolution(G, f[:, i], psi[o, i]) for i in range(psi.shape[1]))
            for o in range(psi.shape[0])
        ],
        axis=1,
    )
    if bias is not None:
        out = out + bias.detach().double().cpu().numpy()[None, :, None]
    return np.asarray(out)


def dense_forward(layer: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``x ↦ M x + b`` with ``M = layer.dense_matrix()`` (the reference path)."""
    M = layer.dense_matrix()
    y = x.flatten(1) @ M.T
    y = y.view(x.shape[0], layer.out_channels, -1)
    return y if layer.bias is None else y + layer.bias[:, None]
