"""Structured ``N×N`` linear layers: the compressed-transform baselines of Table 3.

Each layer is a square matrix ``M ∈ R^{N×N}`` stored in far fewer than ``N²`` numbers, applied
to the last axis of its input (``y = x Mᵀ``, like ``nn.Linear`` without bias), with a
``matrix()`` method that assembles the explicit dense ``M`` (the reference path, for tests).

- :class:`CirculantLinear` — ``M = circ(c)``, ``M[i, j] = c[(i − j) mod N]``: circular
  convolution with ``c``, ``N`` parameters, ``O(N log N)`` by the FFT (Cheng et al. 2015).
- :class:`LowRankLinear` — ``M = G Hᵀ`` with ``G, H ∈ R^{N×r}``: ``2rN`` parameters,
  ``O(rN)`` (the low-rank baseline of Sindhwani et al. 2015 and Thomas et al. 2018).
- :class:`ToeplitzLikeLinear` — displacement rank ``r`` for the fixed operators
  ``Z₁, Z₋₁`` (Sylvester form ``Z₁M − MZ₋₁ = GHᵀ``), ``M = ½ Σᵢ Z₁(gᵢ) Z₋₁(J hᵢ)``
  (Pan 2001; Sindhwani et al. 2015): ``2rN`` parameters, ``O(rN log N)`` by the FFT.
- :class:`FastfoodLinear` — ``M = S H G Π H B`` with diagonal ``S, G, B``, a fixed
  permutation ``Π`` and the Walsh–Hadamard matrix ``H`` (Le et al. 2013, learned as in
  Yang et al. 2015): ``3N`` parameters, ``O(N log N)`` by the fast Walsh–Hadamard transform.
- :class:`LDRTridiagonalLinear` — LDR-TD (Thomas et al. 2018): learned tridiagonal-plus-
  corners operators ``A, B`` and ``G, H ∈ R^{N×r}``, ``M = Σᵢ K(A, gᵢ) K(Bᵀ, hᵢ)ᵀ`` with the
  Krylov matrix ``K(A, v) = [v, Av, …, A^{N−1}v]``; ``6N + 2rN`` parameters.

``Z_f`` is the ``f``-unit-circulant shift (``Z_f e_j = e_{j+1}``, ``Z_f e_{N−1} = f e_0``),
``Z_f(v) = Σ_k v_k Z_f^k`` the ``f``-circulant matrix with first column ``v`` and ``J`` the
reversal permutation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _check_features(features: int) -> None:
    if features < 2:
        raise ValueError(f"features must be at least 2, got {features}")


def _check_rank(rank: int, features: int) -> None:
    if not 1 <= rank <= features:
        raise ValueError(f"rank must be between 1 and features={features}, got {rank}")


def circulant_multiply(c: Tensor, x: Tensor) -> Tensor:
    """``circ(c) x`` over the last axis of ``x``: the circular convolution ``c ⊛ x`` by the FFT."""
    n = x.shape[-1]
    return torch.fft.irfft(torch.fft.rfft(c, n=n) * torch.fft.rfft(x, n=n), n=n)


def skew_circulant_multiply(c: Tensor, x: Tensor) -> Tensor:
    """``Z₋₁(c) x`` over the last axis of ``x``, by the FFT.

    With ``D = diag(ω^k)``, ``ω = e^{iπ/N}``: ``Z₋₁(c) = D⁻¹ circ(Dc) D``.
    """
    n = x.shape[-1]
    angle = torch.arange(n, device=x.device, dtype=x.dtype) * (math.pi / n)
    omega = torch.polar(torch.ones_like(angle), angle)
    product = torch.fft.ifft(torch.fft.fft(c * omega) * torch.fft.fft(x * omega), n=n)
    return (product * omega.conj()).real


def hadamard_transform(x: Tensor) -> Tensor:
    """The unnormalised Walsh–Hadamard transform ``H_m x`` of the last axis (``m = 2^k``).

    ``H_{2m} = [[H_m, H_m], [H_m, −H_m]]`` (Sylvester's construction), computed by ``k``
    butterfly passes: ``O(m log m)``.
    """
    m = x.shape[-1]
    if m & (m - 1):
        raise ValueError(f"the Hadamard transform needs a power-of-two length, got {m}")
    shape = x.shape
    h = 1
    while h < m:
        pairs = x.reshape(*shape[:-1], m // (2 * h), 2, h)
        x = torch.stack(
            (pairs[..., 0, :] + pairs[..., 1, :], pairs[..., 0, :] - pairs[..., 1, :]), -2
        )
        h *= 2
    return x.reshape(shape)


def sylvester_hadamard(
    m: int, device: torch.device | None = None, dtype: torch.dtype | None = None
) -> Tensor:
    """The dense Walsh–Hadamard matrix ``H_m`` (``H_1 = [1]``, ``H_{2m} = H_2 ⊗ H_m``)."""
    if m < 1 or m & (m - 1):
        raise ValueError(f"a Sylvester Hadamard matrix needs a power-of-two order, got {m}")
    matrix = torch.ones(1, 1, device=device, dtype=dtype)
    block = torch.tensor([[1.0, 1.0], [1.0, -1.0]], device=device, dtype=dtype)
    while matrix.shape[0] < m:
        matrix = torch.kron(block, matrix)
    return matrix


def tridiagonal_multiply(bands: Tensor, v: Tensor) -> Tensor:
    """``A v`` for a tridiagonal-plus-corners ``A`` stored as ``bands`` of shape ``(3, N)``.

    ``bands[0]`` is the subdiagonal with the top-right corner first (``A[i, i−1 mod N]``),
    ``bands[1]`` the diagonal, ``bands[2]`` the superdiagonal with the bottom-left corner
    last (``A[i, i+1 mod N]``): ``(Av)_i = b₀ᵢ v_{i−1} + b₁ᵢ vᵢ + b₂ᵢ v_{i+1}`` (indices mod N).
    """
    return (
        bands[0] * torch.roll(v, 1, dims=-1) + bands[1] * v + bands[2] * torch.roll(v, -1, dims=-1)
    )


def tridiagonal_matrix(bands: Tensor) -> Tensor:
    """The dense ``N×N`` matrix of :func:`tridiagonal_multiply`'s ``bands``."""
    n = bands.shape[-1]
    rows = torch.arange(n, device=bands.device)
    matrix = bands.new_zeros(n, n)
    matrix[rows, (rows - 1) % n] += bands[0]
    matrix[rows, rows] += bands[1]
    matrix[rows, (rows + 1) % n] += bands[2]
    return matrix


def tridiagonal_krylov(bands: Tensor, v: Tensor) -> Tensor:
    """Krylov matrices ``K(A, v) = [v, Av, …, A^{N−1}v]`` for a batch ``v`` of shape ``(r, N)``.

    Returns ``(r, N, N)`` with ``K[i][:, k] = A^k vᵢ``: ``N`` tridiagonal products, ``O(rN²)``.
    """
    columns = [v]
    for _ in range(v.shape[-1] - 1):
        columns.append(tridiagonal_multiply(bands, columns[-1]))
    return torch.stack(columns, dim=-1)


class StructuredLinear(nn.Module):
    """Base class: a square structured matrix ``M`` acting as ``y = x Mᵀ`` on the last axis.

    Subclasses define ``forward`` (the fast path) and ``matrix()`` (the dense ``M``).
    """

    def __init__(self, features: int) -> None:
        super().__init__()
        _check_features(features)
        self.features = features

    def extra_repr(self) -> str:
        return f"features={self.features}"


class CirculantLinear(StructuredLinear):
    """``y = circ(c) x``: circular convolution with a learned ``c ∈ R^N`` (Cheng et al. 2015).

    ``N`` parameters; forward ``O(N log N)`` by the real FFT.
    """

    def __init__(self, features: int) -> None:
        super().__init__(features)
        self.weight = nn.Parameter(torch.empty(features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight, std=self.features**-0.5)

    def forward(self, x: Tensor) -> Tensor:
        return circulant_multiply(self.weight, x)

    def matrix(self) -> Tensor:
        n = self.features
        index = (torch.arange(n)[:, None] - torch.arange(n)[None, :]) % n
        return self.weight[index.to(self.weight.device)]


class LowRankLinear(StructuredLinear):
    """``y = G (Hᵀ x)`` with ``G, H ∈ R^{N×r}``: ``2rN`` parameters, ``O(rN)``."""

    def __init__(self, features: int, rank: int) -> None:
        super().__init__(features)
        _check_rank(rank, features)
        self.rank = rank
        self.left = nn.Parameter(torch.empty(features, rank))
        self.right = nn.Parameter(torch.empty(features, rank))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # entries of GHᵀ then have variance 1/N, like a fan-in-scaled dense layer
        std = (self.rank * self.features) ** -0.25
        nn.init.normal_(self.left, std=std)
        nn.init.normal_(self.right, std=std)

    def forward(self, x: Tensor) -> Tensor:
        return (x @ self.right) @ self.left.T

    def matrix(self) -> Tensor:
        return self.left @ self.right.T

    def extra_repr(self) -> str:
        return f"features={self.features}, rank={self.rank}"


class ToeplitzLikeLinear(StructuredLinear):
    """Toeplitz-like matrix of displacement rank ``r`` (Sindhwani et al. 2015).

    ``M`` solves ``Z₁M − MZ₋₁ = GHᵀ``; by Pan's formula ``M = ½ Σᵢ Z₁(gᵢ) Z₋₁(J hᵢ)``, so
    ``Mx`` is ``r`` skew-circulant and ``r`` circulant products: ``O(rN log N)``, ``2rN``
    parameters. ``r = 1``, ``G = 2e₀``, ``H = J c`` gives ``Z₋₁(c)``; every Toeplitz matrix
    has displacement rank at most 2.
    """

    def __init__(self, features: int, rank: int) -> None:
        super().__init__(features)
        _check_rank(rank, features)
        self.rank = rank
        self.left = nn.Parameter(torch.empty(rank, features))
        self.right = nn.Parameter(torch.empty(rank, features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # each entry of M sums r·N products: variance about 1/N
        std = (self.rank * self.features**2 / 4) ** -0.25
        nn.init.normal_(self.left, std=std)
        nn.init.normal_(self.right, std=std)

    def forward(self, x: Tensor) -> Tensor:
        inner = skew_circulant_multiply(self.right.flip(-1), x.unsqueeze(-2))
        return 0.5 * circulant_multiply(self.left, inner).sum(-2)

    def matrix(self) -> Tensor:
        n = self.features
        index = (torch.arange(n)[:, None] - torch.arange(n)[None, :]) % n
        index = index.to(self.left.device)
        sign = torch.where(index > torch.arange(n, device=index.device)[:, None], -1.0, 1.0)
        circulants = self.left[:, index]
        skews = self.right.flip(-1)[:, index] * sign.to(self.right.dtype)
        return 0.5 * torch.einsum("rij,rjk->ik", circulants, skews)

    def displacement(self) -> Tensor:
        """``Z₁M − MZ₋₁`` for the dense ``M`` (equals ``GHᵀ``; for tests)."""
        n = self.features
        shift = torch.roll(torch.eye(n, device=self.left.device, dtype=self.left.dtype), 1, 0)
        skew = shift.clone()
        skew[0, n - 1] = -1.0
        m = self.matrix()
        return shift @ m - m @ skew

    def extra_repr(self) -> str:
        return f"features={self.features}, rank={self.rank}"


class FastfoodLinear(StructuredLinear):
    """Adaptive Fastfood ``M = S Hₙ G Π Hₙ B / m`` (Le et al. 2013; Yang et al. 2015).

    ``S, G, B`` are learned diagonals (``3N`` parameters), ``Π`` a fixed random permutation
    (a buffer drawn from ``seed``) and ``Hₙ`` the Walsh–Hadamard matrix of order
    ``m = 2^⌈log₂ N⌉`` restricted to its leading ``N×N`` block: zero-pad to ``m``, transform
    by :func:`hadamard_transform`, keep the first ``N`` entries — ``O(m log m)``. For ``N`` a
    power of two this is Fastfood exactly; otherwise each diagonal still has ``N`` entries,
    which is the count ``3N`` of Thomas et al. 2018 (Table 3: 10,202 at ``N = 784``).
    """

    permutation: Tensor

    def __init__(self, features: int, seed: int = 0) -> None:
        super().__init__(features)
        self.seed = seed
        self.padded = 1 << (features - 1).bit_length()
        self.scale = nn.Parameter(torch.empty(features))
        self.gaussian = nn.Parameter(torch.empty(features))
        self.signs = nn.Parameter(torch.empty(features))
        generator = torch.Generator().manual_seed(seed)
        self.register_buffer("permutation", torch.randperm(features, generator=generator))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        generator = torch.Generator().manual_seed(self.seed + 1)
        with torch.no_grad():
            self.signs.copy_(torch.randint(0, 2, (self.features,), generator=generator) * 2 - 1)
            self.gaussian.normal_(generator=generator)
            chi = torch.randn(self.features, self.features, generator=generator).norm(dim=1)
            self.scale.copy_(chi / self.gaussian.norm())

    def _hadamard(self, x: Tensor) -> Tensor:
        padded = F.pad(x, (0, self.padded - self.features))
        return hadamard_transform(padded)[..., : self.features] / math.sqrt(self.padded)

    def forward(self, x: Tensor) -> Tensor:
        x = self._hadamard(self.signs * x)
        x = self._hadamard(self.gaussian * x[..., self.permutation])
        return self.scale * x

    def matrix(self) -> Tensor:
        hadamard = sylvester_hadamard(self.padded, self.scale.device)[
            : self.features, : self.features
        ]
        hadamard = hadamard / math.sqrt(self.padded)
        permutation = torch.eye(self.features, device=self.scale.device)[self.permutation]
        return (
            self.scale[:, None]
            * hadamard
            @ (self.gaussian[:, None] * permutation)
            @ (hadamard * self.signs[None, :])
        )

    def extra_repr(self) -> str:
        return f"features={self.features}, seed={self.seed}"


class LDRTridiagonalLinear(StructuredLinear):
    """LDR-TD: low displacement rank with learned tridiagonal-plus-corner operators.

    Thomas et al. 2018: operators ``A, B`` (each a tridiagonal matrix plus the two corners
    ``A[0, N−1]`` and ``A[N−1, 0]``: ``3N`` numbers) and ``G, H ∈ R^{N×r}`` define

        M = Σᵢ K(A, gᵢ) K(Bᵀ, hᵢ)ᵀ = Σ_{k<N} A^k G Hᵀ B^k,

    which satisfies the Stein equation ``M − AMB = GHᵀ − A^N GHᵀ B^N``: displacement rank
    ``r`` whenever ``A`` or ``B`` is nilpotent and at most ``2r`` always. ``6N + 2rN``
    parameters. Operators start as the shift ``Z₀`` (subdiagonal ones), as in Thomas et al.

    Cost: the Krylov bases are built by ``N`` tridiagonal products, ``O(rN²)`` per forward
    pass independent of the batch, then applied as two ``(N × rN)`` products per example,
    like the authors' implementation; their near-linear algorithm is not implemented.
    """

    def __init__(self, features: int, rank: int) -> None:
        super().__init__(features)
        _check_rank(rank, features)
        self.rank = rank
        self.operator_a = nn.Parameter(torch.empty(3, features))
        self.operator_b = nn.Parameter(torch.empty(3, features))
        self.left = nn.Parameter(torch.empty(rank, features))
        self.right = nn.Parameter(torch.empty(rank, features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            for bands in (self.operator_a, self.operator_b):
                bands.zero_()
                bands[0, 1:] = 1.0
        std = (self.rank * self.features**2) ** -0.25
        nn.init.normal_(self.left, std=std)
        nn.init.normal_(self.right, std=std)

    def krylov_bases(self) -> tuple[Tensor, Tensor]:
        """``K(A, gᵢ)`` and ``K(Bᵀ, hᵢ)``, each of shape ``(r, N, N)``."""
        transposed = torch.stack(
            (
                torch.roll(self.operator_b[2], 1, dims=-1),
                self.operator_b[1],
                torch.roll(self.operator_b[0], -1, dims=-1),
            )
        )
        return (
            tridiagonal_krylov(self.operator_a, self.left),
            tridiagonal_krylov(transposed, self.right),
        )

    def forward(self, x: Tensor) -> Tensor:
        krylov_a, krylov_b = self.krylov_bases()
        coefficients = torch.einsum("...j,rjk->...rk", x, krylov_b)
        return torch.einsum("rik,...rk->...i", krylov_a, coefficients)

    def matrix(self) -> Tensor:
        a = tridiagonal_matrix(self.operator_a)
        b = tridiagonal_matrix(self.operator_b)
        m = torch.zeros_like(a)
        term = self.left.T @ self.right
        for _ in range(self.features):
            m = m + term
            term = a @ term @ b
        return m

    def extra_repr(self) -> str:
        return f"features={self.features}, rank={self.rank}"
