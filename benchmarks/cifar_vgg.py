"""CIFAR-10 VGG, a fixed number of training batches with the crop-and-flip augmentation: the
seed course's per-image pipeline against course_utils, both in this one process.

* seed: ``ImageFolder`` (or torchvision's ``CIFAR10``) with per-image PIL transforms
  (``RandomCrop(32, padding=4)``, ``RandomHorizontalFlip``, to tensor, normalise),
  ``DataLoader(num_workers=2)``, the classic loop, the model in the default memory layout.
* ours: uint8 tensors on the device, :func:`random_crop_flip` on whole batches, channels-last,
  fused SGD, :func:`fit` (bfloat16 autocast on CUDA and on CPUs with bfloat16 instructions).

Same model (:class:`VGG`), same SGD-Nesterov settings, same batch size. ``--warmup`` batches
are run first and not timed (DataLoader workers start there). On this 2-core CPU the VGG step
is compute-bound, so only the loader's share can go; on a GPU the per-image loader is the
bottleneck. The last line printed is one JSON object::

    python benchmarks/cifar_vgg.py                    # 40 timed batches of 128
    python benchmarks/cifar_vgg.py --batches 400      # on a GPU
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

import torch
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from course_utils.data.cifar import CIFAR10_MEAN, CIFAR10_STD, load_cifar10
from course_utils.models.cifar import VGG
from course_utils.device import get_device, mixed_precision_dtype, preferred_memory_format, set_seed, synchronize

from seedway import cifar_datasets, train_epoch  # beside this script
from vgg_steps import add_step_arguments, time_steps  # beside this script


def seed_pipeline(batches: int, warmup: int, batch_size: int, seed: int, device: torch.device,
                  workers: int) -> float:
    tf = v2.Compose([v2.RandomCrop(32, padding=4), v2.RandomHorizontalFlip(), v2.ToImage(),
                     v2.ToDtype(torch.float32, scale=True), v2.Normalize(CIFAR10_MEAN, CIFAR10_STD)])
    train, _ = cifar_datasets(tf)
    set_seed(seed)
    loader = DataLoader(train, batch_size=batch_size, shuffle=True, num_workers=workers,
                        pin_memory=device.type == "cuda", drop_last=True)
    model = VGG().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    batches_iter = iter(loader)
    train_epoch(model, itertools.islice(batches_iter, warmup), optimizer, device)
    synchronize(device)
    start = time.perf_counter()
    train_epoch(model, itertools.islice(batches_iter, batches), optimizer, device)
    synchronize(device)
    return time.perf_counter() - start


def our_pipeline(batches: int, warmup: int, batch_size: int, seed: int, device: torch.device) -> float:
    """The course's way, with the course's own choices: bfloat16 autocast where it pays (CUDA,
    CPUs with bfloat16 instructions), channels-last where it pays."""
    train = load_cifar10(True, device=device, smoke=False)
    dtype, layout = mixed_precision_dtype(device), preferred_memory_format(device, amp=True)
    return time_steps(train, dtype, layout, batches, warmup, batch_size, seed, device)["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_step_arguments(parser, batches=40)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the seed way")
    args = parser.parse_args()
    device = get_device(args.device)
    images = args.batches * args.batch_size
    s = seed_pipeline(args.batches, args.warmup, args.batch_size, args.seed, device, args.workers)
    print(f"seed way:     {s:7.1f} s for {images} images ({images / s:7.1f} images/s)", flush=True)
    o = our_pipeline(args.batches, args.warmup, args.batch_size, args.seed, device)
    print(f"course_utils: {o:7.1f} s for {images} images ({images / o:7.1f} images/s)", flush=True)
    print(json.dumps({
        "benchmark": "cifar_vgg", "device": str(device), "batches": args.batches,
        "batch_size": args.batch_size, "torch": torch.__version__, "threads": torch.get_num_threads(),
        "workers": args.workers, "seed_seconds": round(s, 2), "ours_seconds": round(o, 2),
        "ratio": round(o / s, 4), "seed_images_per_s": round(images / s, 1),
        "ours_images_per_s": round(images / o, 1),
    }))


if __name__ == "__main__":
    main()
