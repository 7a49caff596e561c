"""The benchmark's training steps in PyTorch on the CPU, for comparison with `make bench`.

Not part of bprop (PyTorch is not a dependency): run it with any Python that has torch, e.g.
``python benchmarks/torch_baseline.py``. It times the same work as benchmarks/bench.py: whole
steps (gather a shuffled batch, forward, softmax cross-entropy, backward, optimizer step) of
784-256-128-10 ReLU at batch 128 and 1024 with Adam, and of 64-128-64-10 at batch 1 with SGD and
Adam, float32, medians over epochs after the first.
"""

from __future__ import annotations

import itertools
import statistics
import time

import torch


def seconds_per_step(sizes: list[int], batch: int, optimizer: str, n: int, epochs: int) -> float:
    torch.manual_seed(0)
    layers: list[torch.nn.Module] = []
    for k, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(torch.nn.Linear(fan_in, fan_out))
        if k < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    params = model.parameters()
    opt = (
        torch.optim.Adam(params, lr=1e-3)
        if optimizer == "adam"
        else torch.optim.SGD(params, lr=1e-3)
    )
    loss_fn = torch.nn.CrossEntropyLoss()
    X, y = torch.randn(n, sizes[0]), torch.randint(0, sizes[-1], (n,))
    steps = n // batch
    per_epoch = []
    for _ in range(epochs + 1):
        order = torch.randperm(n)
        start = time.perf_counter()
        for k in range(steps):
            idx = order[k * batch : (k + 1) * batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(X[idx]), y[idx])
            loss.backward()
            opt.step()
            loss.item()
        per_epoch.append((time.perf_counter() - start) / steps)
    return statistics.median(per_epoch[1:])


def main() -> None:
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
    for batch in (128, 1024):
        t = seconds_per_step([784, 256, 128, 10], batch, "adam", 16 * 1024, 7)
        print(
            f"784-256-128-10 Adam, batch {batch:>4}: {t * 1e3:7.3f} ms/step "
            f"{batch / t:>10,.0f} samples/s"
        )
    for optimizer in ("sgd", "adam"):
        t = seconds_per_step([64, 128, 64, 10], 1, optimizer, 2000, 5)
        print(f"64-128-64-10 {optimizer:>4}, batch 1: {t * 1e6:7.1f} µs/step")


if __name__ == "__main__":
    main()
