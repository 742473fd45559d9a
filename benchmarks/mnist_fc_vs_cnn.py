"""MNIST, one epoch of FC and CNN: the plain per-image DataLoader way against course_utils.

Both pipelines train the same models with the same recipe (SGD lr 0.01, momentum 0.5,
batch 64, one epoch; test batch 1000) on the same data, for the same seeds, in this one
process, after one untimed warm-up run of each (``--warmup``). Times cover training and
testing. The last line printed is one JSON object::

    python benchmarks/mnist_fc_vs_cnn.py            # 3 seeds, full MNIST
    python benchmarks/mnist_fc_vs_cnn.py --seeds 1  # quicker
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from course_utils.data.mnist import MNIST_MEAN, MNIST_STD, load_mnist
from course_utils.models.mnist import CNN, FC2Layer
from course_utils.optim import make_sgd
from course_utils.settings import data_root
from course_utils.device import get_device, set_seed
from course_utils.training import evaluate, fit

from seedway import test_accuracy, train_epoch  # beside this script

MODELS = {"fc": FC2Layer, "cnn": CNN}


def seed_pipeline(model_name: str, seed: int, device: torch.device, workers: int) -> tuple[float, float]:
    """The classic tutorial loop: per-image ToTensor + Normalize in a DataLoader."""
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize(MNIST_MEAN, MNIST_STD)])
    train = datasets.MNIST(data_root(), train=True, download=True, transform=tf)
    test = datasets.MNIST(data_root(), train=False, transform=tf)
    set_seed(seed)
    train_loader = DataLoader(train, batch_size=64, shuffle=True, num_workers=workers)
    test_loader = DataLoader(test, batch_size=1000, shuffle=False, num_workers=workers)
    model = MODELS[model_name]().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
    start = time.perf_counter()
    train_epoch(model, train_loader, optimizer, device)
    acc = test_accuracy(model, test_loader, device)
    return time.perf_counter() - start, acc


def our_pipeline(model_name: str, seed: int, device: torch.device) -> tuple[float, float]:
    """course_utils: uint8 tensors on the device, whole-batch normalisation, fit/evaluate."""
    train, test = load_mnist(True, device=device, smoke=False), load_mnist(False, device=device, smoke=False)
    set_seed(seed)
    model = MODELS[model_name]().to(device)   # fit and evaluate choose the memory layout
    train_loader = train.loader(64, shuffle=True)
    test_loader = test.loader(1000)
    optimizer = make_sgd(model.parameters(), lr=0.01, momentum=0.5)
    start = time.perf_counter()
    fit(model, train_loader, optimizer, 1, progress=False)
    acc = evaluate(model, test_loader)["acc"]
    return time.perf_counter() - start, acc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers of the seed way")
    parser.add_argument("--device", default=None)
    parser.add_argument("--warmup", type=int, default=1,
                        help="untimed runs of each pipeline and model first (kernel set-up, caches)")
    args = parser.parse_args()
    device = get_device(args.device)
    for _ in range(args.warmup):
        for name in MODELS:
            seed_pipeline(name, 0, device, args.workers)
            our_pipeline(name, 0, device)
    rows = []
    for seed in range(args.seeds):
        for name in MODELS:
            s_sec, s_acc = seed_pipeline(name, seed, device, args.workers)
            o_sec, o_acc = our_pipeline(name, seed, device)
            rows.append(dict(seed=seed, model=name, seed_seconds=s_sec, seed_acc=s_acc,
                             ours_seconds=o_sec, ours_acc=o_acc))
            print(f"seed {seed} {name:3s}: seed way {s_sec:6.2f} s acc {s_acc:.4f} | "
                  f"course_utils {o_sec:6.2f} s acc {o_acc:.4f} | ratio {o_sec / s_sec:.3f}", flush=True)
    seed_total = sum(r["seed_seconds"] for r in rows)
    ours_total = sum(r["ours_seconds"] for r in rows)

    def mean(model: str, key: str) -> float:
        return statistics.mean(r[key] for r in rows if r["model"] == model)

    print(json.dumps({
        "benchmark": "mnist_fc_vs_cnn", "device": str(device), "seeds": args.seeds,
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "seed_seconds": round(seed_total, 3), "ours_seconds": round(ours_total, 3),
        "ratio": round(ours_total / seed_total, 4),
        "fc_acc": round(mean("fc", "ours_acc"), 4), "cnn_acc": round(mean("cnn", "ours_acc"), 4),
        "seed_fc_acc": round(mean("fc", "seed_acc"), 4), "seed_cnn_acc": round(mean("cnn", "seed_acc"), 4),
    }))


if __name__ == "__main__":
    main()
