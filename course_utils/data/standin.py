"""The smoke run's data, written once for every loader (:func:`smoke_split`): a fixed random
subset of each split, and generated stand-in data on machines without the real data set.

A stand-in is never used silently: :func:`announce` prints one loud line and notes it for the
notebook's record (:mod:`course_utils.data.provenance`), and the returned data has
``standin=True``. Only a data set that is entirely absent (a :class:`DataMissingError` with
``absent``) is replaced, and then every split; full mode never uses one.
"""

from __future__ import annotations

import sys
import zlib
from typing import Callable, TypeVar

import torch

from course_utils.data.errors import DataMissingError
from course_utils.data.loader import ImageData
from course_utils.data.provenance import DataUse, note


def announce(dataset: str, reason: str) -> None:
    """Print the one loud line that says the data is generated, not real, and note it."""
    print(
        f"!!! STAND-IN DATA: {dataset} not found ({reason}); smoke mode uses GENERATED images "
        f"with the same shapes and classes. The numbers below say nothing about {dataset}. !!!",
        file=sys.stderr,
        flush=True,
    )
    note(DataUse(dataset, "generated", standin=True, reason=reason, course_data=False))


def make_standin(
    dataset: str,
    n: int,
    shape: tuple[int, int, int],
    classes: list[str],
    mean: tuple[float, ...],
    std: tuple[float, ...],
    seed: int = 0,
) -> ImageData:
    """``n`` uint8 images of ``shape`` (C, H, W): a smooth random template per class plus noise,
    so a model can learn something from them in a smoke run. The templates depend only on
    ``dataset`` (every split of a stand-in shows the same classes); ``seed`` draws the labels
    and the noise of one split."""
    c, h, w = shape
    templates_from = torch.Generator().manual_seed(zlib.crc32(dataset.encode()))
    coarse = torch.rand(len(classes), c, max(h // 4, 1), max(w // 4, 1), generator=templates_from)
    g = torch.Generator().manual_seed(seed)
    templates = torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear")
    labels = torch.arange(n) % len(classes)
    labels = labels[torch.randperm(n, generator=g)]
    noise = torch.rand(n, c, h, w, generator=g)
    images = (0.6 * templates[labels] + 0.4 * noise).mul(255).round().to(torch.uint8)
    return ImageData(images, labels, list(classes), mean, std, name=f"{dataset} (stand-in)",
                     standin=True)


D = TypeVar("D")


def smoke_split(read: Callable[[], D], *, dataset: str, split: str, smoke: bool, sizes: dict[str, int],
                shape: tuple[int, int, int], classes: list[str], mean: tuple[float, ...],
                std: tuple[float, ...], reason: Callable[[DataMissingError], str]) -> D | ImageData:
    """``read()``, the real split (anything with ``subset(n, seed)``); in smoke mode a fixed
    random subset of ``sizes[split]`` of it, and, when the data set is entirely absent, a
    loudly announced stand-in of that size (``reason(error)`` says what was missing)."""
    seed = 0 if split == "train" else 1
    try:
        data = read()
    except DataMissingError as exc:
        if not (smoke and exc.absent):
            raise
        announce(dataset, reason(exc))
        return make_standin(dataset, sizes[split], shape, classes, mean, std, seed=seed)
    return data.subset(sizes[split], seed=seed) if smoke else data
