"""Cost of a model: trainable parameters and forward FLOPs per example (Tables 1–3)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, flop_registry

aten = torch.ops.aten


def parameter_count(model: nn.Module) -> int:
    """Number of trainable parameters (the counts of the paper's tables)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _transform_flops(signal: torch.Tensor, dims: Any, per_point: float) -> int:
    """``per_point · n log₂ n`` for each length-``n`` transform over ``dims`` of ``signal``."""
    n = math.prod(signal.shape[d] for d in dims)
    return 0 if n <= 1 else round(per_point * signal.numel() * math.log2(n))


def _fft_r2c(x: torch.Tensor, dim: Any, *_: Any, **__: Any) -> int:
    return _transform_flops(x, dim, 2.5)  # half a complex transform of the same length


def _fft_c2r(x: torch.Tensor, dim: Any, *_: Any, out_val: torch.Tensor, **__: Any) -> int:
    return _transform_flops(out_val, dim, 2.5)


def _fft_c2c(x: torch.Tensor, dim: Any, *_: Any, **__: Any) -> int:
    return _transform_flops(x, dim, 5.0)


def _complex_aware(packet: Any) -> Callable[..., int]:
    """PyTorch's formula for ``packet``, times 4 on complex operands (4 real products each)."""
    formula = flop_registry[packet]

    def count(*args: Any, out_val: Any = None, **kwargs: Any) -> int:
        flops = int(formula(*args, out_val=out_val, **kwargs))
        complex_operand = any(isinstance(a, torch.Tensor) and a.is_complex() for a in args)
        return 4 * flops if complex_operand else flops

    return count


def _custom_formulas() -> dict[Any, Callable[..., int]]:
    formulas: dict[Any, Callable[..., int]] = {
        aten._fft_r2c: _fft_r2c,
        aten._fft_c2r: _fft_c2r,
        aten._fft_c2c: _fft_c2c,
    }
    for packet in (aten.mm, aten.bmm, aten.addmm, aten.baddbmm):
        formulas[packet] = _complex_aware(packet)
    # In-place accumulation, as the gather path does it (PyTorch's counter skips these).
    formulas[aten.addmm_] = formulas[aten.addmm]
    formulas[aten.baddbmm_] = formulas[aten.baddbmm]
    for formula in formulas.values():
        formula._get_raw = True  # type: ignore[attr-defined]  # FlopCounterMode passes tensors
    return formulas


def flops_per_example(model: nn.Module, example: torch.Tensor) -> int:
    """Forward FLOPs of ``model`` on one example ``(C, …)``, by ``torch.utils.flop_counter``.

    Counts what PyTorch's counter knows — matrix products and convolutions, a multiply-add
    being 2 FLOPs — with complex products counted as 4 real ones, and FFTs (used by the
    circulant, Toeplitz-like and GMConv ``fft`` paths) as ``5 n log₂ n`` per complex
    transform of length ``n``, half that for real ones. Element-wise operations, gathers,
    normalisations and the Walsh–Hadamard butterflies of Fastfood (``m log₂ m`` additions)
    are not counted.
    """
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False, custom_mapping=_custom_formulas())
    try:
        with torch.no_grad(), counter:
            model(example.unsqueeze(0))
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())
