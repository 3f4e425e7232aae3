"""The rotation equivariance-test sets of the paper's App. E (after Wang et al. 2022, Fig. 4).

Ten data sets ``E_0 … E_9`` with a growing amount of rotational symmetry breaking. Set
``level`` combines four plumes that differ only in buoyancy strength — simulations
``1, 1+level, 1+2·level, 1+3·level`` of the equivariance recipe — the second, third and
fourth rotated by 90°, 180° and 270°. At level 0 the four are exact rotations of one plume
(a perfectly C₄-symmetric data set); higher levels break the symmetry more.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

LEVELS = range(10)


def level_simulations(level: int) -> tuple[str, ...]:
    """Keys of the four simulations of equivariance set ``level`` (0 … 9)."""
    if level not in LEVELS:
        raise ValueError(f"equivariance level {level} does not exist: choose 0 … 9")
    return tuple(str(1 + j * level) for j in range(4))


def rotate_velocity(field: torch.Tensor, quarter_turns: int) -> torch.Tensor:
    """Rotate velocity fields ``(..., 2, H, W)`` counter-clockwise by ``quarter_turns · 90°``.

    Components are ``(u_x, u_y)`` and the row index is ``y``: the rotated field is
    ``u'(p) = R u(R⁻¹ p)`` with ``R`` the rotation, so both the grid and the vectors turn.
    """
    turns = quarter_turns % 4
    rotated = torch.rot90(field, turns, dims=(-1, -2))
    ux, uy = rotated.unbind(dim=-3)
    for _ in range(turns):
        ux, uy = -uy, ux
    return torch.stack((ux, uy), dim=-3)


def compose_level(trajectories: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Rotate the ``j``-th of four trajectories by ``j`` quarter turns (``j = 0 … 3``)."""
    if len(trajectories) != 4:
        raise ValueError(f"an equivariance set needs 4 trajectories, got {len(trajectories)}")
    return [rotate_velocity(t, j) for j, t in enumerate(trajectories)]


def data_equivariance_error(trajectories: Sequence[torch.Tensor], skip: int = 10) -> float:
    """How far a level's unrotated plumes are from identical: Wang et al.'s data error.

    The mean over frames ``skip … T-2`` of ``(|d₁-d₂| + |d₁-d₃| + |d₁-d₄|) / 3``, for the four
    simulations before rotation; 0 for level 0.
    """
    if len(trajectories) != 4:
        raise ValueError(f"an equivariance set needs 4 trajectories, got {len(trajectories)}")
    first, *others = (t[skip:-1] for t in trajectories)
    total = torch.stack([(first - other).abs() for other in others]).sum(dim=0)
    return float(total.mean() / 3)
