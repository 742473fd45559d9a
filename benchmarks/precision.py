"""Which precision and memory layout train the CIFAR-10 VGG fastest on this device?

Times :func:`fit` over the same batches (GPU-resident uint8 CIFAR-10, crop and flip on the
batch) for each setting: float32 in the default layout and in channels-last, float16 autocast
with a gradient scaler, and bfloat16 autocast, both channels-last. The course's own choice
(:func:`~course_utils.device.mixed_precision_dtype` and
:func:`~course_utils.device.preferred_memory_format`) is marked, and every time is printed as a
ratio to it, so the choice can be checked on the machine in front of you (a T4 on Colab, a
Mac). The last line printed is one JSON object::

    python benchmarks/precision.py                 # 20 timed batches of 128
    python benchmarks/precision.py --batches 200   # on a GPU
"""

from __future__ import annotations

import argparse
import json

import torch

from course_utils.data.cifar import load_cifar10
from course_utils.device import get_device, mixed_precision_dtype, preferred_memory_format

from vgg_steps import add_step_arguments, time_steps  # beside this script

SETTINGS = {  # name: (autocast dtype or None, memory format)
    "float32": (None, torch.contiguous_format),
    "float32 channels-last": (None, torch.channels_last),
    "float16+scaler channels-last": (torch.float16, torch.channels_last),
    "bfloat16 channels-last": (torch.bfloat16, torch.channels_last),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_step_arguments(parser, batches=20)
    parser.add_argument("--settings", default=",".join(SETTINGS),
                        help="comma-separated names from: " + ", ".join(SETTINGS))
    args = parser.parse_args()
    device = get_device(args.device)
    chosen = (mixed_precision_dtype(device), preferred_memory_format(device, amp=True))
    train = load_cifar10(True, device=device, smoke=False)
    rows = {}
    for name in args.settings.split(","):
        dtype, layout = SETTINGS[name]
        rows[name] = time_steps(train, dtype, layout, args.batches, args.warmup,
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
