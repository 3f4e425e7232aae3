"""A stand-in for the PhiFlow simulation, shared by the plume data tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def stand_in_simulate(calls: list[str]) -> Callable[..., np.ndarray]:
    """``plumes.simulate`` replaced by random fields; records each simulation's key in
    ``calls`` and reports every step to ``on_step`` as the real one does."""

    def simulate(sim: Any, resolution: int, steps: int, on_step=None, engine="jit"):
        calls.append(sim.key)
        for _ in range(steps):
            if on_step is not None:
                on_step()
        rng = np.random.default_rng(len(sim.key) + 7 * len(calls))
        return rng.standard_normal((steps, 2, resolution, resolution)).astype(np.float32)

    return simulate


def interrupted_after_two(calls: list[str], simulate: Callable[..., np.ndarray]):
    """``simulate``, but Ctrl-C (``KeyboardInterrupt``) once two simulations have run."""

    def interrupted(sim: Any, resolution: int, steps: int, on_step=None, engine="jit"):
        if len(calls) == 2:
            raise KeyboardInterrupt
        return simulate(sim, resolution, steps, on_step)

    return interrupted
