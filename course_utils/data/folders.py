"""Image folders (``<split>/<class>/<image>``): listing them strictly and decoding any common
image file into RGB uint8.

Listing refuses what would silently train the wrong problem: a missing or empty class folder,
fewer than two classes, a split whose classes differ from the training split's, or a file
that is not an image (system files such as ``.DS_Store`` excepted). Decoding accepts JPEG,
PNG (8- and 16-bit, palette, with alpha), WebP, BMP, TIFF and GIF, in grayscale, RGB, CMYK or
with transparency, and names the file it cannot read.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

from course_utils.data.errors import CorruptDataError, DataMissingError

#: File types read as images (lower case).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
#: Files that operating systems leave in folders; skipped without a word.
SYSTEM_FILES = {"Thumbs.db", "desktop.ini", "Icon\r"}
#: Advice for a file in the user's own folder that cannot be read.
FIX_IT = "Fix or convert this file, or move it out of the data folder."


class NotAnImageError(CorruptDataError):
    """A file in an image folder that is not an image the course can read."""


@dataclass
class FolderListing:
    """One split of an image folder: its class names (sorted folder names, or as given), every
    image file in class order, and the labels."""

    folder: Path
    classes: list[str]
    files: list[Path]
    labels: Tensor

    def counts(self) -> dict[str, int]:
        """Images per class."""
        return {c: int((self.labels == i).sum()) for i, c in enumerate(self.classes)}


def _is_skipped(name: str) -> bool:
    return name.startswith(".") or name in SYSTEM_FILES


def class_folders(folder: Path) -> list[str]:
    """The class folders of one split, sorted."""
    return sorted(e.name for e in os.scandir(folder) if e.is_dir() and not _is_skipped(e.name))


def list_split(folder: Path, classes: Sequence[str] | None = None, *,
               dataset: str = "The image folder", min_classes: int = 2) -> FolderListing:
    """Every image of ``folder/<class>/`` with its label.

    ``classes`` fixes the class names and their order (e.g. CIFAR-10's, or the training
    split's for the test split); without it they are the sorted subfolders. Raises
    :class:`DataMissingError` for a missing folder, a missing or empty class folder, or fewer
    than ``min_classes`` classes, and :class:`NotAnImageError` for a file that is not an image.
    """
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        expected = [f"{c}/*.jpg" for c in classes] if classes else ["<class>/*.jpg (one folder per class)"]
        raise DataMissingError(dataset, folder, expected, why=f"is incomplete: {folder} {what}")
    found = class_folders(folder)
    if classes is None:
        classes = found
    else:
        missing = [c for c in classes if c not in found]
        extra = [c for c in found if c not in classes]
        if missing:
            raise DataMissingError(dataset, folder, [f"{c}/" for c in missing],
                                   why=f"is incomplete: {len(missing)} class folder(s) are missing in {folder}",
                                   hint="(one folder per class, each holding that class's images)")
        if extra:
            raise DataMissingError(dataset, folder, [f"{c}/" for c in classes],
                                   why=f"has class folders the training split does not have "
                                       f"({', '.join(extra)}) in {folder}",
                                   hint="Every split needs the same class folders.")
    if len(classes) < min_classes:
        raise DataMissingError(dataset, folder, ["<class A>/", "<class B>/"],
                               why=f"needs at least {min_classes} class folders in {folder}, it has "
                                   f"{len(classes)} ({', '.join(classes) or 'none'})")
    files: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        entries = sorted(e.name for e in os.scandir(folder / name)
                         if e.is_file() and not _is_skipped(e.name))
        others = [n for n in entries if not n.lower().endswith(IMAGE_SUFFIXES)]
        if others:
            raise NotAnImageError(folder / name / others[0],
                                  f"not an image file (the course reads {', '.join(IMAGE_SUFFIXES)})",
                                  advice=FIX_IT)
        if not entries:
            raise DataMissingError(dataset, folder / name, ["*.jpg (or another image type)"],
                                   why=f"has an empty class folder: {folder / name} holds no images",
                                   hint="A class without images would train a problem with one "
                                        "class fewer; add its images or remove the folder.")
        files += [folder / name / n for n in entries]
        labels += [label] * len(entries)
    return FolderListing(folder, list(classes), files, torch.tensor(labels, dtype=torch.long))


def fingerprint(files: Sequence[Path], relative_to: Path) -> str:
    """A hash of every file's path (relative to ``relative_to``), size and modification time:
    it changes when a file is added, removed, renamed or replaced."""
    h = hashlib.sha1()
    for path in files:
        st = path.stat()
        h.update(f"{path.relative_to(relative_to).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def to_rgb(image: Image.Image) -> Image.Image:
    """``image`` as 8-bit RGB: EXIF rotation applied, 16-bit and float pixels scaled, palette
    and transparency flattened onto white, CMYK and grayscale converted."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        pixels = np.asarray(image).astype(np.float64)
        if image.mode == "F" and pixels.max(initial=0) <= 1.0:
            pixels = pixels * 255.0
        elif image.mode != "F" and pixels.max(initial=0) > 255:
            pixels = pixels / 257.0   # 0..65535 -> 0..255
        image = Image.fromarray(np.clip(pixels.round(), 0, 255).astype(np.uint8))
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB") if image.mode != "RGB" else image


def open_rgb(path: Path | str) -> Tensor:
    """Decode one image file into a uint8 tensor (3, H, W); :class:`NotAnImageError` naming the
    file when it cannot be read."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()
            rgb = to_rgb(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise NotAnImageError(path, f"cannot be read as an image: {exc}", advice=FIX_IT) from None
    return torch.from_numpy(np.asarray(rgb).copy()).permute(2, 0, 1).contiguous()


class UploadError(ValueError):
    """An uploaded file that cannot be used as a photo; the message says why, for the student."""


def read_upload(content: bytes, name: str = "the upload", *, max_bytes: int = 20_000_000,
                max_pixels: int = 40_000_000) -> tuple[Tensor, str]:
    """Decode an uploaded photo into uint8 RGB (3, H, W) and a note on what was converted
    (grayscale, CMYK, transparency, 16-bit; "" when nothing was). Raises :class:`UploadError`
    with a plain message for an empty, huge or unreadable file."""
    if not content:
        raise UploadError(f"{name} is empty.")
    if len(content) > max_bytes:
        raise UploadError(f"{name} is {len(content) / 1e6:.1f} MB; photos up to {max_bytes / 1e6:.0f} MB "
                          f"are accepted. Shrink it first.")
    try:
        with Image.open(io.BytesIO(content)) as image:
            if image.width * image.height > max_pixels:
                raise UploadError(f"{name} is {image.width}x{image.height} pixels; up to "
                                  f"{max_pixels / 1e6:.0f} million pixels are accepted.")
            mode, fmt = image.mode, image.format
            image.load()
            rgb = to_rgb(image)
    except UploadError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise UploadError(f"{name} is not an image this course can read ({type(exc).__name__}: {exc}). "
                          f"Upload a JPEG, PNG, WebP, BMP, TIFF or GIF photo.") from None
    conversions = {"L": "grayscale", "LA": "grayscale with transparency", "1": "black-and-white",
                   "CMYK": "CMYK", "RGBA": "RGB with transparency (flattened onto white)",
                   "P": "a palette", "PA": "a palette with transparency", "I;16": "16-bit grayscale",
                   "I": "32-bit grayscale", "F": "floating-point grayscale", "YCbCr": "YCbCr"}
    note = f"{fmt or 'image'} in {conversions[mode]}, converted to RGB" if mode in conversions else ""
    return torch.from_numpy(np.asarray(rgb).copy()).permute(2, 0, 1).contiguous(), note
