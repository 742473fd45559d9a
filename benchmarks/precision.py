"""Which precision and memory layout train the CIFAR-10 VGG fastest on this device?

Times :func:`fit` over the same batches (GPU-resident uint8 CIFAR-10, crop and flip on the
batch) for each setting: float32 in the default layout and in channels-last, float16 autocast
with a gradient scaler, and bfloat16 autocast, both channels-last. The course's own choice
(:func:`~course_utils.runtime.mixed_precision_dtype` and
:func:`~course_utils.runtime.preferred_memory_format`) is marked, and every time is printed as a
ratio to it, so the choice can be checked on the machine in front of you (a T4 on Colab, a
Mac). The last line printed is one JSON object::

    python benchmarks/precision.py                 # 20 timed batches of 128
    python benchmarks/precision.py --batches 200   # on a GPU
"""

from __future__ import annotations

import argparse
import itertools
import json
from unittest import mock

import torch

from course_utils import training
from course_utils.data.augment import random_crop_flip
from course_utils.data.cifar import load_cifar10
from course_utils.models.cifar import VGG
from course_utils.optim import make_sgd
from course_utils.runtime import get_device, mixed_precision_dtype, preferred_memory_format, set_seed

SETTINGS = {  # name: (autocast dtype or None, memory format)
    "float32": (None, torch.contiguous_format),
    "float32 channels-last": (None, torch.channels_last),
    "float16+scaler channels-last": (torch.float16, torch.channels_last),
    "bfloat16 channels-last": (torch.bfloat16, torch.channels_last),
}


def time_setting(train, dtype: torch.dtype | None, layout: torch.memory_format, batches: int,
                 warmup: int, batch_size: int, seed: int, device: torch.device) -> dict:
    """Seconds for ``batches`` steps of :func:`fit` with the autocast dtype forced to ``dtype``."""
    set_seed(seed)
    model = VGG().to(device, memory_format=layout)
    optimizer = make_sgd(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    loader = train.loader(batch_size, shuffle=True, drop_last=True, augment=random_crop_flip,
                          memory_format=layout, seed=seed)
    batches_iter = iter(loader)
    with mock.patch.object(training, "mixed_precision_dtype", lambda _device: dtype):
        fit_args = dict(progress=False, amp=dtype is not None)
        training.fit(model, itertools.islice(batches_iter, warmup), optimizer, 1, **fit_args)
        history = training.fit(model, itertools.islice(batches_iter, batches), optimizer, 1, **fit_args)
    return {"seconds": history["seconds"][0], "train_loss": history["train_loss"][0],
            "skipped_steps": history["skipped_steps"][0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None)
    parser.add_argument("--settings", default=",".join(SETTINGS),
                        help="comma-separated names from: " + ", ".join(SETTINGS))
    args = parser.parse_args()
    device = get_device(args.device)
    chosen = (mixed_precision_dtype(device), preferred_memory_format(device, amp=True))
    train = load_cifar10(True, device=device, smoke=False)
    rows = {}
    for name in args.settings.split(","):
        dtype, layout = SETTINGS[name]
        rows[name] = time_setting(train, dtype, layout, args.batches, args.warmup,
                                  args.batch_size, args.seed, device)
        rows[name]["course_choice"] = (dtype, layout) == chosen
    base = next((r["seconds"] for r in rows.values() if r["course_choice"]), None)
    images = args.batches * args.batch_size
    for name, r in rows.items():
        ratio = f"{r['seconds'] / base:5.2f}x the course's choice" if base else ""
        mark = "  <- course_utils' choice" if r["course_choice"] else ""
        print(f"{name:30s} {r['seconds']:7.2f} s ({images / r['seconds']:8.1f} images/s, "
              f"loss {r['train_loss']:.3f}, {r['skipped_steps']} skipped) {ratio}{mark}", flush=True)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type
    print(json.dumps({"benchmark": "precision", "device": str(device), "device_name": name,
                      "batches": args.batches, "batch_size": args.batch_size,
                      "torch": torch.__version__, "results": rows}))


if __name__ == "__main__":
    main()
