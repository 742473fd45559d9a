"""Pictures for the lessons, each a function of plain data, drawn in one of the course's styles
(``paper``, the default, or ``slides``: 16:9, large fonts; :func:`style`), and saved for slides."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from torch import Tensor

from course_utils.settings import STYLES, figure_formats


def style(name: str = "paper"):
    """Draw the figures made inside in the course's style sheet ``styles/<name>.mplstyle``."""
    if name not in STYLES:
        raise ValueError(f"unknown style {name!r}; choose one of {', '.join(STYLES)}")
    return plt.style.context(Path(__file__).resolve().parent / "styles" / f"{name}.mplstyle")


def figsize(width: float, height: float) -> tuple[float, float]:
    """``(width, height)``; the style's own page in a whole-page (16:9) style, the slides."""
    page = tuple(plt.rcParams["figure.figsize"])
    return page if abs(page[0] / page[1] - 16 / 9) < 0.01 else (width, height)  # type: ignore[return-value]


def _small() -> float:   # labels inside a plot: bar values, confusion counts, image titles
    return 8 if plt.rcParams["font.size"] <= 12 else 14


def _finish(fig: Figure, ax: plt.Axes, xlabel: str, ylabel: str, title: str, legend: bool = False,
            grid: str | None = "both") -> Figure:
    """Label the axes, add the title, grid and legend, and lay the figure out."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if grid:
        ax.grid(axis=grid, alpha=0.3)
    if legend:
        ax.legend()
    fig.tight_layout()
    return fig


def to_display(images: Tensor, mean: Sequence[float] | None = None, std: Sequence[float] | None = None
               ) -> np.ndarray:
    """Images (N, C, H, W), uint8 or normalised float -> float array (N, H, W, C) in 0..1."""
    x = images.detach().cpu()
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    elif mean is not None and std is not None:
        x = x.float() * torch.tensor(std).view(1, -1, 1, 1) + torch.tensor(mean).view(1, -1, 1, 1)
    return x.clamp(0, 1).permute(0, 2, 3, 1).numpy()


def show_images(images: Tensor, titles: Sequence[str] | None = None, *, ncols: int = 10,
                mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                colors: Sequence[str] | None = None, size: float = 1.2,
                suptitle: str | None = None) -> Figure:
    """A grid of images (float ones denormalised with ``mean``/``std``), titles in ``colors``."""
    pics = to_display(images, mean, std)
    n = len(pics)
    ncols = min(ncols, n)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, squeeze=False,
                             figsize=figsize(size * ncols, size * nrows + (0.3 if titles else 0)))
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(pics[i][..., 0] if pics.shape[-1] == 1 else pics[i], cmap="gray", vmin=0, vmax=1)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=_small() + 1,
                         color=colors[i] if colors is not None else "black")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_curves(runs: Mapping[str, Mapping[str, list]], metric: str = "step_loss", *, smooth: int = 1,
                ylabel: str | None = None) -> Figure:
    """One curve of ``metric`` per run (name -> ``fit``'s history) against the step or epoch."""
    fig, ax = plt.subplots(figsize=figsize(6, 3.5))
    per_step = metric.startswith("step_")
    for name, history in runs.items():
        y = np.asarray(history[metric], dtype=float)
        if smooth > 1 and len(y) >= smooth:
            y = np.convolve(y, np.ones(smooth) / smooth, mode="valid")
        x = (np.arange(len(y)) + (smooth if smooth > 1 else 1) if per_step
             else np.asarray(history["epoch"][: len(y)]))
        ax.plot(x, y, label=name, marker=None if per_step else "o")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))   # no step 0.5, no epoch 1.04
    return _finish(fig, ax, "step" if per_step else "epoch", ylabel or metric.replace("_", " "), "", True)


def plot_lines(x: Sequence[float], lines: Mapping[str, Sequence[float]], *, xlabel: str = "",
               ylabel: str = "", title: str = "", marker: str | None = None,
               mark_x: float | None = None) -> Figure:
    """Named lines over one ``x``; ``mark_x`` draws a vertical line there (a widget's choice)."""
    fig, ax = plt.subplots(figsize=figsize(6, 3.5))
    for name, y in lines.items():
        ax.plot(list(x)[: len(y)], list(y), label=name, marker=marker)
    if mark_x is not None:
        ax.axvline(mark_x, color="grey", linestyle="--", linewidth=1)
    return _finish(fig, ax, xlabel, ylabel, title, len(lines) > 1)


def bar_chart(values: Mapping[str, Mapping[str, float]],
              errors: Mapping[str, Mapping[str, float]] | None = None, *, ylabel: str = "",
              ylim: tuple[float, float] | None = None, title: str = "", width: float | None = None,
              fmt: str = "%.3f") -> Figure:
    """Grouped bars ``values[group][series]`` labelled with their value, optional error bars alike."""
    groups = list(values)
    series = list(dict.fromkeys(s for g in groups for s in values[g]))
    fig, ax = plt.subplots(figsize=figsize(width or 1.6 + 1.4 * len(groups), 3.5))
    bar = 0.8 / len(series)
    x = np.arange(len(groups))
    for i, s in enumerate(series):
        v = [values[g].get(s, np.nan) for g in groups]
        e = [errors[g].get(s, 0.0) for g in groups] if errors else None
        bars = ax.bar(x + (i - (len(series) - 1) / 2) * bar, v, bar, yerr=e, capsize=4, label=s)
        ax.bar_label(bars, fmt=fmt, fontsize=_small(), padding=2)
    ax.set_xticks(x, groups)
    if ylim:
        ax.set_ylim(*ylim)
    if len(series) > 1:   # beside the axes, where it hides no bar
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return _finish(fig, ax, "", ylabel, title, grid="y")


def plot_confusion(confusion: Tensor | np.ndarray, classes: Sequence[str], *, title: str = "") -> Figure:
    """A confusion matrix (row = true class, column = guess) with the count in every cell."""
    counts = np.asarray(confusion.cpu() if isinstance(confusion, Tensor) else confusion)
    n = len(classes)
    if counts.shape != (n, n):
        raise ValueError(f"confusion matrix of shape {counts.shape} does not match {n} classes")
    fig, ax = plt.subplots(figsize=figsize(1.5 + 0.4 * n, 1.2 + 0.4 * n))
    ax.imshow(counts, cmap="Blues")
    ax.set_xticks(range(n), classes, rotation=90)
    ax.set_yticks(range(n), classes)
    dark = counts > counts.max() / 2
    for i in range(n):
        for j in range(n):
            ax.text(j, i, int(counts[i, j]), ha="center", va="center", fontsize=_small() - 1,
                    color="white" if dark[i, j] else "black")
    return _finish(fig, ax, "guess", "true class", title, grid=None)


def show_feature_maps(image: Tensor, maps: Tensor, filters: Tensor, *, title: str = "") -> Figure:
    """One image, a conv layer's filters and the maps they make of it (blue negative, red positive)."""
    n = maps.shape[0]
    fig, axes = plt.subplots(3, n, figsize=figsize(1.3 * n, 1.35 * 3), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    pic = to_display(image.unsqueeze(0).clamp(0, 1))[0]
    axes[0, 0].imshow(pic[..., 0] if pic.shape[-1] == 1 else pic, cmap="gray", vmin=0, vmax=1)
    axes[0, 0].set_title("input", fontsize=_small() + 1)
    for row, (name, data) in enumerate([("filter", filters), ("map", maps)], start=1):
        for i in range(n):
            a = data[i].numpy()
            limit = float(np.abs(a).max()) or 1.0
            axes[row, i].imshow(a, cmap="RdBu_r", vmin=-limit, vmax=limit)
            axes[row, i].set_title(f"{name} {i + 1}", fontsize=_small())
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


#: No dates or versions in the files, so the same figure gives the same bytes.
_METADATA = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None},
             "pdf": {"CreationDate": None, "Creator": None, "Producer": None}}


def write_figure(fig: Figure, folder: Path, name: str, formats: Sequence[str] | None = None,
                 dpi: int = 150) -> list[Path]:
    """Write ``fig`` as ``folder/<name>.<fmt>`` for each format; return the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    with plt.rc_context({"svg.hashsalt": "course_utils"}):   # stable ids: same figure, same SVG
        for fmt in figure_formats(formats):   # the style sheet says savefig.bbox
            paths.append(folder / f"{name}.{fmt}")
            fig.savefig(paths[-1], dpi=dpi, metadata=_METADATA[fmt])
    return paths
