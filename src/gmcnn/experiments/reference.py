"""The public code's GMConv algorithm, re-implemented as a baseline for ``gmcnn bench``.

The paper's public implementation gathers the input into a ``(B, C, K, N)`` tensor through an
index matrix (``index[k, g] = g·k⁻¹``) and contracts it with the kernel by ``einsum``;
error addition gathers again at one position per output channel. :class:`GatherEinsumGMConv`
does exactly that, with the parameters of a given :class:`~gmcnn.nn.GMConv`, so the two
compute the same function and a network can swap one for the other.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from gmcnn.nn import GMConv
from gmcnn.nn.kernels import source_index


class GatherEinsumGMConv(nn.Module):
    """The public code's layer: ``x[:, :, index]`` → ``(B, C, K, N)``, then ``einsum``.

    Shares the parameters of ``conv`` (exact, error addition or output scaling; shared or
    full channel mixing).
    """

    def __init__(self, conv: GMConv) -> None:
        super().__init__()
        if conv.relaxation == "low_rank":
            raise ValueError("the public code has no low displacement rank layer")
        self.conv = conv
        elements = conv.kernel_elements.cpu().numpy()
        index = torch.as_tensor(source_index(conv.group, elements).T.copy())  # (K, N)
        self.index: Tensor
        self.register_buffer("index", index.to(conv.weight.device))

    def forward(self, input: Tensor) -> Tensor:
        conv = self.conv
        x = input.reshape(input.shape[0], input.shape[1], conv.group.order)
        gathered = x[:, :, self.index]  # (B, C, K, N): the public code's "adj_input_tensor"
        weight, scale = (
            conv.scaling_parameters() if conv.position_scale is not None else (conv.weight, None)
        )
        if conv.channel_mixing == "shared":
            y = torch.einsum("ojk,bikl->bol", weight, gathered)
        else:
            y = torch.einsum("oik,bikl->bol", weight, gathered)
        if scale is not None:  # normalised by the layer when it has normalize=True, as here
            y = y * scale
        if conv.bias is not None:
            y = y + conv.bias[:, None]
        if conv.error_weight is not None:
            positions = conv.error_positions
            at = gathered[:, :, :, positions]  # (B, C, K, O)
            pattern = "otk,biko->bo" if conv.channel_mixing == "shared" else "oik,biko->bo"
            error = torch.einsum(pattern, conv.error_weight, at)
            rows = torch.arange(conv.out_channels, device=y.device)
            y[:, rows, positions] = y[:, rows, positions] + error
        return y.reshape(input.shape[0], conv.out_channels, *input.shape[2:])


def with_public_layers(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` whose every :class:`GMConv` runs the public algorithm."""
    twin = copy.deepcopy(model)
    for module in list(twin.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, GMConv):
                setattr(module, child_name, GatherEinsumGMConv(child))
    return twin
