"""The course's way of training the CIFAR-10 VGG, timed over a fixed number of batches: shared by
``cifar_vgg.py`` (against the seed course's way) and ``precision.py`` (one run per precision and
memory layout)."""

from __future__ import annotations

import argparse
import itertools
from unittest import mock

import torch

from course_utils import training
from course_utils.data.augment import random_crop_flip
from course_utils.models.cifar import VGG
from course_utils.optim import make_sgd
from course_utils.device import set_seed


def add_step_arguments(parser: argparse.ArgumentParser, *, batches: int) -> None:
    """The options both scripts take: how many batches, of what size, after how many untimed."""
    parser.add_argument("--batches", type=int, default=batches)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None)


def time_steps(train, dtype: torch.dtype | None, layout: torch.memory_format, batches: int,
               warmup: int, batch_size: int, seed: int, device: torch.device) -> dict:
    """Seconds for ``batches`` steps of :func:`fit` (after ``warmup`` untimed ones) on ``train``
    (GPU-resident uint8, crop and flip on the batch) with fit's choices forced: the autocast
    dtype to ``dtype`` (None: float32), the memory layout of model and batches to ``layout``."""
    set_seed(seed)
    model = VGG().to(device)
    optimizer = make_sgd(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    loader = train.loader(batch_size, shuffle=True, drop_last=True, augment=random_crop_flip, seed=seed)
    batches_iter = iter(loader)
    with mock.patch.object(training, "mixed_precision_dtype", lambda _device: dtype), \
            mock.patch.object(training, "preferred_memory_format", lambda _device, _amp=False: layout):
        fit_args = dict(progress=False, amp=dtype is not None)
        training.fit(model, itertools.islice(batches_iter, warmup), optimizer, 1, **fit_args)
        history = training.fit(model, itertools.islice(batches_iter, batches), optimizer, 1, **fit_args)
    return {"seconds": history["seconds"][0], "train_loss": history["train_loss"][0],
            "skipped_steps": history["skipped_steps"][0]}
