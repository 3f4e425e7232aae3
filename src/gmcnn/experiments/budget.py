"""Wall-clock training budgets: ``gmcnn train|compare … --budget 20m``.

A budget is a duration such as ``90s``, ``20m``, ``1h`` or ``1h30m`` (units ``s``, ``m``,
``h``, ``d``; decimals allowed: ``1.5h``). It becomes the config key ``trainer.max_minutes``,
so it is recorded in the run's ``config.yaml`` and, for ``gmcnn compare``, is the same for
every method. Training stops after the first optimisation step at which the budget is spent
(Lightning's ``Trainer(max_time=…)``); validation of that epoch, the best checkpoint, the
test metrics and the equivariance error still follow, and ``trainer.max_epochs`` stays an
upper bound. Time counts from the first training step: loading data and building the model
are not charged, validation during training is.

``--resume`` continues with the *remaining* time: Lightning saves the training time spent
so far in every checkpoint, so all sessions of a run together get the budget once. A run
whose budget is spent ends at once when resumed (and is then evaluated again).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from gmcnn.experiments.config import ConfigError

#: Seconds per unit of a duration.
UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
BUDGET_KEY = "trainer.max_minutes"

_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([smhd])")


def parse_duration(text: str) -> float:
    """``"90s"`` → 90.0, ``"20m"`` → 1200.0, ``"1h30m"`` → 5400.0 (seconds).

    Raises :class:`~gmcnn.experiments.config.ConfigError` (one line, naming the text) when
    the text is not a sequence of ``<number><unit>`` parts or its total is not positive.
    """
    compact = str(text).strip().lower().replace(" ", "")
    position, total = 0, 0.0
    for match in _PART.finditer(compact):
        if match.start() != position:
            break
        total += float(match.group(1)) * UNITS[match.group(2)]
        position = match.end()
    if not compact or position != len(compact):
        raise ConfigError(
            f"--budget {text!r} is not a duration: expected a number with a unit s, m, h or "
            "d, e.g. 90s, 20m, 1h or 1h30m"
        )
    if not math.isfinite(total) or total <= 0:
        raise ConfigError(f"--budget {text!r} is not a positive duration (e.g. 90s, 20m, 1h)")
    return total


def format_duration(seconds: float) -> str:
    """``5400`` → ``"1h30m"``, ``90`` → ``"1m30s"``, ``7.5`` → ``"7.5s"``."""
    whole = int(seconds)
    if whole != seconds or whole < 60:
        return f"{seconds:g}s" if whole < 60 else f"{seconds / 60:g}m"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, whole = divmod(whole, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def budget_overrides(budget: str | None, overrides: Sequence[str]) -> list[str]:
    """``overrides`` with ``trainer.max_minutes=…`` appended for ``budget`` (``None``: as is).

    Raises :class:`ConfigError` for a bad duration, or when an override (``KEY=VALUE`` or
    ``METHOD:KEY=VALUE``) already sets ``trainer.max_minutes``: give one or the other.
    """
    if budget is None:
        return list(overrides)
    seconds = parse_duration(budget)
    for text in overrides:
        key = text.partition("=")[0].rpartition(":")[2].strip()
        if key == BUDGET_KEY:
            raise ConfigError(
                f"--budget {budget} and the override {text!r} both set the training budget; "
                "give one of them"
            )
    return [*overrides, f"{BUDGET_KEY}={seconds / 60!r}"]


def budget_seconds(max_minutes: float | None) -> float | None:
    """``trainer.max_minutes`` in seconds (``None`` for no budget)."""
    return None if max_minutes is None else max_minutes * 60.0


def budget_summary(trainer: Any, max_minutes: float | None) -> dict[str, Any]:
    """What a run's ``summary.json`` records of its budget (nothing without one).

    ``budget_seconds``; ``budget_used_seconds``, the training time Lightning's timer counted
    over all sessions of the run; ``stopped_by_budget``, whether that reached the budget.
    """
    seconds = budget_seconds(max_minutes)
    if seconds is None:
        return {}
    from lightning.pytorch.callbacks import Timer

    timers = [c for c in trainer.callbacks if isinstance(c, Timer)]
    used = float(timers[0].time_elapsed("train")) if timers else None
    return {
        "budget_seconds": seconds,
        "budget_used_seconds": used,
        "stopped_by_budget": used is not None and used >= seconds,
    }
