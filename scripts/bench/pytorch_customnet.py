"""PyTorch CPU reference for the training-throughput target of docs/backends.md.

Trains edgeloom's customnet (training/arch/classic.ts: bias-free 3x3 conv -> BatchNorm -> ReLU
blocks of 32/64/128, max-pool after the first two, Dropout 0.5, Dense 6272 -> 10; 156,074
parameters) with Adam on random 28x28x1 batches, exactly as scripts/bench/train-speed.ts times the
TensorFlow.js back ends: warm-up steps excluded, the fastest of `--runs` rounds of `--steps` steps.
Prints one JSON line. Run by `train-speed.ts --pytorch PYTHON` when a Python with torch is given.
"""
import argparse
import json
import time

import torch
from torch import nn


def customnet() -> nn.Module:
    def block(cin: int, cout: int) -> list:
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    return nn.Sequential(
        *block(1, 32), nn.MaxPool2d(2),
        *block(32, 64), nn.MaxPool2d(2),
        *block(64, 128),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(6272, 10),
    )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="intra-op threads (0: torch's default)")
    a = p.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    net = customnet()
    # Counted as tfjs counts them: weights plus BatchNorm's moving mean and variance.
    params = sum(t.numel() for t in net.parameters()) + sum(b.numel() for n, b in net.named_buffers() if not n.endswith("num_batches_tracked"))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    xs = torch.rand(a.batch, 1, 28, 28)
    ys = torch.randint(0, 10, (a.batch,))
    net.train()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(net(xs), ys).backward()
        opt.step()

    for _ in range(a.warmup):
        step()
    best = float("inf")
    for _ in range(a.runs):
        start = time.perf_counter()
        for _ in range(a.steps):
            step()
        best = min(best, time.perf_counter() - start)
    print(json.dumps({
        "model": "customnet", "params": params, "backend": f"PyTorch {torch.__version__} CPU, {torch.get_num_threads()} thread{'' if torch.get_num_threads() == 1 else 's'} (reference)",
        "batch": a.batch, "steps": a.steps, "samplesPerSecond": a.batch * a.steps / best,
    }))


if __name__ == "__main__":
    main()
