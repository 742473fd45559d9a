"""Pictures for the lessons: image grids, training curves, bar charts, confusion matrices and
line plots, each a function of plain data, drawn in one of the course's styles (``paper``, the
default, or ``slides``: 16:9, large fonts, thick lines; :func:`style`), and saved for slides.
"""

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

STYLE_DIR = Path(__file__).resolve().parent / "styles"


def style(name: str = "paper"):
    """Draw the figures made inside in style ``name`` (``"paper"`` or ``"slides"``): matplotlib's
    own ``plt.style.context`` with the course's sheet ``course_utils/styles/<name>.mplstyle``."""
    if name not in STYLES:
        raise ValueError(f"unknown style {name!r}; choose one of {', '.join(STYLES)}")
    return plt.style.context(STYLE_DIR / f"{name}.mplstyle")


def _whole_page() -> bool:
    """True in a style whose figures fill a 16:9 page (the slides' ``figure.figsize``)."""
    width, height = plt.rcParams["figure.figsize"]
    return abs(width / height - 16 / 9) < 0.01


def figsize(width: float, height: float) -> tuple[float, float]:
    """``(width, height)``; the style's own page (16:9) in a whole-page style (the slides)."""
    if _whole_page():
        return tuple(plt.rcParams["figure.figsize"])  # type: ignore[return-value]
    return width, height


def _small() -> float:
    """Font size for labels inside a plot (bar values, confusion counts, image titles)."""
    return 8 if plt.rcParams["font.size"] <= 12 else 14


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
    fig, axes = plt.subplots(nrows, ncols, squeeze=False,
                             figsize=figsize(size * ncols, size * nrows + (0.3 if titles else 0)))
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        pic = pics[i]
        ax.imshow(pic[..., 0] if pic.shape[-1] == 1 else pic, cmap="gray" if pic.shape[-1] == 1 else None,
                  vmin=0, vmax=1)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=_small() + 1, color=colors[i] if colors is not None else "black")
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
    title: str = "",
) -> Figure:
    """One curve per run (name -> history from :func:`course_utils.training.fit`) on one axes.

    ``metric`` is a history key: per-step ones (``step_loss``) are plotted against the step,
    per-epoch ones (``test_acc``) against the epoch. ``smooth`` averages over that many points.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize(6, 3.5))
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
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_lines(
    x: Sequence[float],
    lines: Mapping[str, Sequence[float]],
    *,
    xlabel: str = "",
    ylabel: str = "",
    title: str = "",
    marker: str | None = None,
    mark_x: float | None = None,
    logy: bool = False,
) -> Figure:
    """Several named lines over one ``x`` (e.g. learning rate against the step); ``mark_x``
    draws a vertical line there (the current choice of a widget, say)."""
    fig, ax = plt.subplots(figsize=figsize(6, 3.5))
    for name, y in lines.items():
        ax.plot(list(x)[: len(y)], list(y), label=name, marker=marker)
    if mark_x is not None:
        ax.axvline(mark_x, color="grey", linestyle="--", linewidth=1)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(lines) > 1:
        ax.legend()
    fig.tight_layout()
    return fig


def bar_chart(
    values: Mapping[str, Mapping[str, float]],
    errors: Mapping[str, Mapping[str, float]] | None = None,
    *,
    ylabel: str = "",
    ylim: tuple[float, float] | None = None,
    title: str = "",
    width: float | None = None,
    fmt: str = "%.3f",
) -> Figure:
    """Grouped bars: ``values[group][series]``, with optional error bars of the same layout;
    each bar is labelled with its value (``fmt``), and several series get a legend beside the
    axes. ``width`` is the figure's width in inches (default: by the number of groups)."""
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
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
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
    fig, ax = plt.subplots(figsize=figsize(1.5 + 0.4 * n, 1.2 + 0.4 * n))
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
            ax.text(j, i, int(counts[i, j]), ha="center", va="center", fontsize=_small() - 1,
                    color="white" if dark[i, j] else "black")
    fig.tight_layout()
    return fig


def show_feature_maps(image: Tensor, maps: Tensor, filters: Tensor | None = None, *, title: str = "") -> Figure:
    """One image, the filters of a conv layer (a row) and the feature maps they make of it
    (a row); maps and filters each on their own colour scale (blue negative, red positive)."""
    n = maps.shape[0]
    rows = 3 if filters is not None else 2
    fig, axes = plt.subplots(rows, n, figsize=figsize(1.3 * n, 1.35 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    pic = to_display(image.unsqueeze(0).clamp(0, 1))[0]
    axes[0, 0].imshow(pic[..., 0] if pic.shape[-1] == 1 else pic, cmap="gray", vmin=0, vmax=1)
    axes[0, 0].set_title("input", fontsize=_small() + 1)
    if filters is not None:
        for i in range(n):
            f = filters[i].numpy()
            limit = float(np.abs(f).max()) or 1.0
            axes[1, i].imshow(f, cmap="RdBu_r", vmin=-limit, vmax=limit)
            axes[1, i].set_title(f"filter {i + 1}", fontsize=_small())
    for i in range(n):
        m = maps[i].numpy()
        limit = float(np.abs(m).max()) or 1.0
        axes[rows - 1, i].imshow(m, cmap="RdBu_r", vmin=-limit, vmax=limit)
        axes[rows - 1, i].set_title(f"map {i + 1}", fontsize=_small())
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
            path = folder / f"{name}.{fmt}"
            fig.savefig(path, dpi=dpi, metadata=_METADATA[fmt])
            paths.append(path)
    return paths

