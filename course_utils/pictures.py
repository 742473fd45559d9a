"""Pictures for the lessons: image grids, training curves, and figures saved for slides."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from torch import Tensor

from course_utils.paths import figures_root
from course_utils.results import current_notebook


def to_display(
    images: Tensor, mean: Sequence[float] | None = None, std: Sequence[float] | None = None
) -> np.ndarray:
    """Images (N, C, H, W), uint8 or normalised float, -> float array (N, H, W, C) in 0..1."""
    x = images.detach().cpu()
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    elif mean is not None and std is not None:
        x = x.float() * torch.tensor(std).view(1, -1, 1, 1) + torch.tensor(mean).view(1, -1, 1, 1)
    return x.clamp(0, 1).permute(0, 2, 3, 1).numpy()


def show_images(
    images: Tensor,
    titles: Sequence[str] | None = None,
    *,
    ncols: int = 10,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    colors: Sequence[str] | None = None,
    size: float = 1.2,
    suptitle: str | None = None,
) -> Figure:
    """A grid of images with optional titles (and title colours, e.g. green/red for right/wrong).

    Float images are denormalised with ``mean``/``std`` when given.
    """
    pics = to_display(images, mean, std)
    n = len(pics)
    ncols = min(ncols, n)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.3 if titles else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        pic = pics[i]
        ax.imshow(pic[..., 0] if pic.shape[-1] == 1 else pic, cmap="gray" if pic.shape[-1] == 1 else None,
                  vmin=0, vmax=1)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=9, color=colors[i] if colors is not None else "black")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_curves(
    runs: Mapping[str, Mapping[str, list]],
    metric: str = "step_loss",
    *,
    smooth: int = 1,
    ax: plt.Axes | None = None,
    ylabel: str | None = None,
) -> Figure:
    """One curve per run (name -> history from :func:`course_utils.training.fit`) on one axes.

    ``metric`` is a history key: per-step ones (``step_loss``) are plotted against the step,
    per-epoch ones (``test_acc``) against the epoch. ``smooth`` averages over that many points.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.5))
    else:
        fig = ax.figure
    for name, history in runs.items():
        y = np.asarray(history[metric], dtype=float)
        if smooth > 1 and len(y) >= smooth:
            y = np.convolve(y, np.ones(smooth) / smooth, mode="valid")
        if metric.startswith("step_"):
            x = np.arange(len(y)) + (smooth if smooth > 1 else 1)
        else:
            x = np.asarray(history["epoch"][: len(y)])
        ax.plot(x, y, label=name, marker=None if metric.startswith("step_") else "o")
    ax.set_xlabel("step" if metric.startswith("step_") else "epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))   # no step 0.5, no epoch 1.04
    ax.set_ylabel(ylabel or metric.replace("_", " "))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def bar_chart(
    values: Mapping[str, Mapping[str, float]],
    errors: Mapping[str, Mapping[str, float]] | None = None,
    *,
    ylabel: str = "",
    ylim: tuple[float, float] | None = None,
) -> Figure:
    """Grouped bars: ``values[group][series]``, with optional error bars of the same layout;
    each bar is labelled with its value, and several series get a legend beside the axes."""
    groups = list(values)
    series = list(dict.fromkeys(s for g in groups for s in values[g]))
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(groups), 3.5))
    width = 0.8 / len(series)
    x = np.arange(len(groups))
    for i, s in enumerate(series):
        v = [values[g].get(s, np.nan) for g in groups]
        e = [errors[g].get(s, 0.0) for g in groups] if errors else None
        bars = ax.bar(x + (i - (len(series) - 1) / 2) * width, v, width, yerr=e, capsize=4, label=s)
        ax.bar_label(bars, fmt="%.3f", fontsize=8, padding=2)
    ax.set_xticks(x, groups)
    ax.set_ylabel(ylabel)
    if ylim:
        ax.set_ylim(*ylim)
    if len(series) > 1:   # beside the axes, where it hides no bar
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_confusion(confusion: Tensor | np.ndarray, classes: Sequence[str], *, title: str = "") -> Figure:
    """A confusion matrix (row = true class, column = guess) with the count in every cell."""
    counts = np.asarray(confusion.cpu() if isinstance(confusion, Tensor) else confusion)
    n = len(classes)
    if counts.shape != (n, n):
        raise ValueError(f"confusion matrix of shape {counts.shape} does not match {n} classes")
    fig, ax = plt.subplots(figsize=(1.5 + 0.4 * n, 1.2 + 0.4 * n))
    ax.imshow(counts, cmap="Blues")
    ax.set_xticks(range(n), classes, rotation=90)
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("guess")
    ax.set_ylabel("true class")
    if title:
        ax.set_title(title)
    dark = counts > counts.max() / 2
    for i in range(n):
        for j in range(n):
            ax.text(j, i, int(counts[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if dark[i, j] else "black")
    fig.tight_layout()
    return fig


def figures_dir(notebook: str | None = None) -> Path:
    """``<figures root>/<notebook>``: ``COURSE_FIGURES``, else ``build/figures`` (a student's
    own runs; ``build/smoke/figures`` in smoke mode). The instructor's build sets
    ``COURSE_FIGURES`` (see :func:`course_utils.paths.figures_root`)."""
    return figures_root() / (notebook or current_notebook())


def save_figure(fig: Figure, name: str, formats: Sequence[str] = ("png",), dpi: int = 150) -> list[Path]:
    """Write ``fig`` as ``figures/<notebook>/<name>.<fmt>`` for each format; return the paths.

    Set ``COURSE_FIGURE_FORMATS=png,svg`` to add SVGs everywhere.
    """
    env = os.environ.get("COURSE_FIGURE_FORMATS")
    formats = [f.strip() for f in env.split(",")] if env else list(formats)
    folder = figures_dir()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = folder / f"{name}.{fmt}"
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
        paths.append(path)
    return paths
