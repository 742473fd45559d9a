"""Figures that can be redrawn in seconds, without data or training: saved runs.

A notebook makes each figure with ``run.figure`` (:mod:`course_utils.run`): it names a drawing
function of :mod:`course_utils.plots` and hands it plain data (training histories, confusion
matrices, small tables, a few thumbnails). The data is kept, JSON-encoded (this module), in the
notebook's saved run ``<results>/<notebook>.runs.json``, and the figure is drawn *from the kept
data*, so ``python -m course_utils.instructor --figures-only``
(:mod:`course_utils.instructor.redraw`) gives the same figure, pixel for pixel, in any style or
format.

Why JSON: the files are small (a few hundred kB per notebook: histories and tables, with
image thumbnails as PNG), safe to load (no pickle), readable, versioned by a ``version`` field,
and diff well in git.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image
from torch import Tensor

from course_utils import plots

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
def spec(kind: str, caption: str, data: dict) -> dict:
    """What a saved run keeps of one figure: its kind, caption and data, JSON-encoded (image
    batches as thumbnails: :func:`thumbnails`)."""
    if kind not in KINDS:
        raise ValueError(f"unknown figure kind {kind!r}; choose one of {', '.join(KINDS)}")
    if kind == "images":
        data = dict(data)
        data["images"] = thumbnails(data["images"], data.pop("mean", None), data.pop("std", None))
    return {"kind": kind, "caption": caption, "data": json.loads(json.dumps(encode(data)))}


def draw(spec: dict) -> Figure:
    """The figure a spec describes (``{"kind", "data", ...}``), in the current style."""
    kind = spec["kind"]
    if kind not in KINDS:
        raise ValueError(f"a saved figure of unknown kind {kind!r} (known: {', '.join(KINDS)})")
    return KINDS[kind](**decode(spec["data"]))


def runs_path(notebook: str, directory: Path) -> Path:
    """The saved run of ``notebook`` in the results folder ``directory``."""
    return directory / f"{notebook}.runs.json"
