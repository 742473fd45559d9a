"""The smoke run's data (:func:`smoke_split`): a fixed subset, or announced stand-ins when absent."""

from __future__ import annotations

import sys
import zlib
from typing import Callable, TypeVar

import torch

from course_utils.data.download import DataMissingError
from course_utils.data.loader import ImageData
from course_utils.run import DataUse, note_data
from course_utils.settings import is_smoke

D = TypeVar("D")


def make_standin(dataset: str, n: int, shape: tuple[int, int, int], classes: list[str],
                 mean: tuple[float, ...], std: tuple[float, ...], seed: int = 0) -> ImageData:
    """``n`` uint8 images of ``shape``: a smooth template per class (the same in every split of
    ``dataset``) plus noise drawn with ``seed``, and labels."""
    c, h, w = shape
    templates_from = torch.Generator().manual_seed(zlib.crc32(dataset.encode()))
    coarse = torch.rand(len(classes), c, max(h // 4, 1), max(w // 4, 1), generator=templates_from)
    g = torch.Generator().manual_seed(seed)
    templates = torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear")
    labels = torch.arange(n) % len(classes)
    labels = labels[torch.randperm(n, generator=g)]
    noise = torch.rand(n, c, h, w, generator=g)
    images = (0.6 * templates[labels] + 0.4 * noise).mul(255).round().to(torch.uint8)
    return ImageData(images, labels, list(classes), mean, std, name=f"{dataset} (stand-in)", standin=True)


def smoke_split(read: Callable[[], D], *, dataset: str, split: str, smoke: bool | None, sizes: dict[str, int],
                standin: tuple, reason: Callable[[DataMissingError], str]) -> D | ImageData:
    """``read()``; in smoke mode a fixed subset of ``sizes[split]`` of it, or, when the data set is
    absent, an announced stand-in (``standin``: :func:`make_standin`'s shape, classes, mean, std)."""
    seed = 0 if split == "train" else 1
    smoke = is_smoke() if smoke is None else smoke
    try:
        data = read()
    except DataMissingError as exc:
        if not (smoke and exc.absent):
            raise
        why = reason(exc)
        print(f"!!! STAND-IN DATA: {dataset} not found ({why}); smoke mode uses GENERATED images with the "
              f"same shapes and classes. The numbers below say nothing about {dataset}. !!!",
              file=sys.stderr, flush=True)
        note_data(DataUse(dataset, "generated", standin=True, reason=why, course_data=False))
        return make_standin(dataset, sizes[split], *standin, seed=seed)
    return data.subset(sizes[split], seed=seed) if smoke else data
