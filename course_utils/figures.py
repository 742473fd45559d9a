"""Figures that can be redrawn in seconds, without data or training: saved runs.

A notebook makes each figure with :func:`figure`: it names a drawing function of
:mod:`course_utils.plots` (``kind``) and hands it plain data (training histories, confusion
matrices, small tables, a few thumbnails). The data is kept, JSON-encoded, in the notebook's
saved run ``<results>/<notebook>.runs.json``, and the figure is drawn *from the kept data*, so
``python -m course_utils.instructor --figures-only`` (:func:`redraw`) gives the same figure, pixel
for pixel, in any style or format.

Why JSON: the files are small (a few hundred kB per notebook: histories and tables, with
image thumbnails as PNG), safe to load (no pickle), readable, versioned by a ``version`` field,
and diff well in git.
"""

from __future__ import annotations

import base64
import io
import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image
from torch import Tensor

from course_utils import plots
from course_utils.files import remove, remove_stale_temporaries, temporary_name
from course_utils.results import current_notebook, results_dir, write_json

FORMAT, VERSION = "course_utils.runs", 1
#: The drawing functions a saved run may name.
KINDS: dict[str, Callable[..., Figure]] = {
    "images": plots.show_images,
    "curves": plots.plot_curves,
    "lines": plots.plot_lines,
    "bars": plots.bar_chart,
    "confusion": plots.plot_confusion,
    "feature_maps": plots.show_feature_maps,
}
#: Thumbnails are kept at most this many pixels on a side.
THUMBNAIL = 160
_figures: dict[str, dict[str, dict]] = {}   # notebook -> figure name -> spec


class RunsError(ValueError):
    """A saved run is missing, damaged, or of another format version."""


# ------------------------------------------------------------------------------ encoding
def _png(image: Tensor) -> str:
    array = image.permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(array[..., 0] if array.shape[2] == 1 else array).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _unpng(text: str) -> Tensor:
    array = np.asarray(Image.open(io.BytesIO(base64.b64decode(text))))
    array = array[..., None] if array.ndim == 2 else array
    return torch.from_numpy(array.copy()).permute(2, 0, 1)


def encode(value: Any) -> Any:
    """``value`` as JSON-ready data: uint8 image batches as PNGs, other tensors and arrays as
    lists with their dtype and shape; dicts, lists, numbers and strings as they are."""
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if isinstance(value, Tensor):
        value = value.detach().cpu()
        if value.dtype == torch.uint8 and value.dim() == 4:
            return {"__images__": [_png(img) for img in value]}
        return {"__tensor__": str(value.dtype).removeprefix("torch."), "shape": list(value.shape),
                "data": value.flatten().tolist()}
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.device):
        return str(value)
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise TypeError(f"a saved run holds plain data; got {type(value).__name__}")


def decode(value: Any) -> Any:
    """The inverse of :func:`encode`."""
    if isinstance(value, dict):
        if "__images__" in value:
            return torch.stack([_unpng(t) for t in value["__images__"]])
        if "__tensor__" in value:
            return torch.tensor(value["data"], dtype=getattr(torch, value["__tensor__"])).view(value["shape"])
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def thumbnails(images: Tensor, mean=None, std=None, size: int = THUMBNAIL) -> Tensor:
    """Images for a saved run: uint8 (denormalised with ``mean``/``std`` when float), and at
    most ``size`` pixels on a side."""
    if images.dtype != torch.uint8:
        images = torch.from_numpy((plots.to_display(images, mean, std) * 255).round().astype(np.uint8))
        images = images.permute(0, 3, 1, 2)
    images = images.detach().cpu()
    h, w = images.shape[2:]
    if max(h, w) > size:
        from torchvision.transforms.v2 import functional as TF

        images = TF.resize(images, [round(h * size / max(h, w)), round(w * size / max(h, w))], antialias=True)
    return images.contiguous()


# ------------------------------------------------------------------------------ drawing
def draw(spec: dict) -> Figure:
    """The figure a spec describes (``{"kind", "data", ...}``), in the current style."""
    kind = spec["kind"]
    if kind not in KINDS:
        raise RunsError(f"a saved figure of unknown kind {kind!r} (known: {', '.join(KINDS)})")
    return KINDS[kind](**decode(spec["data"]))


def figure(name: str, kind: str, *, caption: str, **data) -> Figure:
    """Draw figure ``name`` with the :data:`KINDS` function ``kind`` from ``data``, save it (as
    :func:`~course_utils.plots.save_figure` does) and keep its data in the notebook's saved
    run. Image batches are kept as thumbnails (:func:`thumbnails`); the figure is drawn from
    exactly what is kept, so a redraw gives the same picture. ``caption`` says what it shows
    (for the gallery)."""
    if kind not in KINDS:
        raise ValueError(f"unknown figure kind {kind!r}; choose one of {', '.join(KINDS)}")
    if kind == "images":
        data["images"] = thumbnails(data["images"], data.pop("mean", None), data.pop("std", None))
    spec = {"kind": kind, "caption": caption, "data": json.loads(json.dumps(encode(data)))}
    with plots.style(os.environ.get("COURSE_FIGURE_STYLE", "paper")):
        fig = draw(spec)
        plots.save_figure(fig, name)
    notebook = current_notebook()
    _figures.setdefault(notebook, {})[name] = spec
    save_runs(notebook)
    return fig


def runs_path(notebook: str | None = None, directory: Path | None = None) -> Path:
    return (directory or results_dir()) / f"{notebook or current_notebook()}.runs.json"


def save_runs(notebook: str | None = None) -> Path:
    """Write the notebook's saved run (every figure made so far) atomically."""
    from course_utils.results import _state
    from course_utils.settings import mode

    notebook = notebook or current_notebook()
    return write_json(runs_path(notebook), {
        "format": FORMAT, "version": VERSION, "notebook": notebook, "mode": mode(),
        "device": _state.get("device") or "unknown", "torch": torch.__version__,
        "recorded": time.strftime("%Y-%m-%d %H:%M:%S"), "figures": _figures.get(notebook, {})})


def load_runs(path: Path) -> dict:
    """A saved run, checked: :class:`RunsError` when it is missing, damaged or of another
    version."""
    if not path.exists():
        raise RunsError(f"no saved run at {path}")
    try:
        runs = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RunsError(f"saved run {path} cannot be read ({exc}); rebuild the notebook") from None
    if not isinstance(runs, dict) or runs.get("format") != FORMAT:
        raise RunsError(f"{path} is not a saved run of course_utils")
    if runs.get("version") != VERSION:
        raise RunsError(f"{path} is a saved run of version {runs.get('version')}; this course_utils "
                        f"reads version {VERSION}: rebuild the notebook to update it")
    notebook, specs = runs.get("notebook"), runs.get("figures")
    if not (_plain_name(notebook) and isinstance(specs, dict)
            and all(_plain_name(n) and isinstance(s, dict) for n, s in specs.items())):
        raise RunsError(f"saved run {path} is damaged (its notebook name or its figures are not "
                        f"what a saved run holds); rebuild the notebook")
    return runs


def _plain_name(name: object) -> bool:
    """True for a file or folder name without a path in it (nothing that leads elsewhere)."""
    return isinstance(name, str) and bool(name) and not name.startswith(".") and Path(name).name == name


def redraw(path: Path, out: Path, *, style: str = "paper", formats=None) -> list[Path]:
    """Draw every figure of the saved run ``path`` again into ``out/<notebook>/``, in ``style``
    and ``formats``; return the files written. All are drawn before any is moved into place,
    so a damaged saved run (:class:`RunsError`, naming it) leaves the figures as they were."""
    runs = load_runs(path)
    folder = out / runs["notebook"]
    folder.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(folder)
    temp = temporary_name(folder, "redraw")
    try:
        drawn = []
        with plots.style(style):
            for name, spec in runs["figures"].items():
                try:
                    fig = draw(spec)
                except Exception as exc:   # half a thumbnail, a list for a dict, an unknown kind...
                    raise RunsError(f"saved run {path} is damaged: its figure {name!r} cannot be "
                                    f"drawn ({type(exc).__name__}: {exc}); rebuild the "
                                    f"notebook") from None
                try:
                    drawn += plots.write_figure(fig, temp, name, formats)
                finally:
                    plt.close(fig)
        folder.mkdir(exist_ok=True)
        written = []
        for file in drawn:
            os.replace(file, folder / file.name)
            written.append(folder / file.name)
        return written
    finally:
        remove(temp)
