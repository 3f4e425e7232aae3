"""One training step of the plume regressor: the project's model against plain PyTorch (issue 11).

    python benchmarks/regressor.py [--batch 16] [--rollout 6] [--resolution 64]
                                   [--hidden 128] [--repeats 3] [--quick] [--out FILE.json]

A training step is what ``gmcnn train plumes-rotation/gm`` does per batch: a ``rollout``-step
autoregressive prediction from 10 input frames (20 channels), the mean squared error against
the target frames, the backward pass and one AdamW update. Two models with the same
parameters (checked to compute the same function) are timed in one process, one step of each
in turn, so that a busy machine slows both alike:

- **gmcnn**: ``GMCNNRegressor`` built from ``configs/plumes-rotation/gm.yaml`` (4 shared-kernel
  GMConv layers of ``hidden`` channels with output scaling, PReLU, residuals) as training
  runs it;
- **composition**: the same mathematics written in plain PyTorch: channel sum → circular
  3×3 ``conv2d`` from one channel to ``hidden`` → per-position scale → bias → PReLU →
  residual; 1×1 ``conv2d`` for the input projection and the head.

The report gives the median step of each, their ratio, and a *memory-traffic floor*: the
activation bytes a step must move at least (below), divided by the bandwidth of a large
``torch.add`` into an existing buffer, measured after every pair of steps (so under the same
load as the steps).

Floor, per layer application on ``(B, hidden, H, W)`` activations of ``A`` bytes: the
forward pass reads its input once and writes its output once (``2A``; the channel sum, the
3×3 stencil of one channel, scale, bias, PReLU and residual need nothing else of that size),
the backward pass reads the output gradient once and writes the input gradient once
(``2A``). The input projection writes one activation and its backward reads one (``2A``), the
head reads one and its backward writes one (``2A``). So a ``L``-layer model moves at least
``(4L + 4)·A`` bytes per rollout step; everything else (20-channel inputs, parameters) is
small. ``--quick`` is batch 4, rollout 2, for a check in seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gmcnn.experiments.config import load_config
from gmcnn.experiments.tasks import rollout
from gmcnn.models.registry import InputSpec, build_model
from gmcnn.nn import GMConv

FRAMES = 10  # input velocity fields (20 channels)


class PlainRegressor(nn.Module):
    """The regressor's mathematics in plain PyTorch, with the parameters of ``model``.

    Layer: ``s = Σ_c x_c`` → circular 3×3 ``conv2d`` from one channel → ``· scale(p)`` →
    ``+ b_o`` → PReLU → ``+ residual``. Needs shared mixing, radius 1, output scaling.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        convs: list[GMConv] = list(model.convs)  # type: ignore[arg-type]
        side = convs[0].signal.shape
        self.side = side
        self.stencils = nn.ParameterList()
        self.scales = nn.ParameterList()
        self.biases = nn.ParameterList()
        for conv in convs:
            if conv.channel_mixing != "shared" or conv.position_scale is None:
                raise ValueError("the plain composition needs shared mixing and output scaling")
            self.stencils.append(nn.Parameter(_stencil(conv)))
            scale = conv.position_scale.detach().clone().view(*side)
            self.scales.append(nn.Parameter(scale))
            assert conv.bias is not None
            self.biases.append(nn.Parameter(conv.bias.detach().clone().view(-1, 1, 1)))
        self.acts = nn.ModuleList(nn.PReLU() for _ in convs)
        for act, source in zip(self.acts, model.acts, strict=True):
            act.weight.data.copy_(source.weight.data)
        self.lift_weight = nn.Parameter(model.lift.weight.detach().clone()[..., None])
        self.lift_bias = nn.Parameter(model.lift.bias.detach().clone())
        self.head_weight = nn.Parameter(model.head.weight.detach().clone()[..., None])
        self.head_bias = nn.Parameter(model.head.bias.detach().clone())

    def forward(self, x: Tensor) -> Tensor:
        residual = F.conv2d(x, self.lift_weight, self.lift_bias)
        for stencil, scale, bias, act in zip(
            self.stencils, self.scales, self.biases, self.acts, strict=True
        ):
            s = F.pad(x.sum(dim=1, keepdim=True), (1, 1, 1, 1), mode="circular")
            x = act(F.conv2d(s, stencil) * scale + bias) + residual
            residual = x
        return F.conv2d(x, self.head_weight, self.head_bias)


def _stencil(conv: GMConv) -> Tensor:
    """The 3×3 cross-correlation stencil of a radius-1 kernel on ``C_n × C_m``.

    ``y(g) = Σ_k ψ(k) s(g − k)`` = ``Σ_d w[d] s(g + d)`` with ``w[1 − kᵢ, 1 − kⱼ] = ψ(k)``.
    """
    n, m = conv.signal.shape
    stencil = torch.zeros(conv.out_channels, 1, 3, 3, dtype=conv.weight.dtype)
    for index, label in enumerate(conv.kernel_elements.tolist()):
        ki, kj = divmod(int(label), m)
        ki, kj = (ki + 1) % n - 1, (kj + 1) % m - 1  # signed offsets in {-1, 0, 1}
        if abs(ki) > 1 or abs(kj) > 1:
            raise ValueError("the plain composition needs a 3×3 kernel (radius 1)")
        stencil[:, 0, 1 - ki, 1 - kj] = conv.weight.detach()[:, 0, index]
    return stencil


def training_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor, target: Tensor
) -> float:
    """Seconds of one training step: rollout, MSE, backward, AdamW."""
    start = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    prediction = rollout(model, x, target.shape[1])
    loss = F.mse_loss(prediction, target)
    loss.backward()  # type: ignore[no-untyped-call]
    optimizer.step()
    return time.perf_counter() - start


class Bandwidth:
    """Bytes per second of ``torch.add(a, b, out=c)`` on float32 tensors of one activation's
    size: two reads and one write per element, into a buffer that exists already (no page
    faults), the median of ``repeats`` additions each time it is measured."""

    def __init__(self, elements: int) -> None:
        self.a, self.b = torch.randn(elements), torch.randn(elements)
        self.c = torch.empty(elements)
        torch.add(self.a, self.b, out=self.c)

    def measure(self, repeats: int = 5) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            torch.add(self.a, self.b, out=self.c)
            times.append(time.perf_counter() - start)
        return 3 * 4 * self.c.numel() / statistics.median(times)


def run(args: argparse.Namespace) -> dict[str, Any]:
    torch.manual_seed(0)
    config = load_config("plumes-rotation/gm")
    options = dict(config.model.options)
    options["groups"] = [f"C{args.resolution}", f"C{args.resolution}"]
    options["hidden_channels"] = args.hidden
    if args.normalize:
        options["normalize"] = True
    size = (args.resolution, args.resolution)
    inputs = InputSpec("dynamics", 2 * FRAMES, size, 2)
    model = build_model(config.model.name, inputs, **options)
    with torch.no_grad():  # a trained-looking model: scales and slopes away from their init
        for conv in model.convs:
            conv.position_scale.uniform_(0.5, 1.5)
            conv.bias.uniform_(-0.1, 0.1)
    plain = PlainRegressor(model)
    x = torch.randn(args.batch, 2 * FRAMES, *size)
    target = torch.randn(args.batch, args.rollout, 2, *size)
    with torch.no_grad():
        expected, got = model(x[:2]), plain(x[:2])
        if not args.normalize and not torch.allclose(expected, got, rtol=1e-4, atol=1e-4):
            raise RuntimeError(
                f"the composition differs from the model: {(expected - got).abs().max():.3g}"
            )
    optimizers = {
        "gmcnn": torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0153),
        "composition": torch.optim.AdamW(plain.parameters(), lr=1e-3, weight_decay=0.0153),
    }
    models = {"gmcnn": model, "composition": plain}
    warmup = {}
    for name in models:  # the first step compiles (gmcnn) and warms the allocator
        warmup[name] = training_step(models[name], optimizers[name], x, target)
    activation = args.batch * args.hidden * size[0] * size[1] * 4
    layers = len(model.convs)
    floor_bytes = (4 * layers + 4) * activation * args.rollout
    meter = Bandwidth(activation // 4)
    times: dict[str, list[float]] = {name: [] for name in models}
    ratios, rates, over_floor = [], [], []
    for _ in range(args.repeats):  # a step of each, then the bandwidth: all under one load
        pair = {}
        for name in models:
            pair[name] = training_step(models[name], optimizers[name], x, target)
            times[name].append(pair[name])
        ratios.append(pair["gmcnn"] / pair["composition"])
        rates.append(meter.measure())
        over_floor.append(pair["gmcnn"] / (floor_bytes / rates[-1]))
    rate = statistics.median(rates)
    median = {name: statistics.median(t) for name, t in times.items()}
    return {
        "batch": args.batch,
        "rollout": args.rollout,
        "resolution": args.resolution,
        "hidden": args.hidden,
        "normalize": args.normalize,
        "threads": torch.get_num_threads(),
        "load_average": os.getloadavg(),
        "compile": os.environ.get("GMCNN_COMPILE", "1"),
        "warmup_seconds": warmup,
        "seconds": times,
        "median_seconds": median,
        "ratio_per_pair": ratios,
        "ratio_median_pair": statistics.median(ratios),
        "ratio_of_medians": median["gmcnn"] / median["composition"],
        "floor_bytes": floor_bytes,
        "bandwidth_bytes_per_second": rate,
        "bandwidth_per_pair": rates,
        "floor_seconds": floor_bytes / rate,
        "gmcnn_over_floor_per_pair": over_floor,
        "gmcnn_over_floor": statistics.median(over_floor),
        "machine": platform.processor() or platform.machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rollout", type=int, default=6)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--normalize", action="store_true", help="model.normalize=true")
    parser.add_argument("--quick", action="store_true", help="batch 4, rollout 2")
    parser.add_argument("--out", type=Path, help="also write the results as JSON")
    args = parser.parse_args()
    if args.quick:
        args.batch, args.rollout = 4, 2
    result = run(args)
    gb = 1e9
    print(
        f"training step, batch {result['batch']}, rollout {result['rollout']}, "
        f"{result['resolution']}×{result['resolution']}, {result['hidden']} channels, "
        f"{result['threads']} threads, load {result['load_average'][0]:.1f}, "
        f"GMCNN_COMPILE={result['compile']}"
    )
    for name, seconds in result["seconds"].items():
        listed = ", ".join(f"{s:.2f}" for s in seconds)
        print(f"  {name}: median {result['median_seconds'][name]:.2f} s ({listed})")
    print(
        f"  gmcnn / composition: {result['ratio_median_pair']:.2f} (median of interleaved "
        f"pairs: {', '.join(f'{r:.2f}' for r in result['ratio_per_pair'])})"
    )
    print(
        f"  traffic floor: {result['floor_bytes'] / gb:.2f} GB at "
        f"{result['bandwidth_bytes_per_second'] / gb:.1f} GB/s (median, measured after each pair)"
        f" = {result['floor_seconds']:.2f} s; gmcnn is {result['gmcnn_over_floor']:.1f}× the "
        "floor (median over pairs)"
    )
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
