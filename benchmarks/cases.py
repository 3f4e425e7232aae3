"""The benchmark's configurations and the implementations it compares (issue 3).

Every case is one forward + backward pass (gradients for the input and the weights) of one
layer at batch 64, on the paper's configurations and on ``S₅ × C₈`` (no block-and-grid form:
the general gather path):

- ``fast``: :class:`gmcnn.nn.GMConv` as a user gets it (``implementation="auto"``: for full
  mixing on these groups the Fourier path, for shared mixing the gather path);
- ``direct``: the layer's direct circular-convolution path (``implementation="conv"``: one
  circular ``conv2d`` over ``|T|·C → |T|·O`` channels), for full mixing on block-and-grid groups;
- ``gather``: the public code's algorithm, reimplemented — gather the input into a
  ``B × C × K × N`` tensor with the kernel's index arrays, then one ``einsum``;
- ``dense``: the layer as one dense matrix product, ``(out·N) × (in·N)`` (for shared mixing
  ``(out·N) × N`` applied to the channel sum); only where the matrix fits in memory;
- ``conv2d``: plain ``torch`` for cyclic products: ``conv2d`` with circular padding
  (for shared mixing: the channel sum, then ``conv2d`` from one channel);
- ``matmul``: a plain ``torch.matmul`` ``(B·N, C·K) @ (C·K, O)`` with the same FLOP count as
  the full-mixing layer, for its FLOP rate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from gmcnn.groups import DirectProduct, FiniteGroup, cyclic, dihedral, direct_product, symmetric
from gmcnn.nn import GMConv, grid_form
from gmcnn.nn.conv import ChannelMixing, Implementation

BATCH = 64
# Dense matrices (with their gradient) beyond this many bytes are not benchmarked.
DENSE_LIMIT_BYTES = 4 << 30


@dataclass(frozen=True)
class Case:
    """One row of the table: a group, a kernel radius, a channel count and a mixing mode."""

    name: str
    factors: tuple[tuple[str, int], ...]  # ("C", n), ("D", n) or ("S", n)
    radius: int
    channels: int
    mixing: ChannelMixing

    @property
    def group(self) -> DirectProduct:
        make: dict[str, Callable[[int], FiniteGroup]] = {"C": cyclic, "D": dihedral, "S": symmetric}
        return direct_product(*(make[kind](n) for kind, n in self.factors))

    @property
    def cyclic(self) -> bool:
        return all(kind == "C" for kind, _ in self.factors)

    def layer(self, implementation: Implementation = "auto") -> GMConv:
        return GMConv(
            self.group,
            self.channels,
            self.channels,
            radius=self.radius,
            channel_mixing=self.mixing,
            implementation=implementation,
        )

    def dense_bytes(self) -> int:
        N = int(self.group.order)
        columns = N * (self.channels if self.mixing == "full" else 1)
        return 2 * 4 * self.channels * N * columns  # matrix and its gradient, float32


CASES = (
    [Case(f"C28×C28 r3 {m}", (("C", 28), ("C", 28)), 3, 120, m) for m in ("shared", "full")]
    + [Case(f"D14×D14 r2 {m}", (("D", 14), ("D", 14)), 2, 120, m) for m in ("shared", "full")]
    + [Case(f"C64×C64 r1 {m}", (("C", 64), ("C", 64)), 1, 128, m) for m in ("shared", "full")]
    + [Case(f"D31×C23 r1 {m}", (("D", 31), ("C", 23)), 1, 128, m) for m in ("shared", "full")]
    # Not a paper configuration: S₅ has no block-and-grid form, so this is the gather path.
    + [Case(f"S5×C8 r1 {m}", (("S", 5), ("C", 8)), 1, 120, m) for m in ("shared", "full")]
)

Step = Callable[[], None]


def _backward(y: torch.Tensor, leaves: list[torch.Tensor]) -> None:
    """Gradients of ``sum(y)`` for ``leaves``, computed and dropped (no ``.grad`` kept)."""
    torch.autograd.grad(y, leaves, torch.ones_like(y))


def fast_step(case: Case, device: torch.device) -> Step:
    layer = case.layer().to(device)
    x = torch.randn(BATCH, case.channels, *case.group.shape, device=device, requires_grad=True)
    leaves = [x, *layer.parameters()]
    return lambda: _backward(layer(x), leaves)


def direct_step(case: Case, device: torch.device) -> Step:
    layer = case.layer("conv").to(device)
    x = torch.randn(BATCH, case.channels, *case.group.shape, device=device, requires_grad=True)
    leaves = [x, *layer.parameters()]
    return lambda: _backward(layer(x), leaves)


def gather_step(case: Case, device: torch.device) -> Step:
    """The public code: ``x[:, :, index]`` → ``B × C × K × N``, then ``einsum``."""
    layer = case.layer("gather").to(device)
    index = layer.source  # (K, N): index[k, g] = g·k⁻¹
    weight, bias = layer.weight, layer.bias
    assert bias is not None
    equation = "ojk,bikn->bon" if case.mixing == "shared" else "oik,bikn->bon"
    x = torch.randn(BATCH, case.channels, case.group.order, device=device, requires_grad=True)
    leaves = [x, weight, bias]
    return lambda: _backward(torch.einsum(equation, weight, x[:, :, index]) + bias[:, None], leaves)


def dense_step(case: Case, device: torch.device) -> Step:
    N, C = case.group.order, case.channels
    columns = N * (C if case.mixing == "full" else 1)
    matrix = torch.randn(C * N, columns, device=device, requires_grad=True)
    x = torch.randn(BATCH, C, N, device=device, requires_grad=True)

    def step() -> None:
        source = x.flatten(1) if case.mixing == "full" else x.sum(1)
        _backward(source @ matrix.t(), [x, matrix])

    return step


def conv2d_step(case: Case, device: torch.device) -> Step:
    n1, n2 = case.group.shape
    k = 2 * case.radius + 1
    C = case.channels
    mixed = C if case.mixing == "full" else 1
    weight = torch.randn(C, mixed, k, k, device=device, requires_grad=True)
    bias = torch.randn(C, device=device, requires_grad=True)
    x = torch.randn(BATCH, C, n1, n2, device=device, requires_grad=True)
    pad = (case.radius,) * 4

    def step() -> None:
        source = x if case.mixing == "full" else x.sum(1, keepdim=True)
        _backward(F.conv2d(F.pad(source, pad, mode="circular"), weight, bias), [x, weight, bias])

    return step


def matmul_step(case: Case, device: torch.device) -> Step:
    K = case.layer("gather").kernel_size
    C = case.channels
    a = torch.randn(BATCH * case.group.order, C * K, device=device, requires_grad=True)
    b = torch.randn(C * K, C, device=device, requires_grad=True)
    return lambda: _backward(a @ b, [a, b])


METHODS: dict[str, Callable[[Case, torch.device], Step]] = {
    "fast": fast_step,
    "direct": direct_step,
    "gather": gather_step,
    "dense": dense_step,
    "conv2d": conv2d_step,
    "matmul": matmul_step,
}


def applicable(case: Case, method: str) -> str | None:
    """``None`` if ``method`` runs for ``case``, else why not (printed in the table)."""
    if method == "dense" and case.dense_bytes() > DENSE_LIMIT_BYTES:
        return f"needs {case.dense_bytes() / 2**30:.0f} GiB"
    if method == "conv2d" and not case.cyclic:
        return "n/a"
    if method == "direct" and (case.mixing != "full" or grid_form(case.group) is None):
        return "n/a"
    if method == "matmul" and case.mixing != "full":
        return "n/a"
    return None
