"""CIFAR-10 LeNet, 10 epochs of Adam 1e-3 at batch 64: the seed course's pipeline against
course_utils, both in this one process.

* seed: ``ImageFolder`` (or torchvision's ``CIFAR10`` when its batches are in the data root)
  with per-image transforms, ``DataLoader(num_workers=2)``, the classic loop, the seed's
  ``Net`` in the default memory layout, ``torch.optim.Adam``.
* ours: :func:`load_cifar10` (uint8 tensors, decoded once and cached),
  :class:`TensorLoader` (whole-batch normalisation), :class:`LeNet` channels-last, fused Adam,
  :func:`fit`.

Times cover the training epochs (the test pass is timed separately). The last line printed is
one JSON object::

    python benchmarks/cifar_lenet.py                 # 10 epochs each (about 9 min on 2 CPU cores)
    python benchmarks/cifar_lenet.py --epochs 2      # quicker
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from course_utils.data.cifar import CIFAR10_MEAN, CIFAR10_STD, load_cifar10
from course_utils.models.cifar import LeNet
from course_utils.optim import make_adam
from course_utils.device import get_device, set_seed
from course_utils.training import evaluate, fit

from seedway import cifar_datasets, test_accuracy, train_epoch  # beside this script


class SeedNet(nn.Module):
    """The seed notebook's ``Net``, as written there (ReLU before each pool)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def seed_pipeline(epochs: int, seed: int, device: torch.device, workers: int) -> dict:
    tf = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(CIFAR10_MEAN, CIFAR10_STD)])
    train, test = cifar_datasets(tf)
    set_seed(seed)
    train_loader = DataLoader(train, batch_size=64, shuffle=True, num_workers=workers)
    test_loader = DataLoader(test, batch_size=1000, shuffle=False, num_workers=workers)
    model = SeedNet().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.perf_counter()
    for _ in range(epochs):
        train_epoch(model, train_loader, optimizer, device)
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    acc = test_accuracy(model, test_loader, device)
    return dict(seconds=train_seconds, eval_seconds=time.perf_counter() - start, acc=acc)


def our_pipeline(epochs: int, seed: int, device: torch.device) -> dict:
    start = time.perf_counter()
    train = load_cifar10(True, device=device, smoke=False)
    test = load_cifar10(False, device=device, smoke=False)
    load_seconds = time.perf_counter() - start
    set_seed(seed)
    model = LeNet().to(device)   # fit and evaluate choose the memory layout (channels-last here)
    optimizer = make_adam(model.parameters(), lr=1e-3)
    history = fit(model, train.loader(64, shuffle=True, seed=seed), optimizer, epochs, progress=False)
    start = time.perf_counter()
    acc = evaluate(model, test.loader(1000))["acc"]
    return dict(seconds=sum(history["seconds"]), eval_seconds=time.perf_counter() - start, acc=acc,
                load_seconds=load_seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the seed way")
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    device = get_device(args.device)
    seed_run = seed_pipeline(args.epochs, args.seed, device, args.workers)
    print(f"seed way:     {seed_run['seconds']:7.1f} s training, test acc {seed_run['acc']:.4f}", flush=True)
    ours = our_pipeline(args.epochs, args.seed, device)
    print(f"course_utils: {ours['seconds']:7.1f} s training, test acc {ours['acc']:.4f} "
          f"(data loaded in {ours['load_seconds']:.1f} s)", flush=True)
    print(json.dumps({
        "benchmark": "cifar_lenet", "device": str(device), "epochs": args.epochs, "seed": args.seed,
        "torch": torch.__version__, "threads": torch.get_num_threads(), "workers": args.workers,
        "seed_seconds": round(seed_run["seconds"], 2), "ours_seconds": round(ours["seconds"], 2),
        "ratio": round(ours["seconds"] / seed_run["seconds"], 4),
        "seed_acc": round(seed_run["acc"], 4), "ours_acc": round(ours["acc"], 4),
        "seed_eval_seconds": round(seed_run["eval_seconds"], 2),
        "ours_eval_seconds": round(ours["eval_seconds"], 2), "ours_load_seconds": round(ours["load_seconds"], 2),
    }))


if __name__ == "__main__":
    main()
