"""Saved runs: the plain data each figure was drawn from, as versioned JSON, so
:mod:`course_utils.instructor.redraw` draws it again without data or training, in any style."""

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
from torchvision.transforms.v2 import functional as TF

from course_utils import plots

FORMAT, VERSION = "course_utils.runs", 1
#: The drawing functions a saved run may name.
KINDS: dict[str, Callable[..., Figure]] = {
    "images": plots.show_images, "curves": plots.plot_curves, "lines": plots.plot_lines,
    "bars": plots.bar_chart, "confusion": plots.plot_confusion, "feature_maps": plots.show_feature_maps}
#: Thumbnails are kept at most this many pixels on a side.
THUMBNAIL = 160


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
    """``value`` as JSON-ready data: uint8 image batches as PNGs, other tensors and arrays as typed lists."""
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


def spec(kind: str, caption: str, data: dict) -> dict:
    """What a saved run keeps of one figure: kind, caption and data; images as uint8 thumbnails
    (float ones denormalised with ``mean``/``std``), at most :data:`THUMBNAIL` pixels on a side."""
    if kind == "images":
        data = dict(data)
        images, mean, std = data["images"], data.pop("mean", None), data.pop("std", None)
        if images.dtype != torch.uint8:
            images = torch.from_numpy((plots.to_display(images, mean, std) * 255).round().astype(np.uint8))
            images = images.permute(0, 3, 1, 2)
        images = images.detach().cpu()
        h, w = images.shape[2:]
        if max(h, w) > THUMBNAIL:
            size = [round(h * THUMBNAIL / max(h, w)), round(w * THUMBNAIL / max(h, w))]
            images = TF.resize(images, size, antialias=True)
        data["images"] = images.contiguous()
    return {"kind": kind, "caption": caption, "data": json.loads(json.dumps(encode(data)))}


def draw(spec: dict) -> Figure:
    """The figure a spec describes, in the current style."""
    kind = spec["kind"]
    if kind not in KINDS:
        raise ValueError(f"a saved figure of unknown kind {kind!r} (known: {', '.join(KINDS)})")
    return KINDS[kind](**decode(spec["data"]))


def runs_path(notebook: str, directory: Path) -> Path:
    """The saved run of ``notebook`` in the results folder ``directory``."""
    return directory / f"{notebook}.runs.json"
