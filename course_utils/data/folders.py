"""Image folders (``<split>/<class>/<image>``): listing them strictly and decoding any common
image file into RGB uint8.

Listing refuses what would silently train the wrong problem: a missing or empty class folder,
fewer than two classes, a split whose classes differ from the training split's, or a file
that is not an image (system files such as ``.DS_Store`` excepted). Decoding accepts JPEG,
PNG (8- and 16-bit, palette, with alpha), WebP, BMP, TIFF and GIF, in grayscale, RGB, CMYK or
with transparency, and names the file it cannot read.
"""

from __future__ import annotations

import errno
import hashlib
import io
import math
import os
import sys
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
#: Images are decoded at most this large (pixels), from folders and uploads alike: a larger
#: JPEG is reduced while it is decoded (said once), any other larger image is refused by name
#: (a 10000x10000 PNG would take about a gigabyte to decode).
MAX_PIXELS = 40_000_000
_noted: set[str] = set()


class NotAnImageError(CorruptDataError):
    """A file in an image folder that is not an image the course can read."""


class FolderLayoutError(CorruptDataError):
    """Something in an image folder that its listing would otherwise skip without a word: a
    broken symbolic link, a link loop, or a sub-folder inside a class folder."""

    def __init__(self, path: Path, problem: str, advice: str) -> None:
        ValueError.__init__(self, f"{path} is {problem}. {advice}")
        self.path = path


@dataclass
class FolderListing:
    """One split of an image folder: its class names (sorted folder names, or as given), every
    image file in class order, and the labels."""

    folder: Path
    classes: list[str]
    files: list[Path]
    labels: Tensor


def _is_skipped(name: str) -> bool:
    return name.startswith(".") or name in SYSTEM_FILES


def _entries(folder: Path) -> tuple[list[str], list[str]]:
    """(files, folders) in ``folder``, sorted, system files skipped. A symbolic link that
    leads nowhere (broken, or a loop) raises :class:`FolderLayoutError` naming it."""
    files, folders = [], []
    for entry in os.scandir(folder):
        if _is_skipped(entry.name):
            continue
        path = folder / entry.name
        try:
            if entry.is_dir():
                folders.append(entry.name)
            elif entry.is_file():
                files.append(entry.name)
            elif entry.is_symlink():
                raise FolderLayoutError(path, f"a symbolic link to {os.readlink(path)}, which does "
                                              f"not exist", "Fix the link, or remove it.")
        except OSError as exc:   # ELOOP: a link that leads back to itself
            raise FolderLayoutError(path, f"a symbolic link that cannot be followed ({exc.strerror}"
                                          f"{': it points back to itself' if exc.errno == errno.ELOOP else ''})",
                                    "Remove the link, or make it point at a real image.") from None
    return sorted(files), sorted(folders)


def _images_below(folder: Path) -> int:
    """How many image files lie anywhere under ``folder`` (links not followed)."""
    return sum(n.lower().endswith(IMAGE_SUFFIXES) for _, _, names in os.walk(folder) for n in names)


def class_folders(folder: Path) -> list[str]:
    """The class folders of one split, sorted."""
    return _entries(folder)[1]


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
        entries, inner = _entries(folder / name)
        if inner:
            count = _images_below(folder / name / inner[0])
            raise FolderLayoutError(
                folder / name / inner[0],
                f"a folder inside the class folder {folder / name}, holding {count} image(s) that "
                f"would not be read (the course reads the images directly inside each class folder"
                f"{'; this one has none besides it' if not entries else ''})",
                f"Move its images up into {folder / name}, or move it out of the data folder.")
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
    file when it cannot be read, or when it is over :data:`MAX_PIXELS` and not a JPEG (a
    larger JPEG is reduced while decoding to fit, said once per process)."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                if image.format != "JPEG":
                    raise NotAnImageError(
                        path, f"{width}x{height} pixels, over the {MAX_PIXELS:,} pixels the course "
                              f"decodes (decoding it would take {width * height * 10 / 1e9:.1f} GB "
                              f"of memory)",
                        advice="Shrink it (or save it as a JPEG, which is reduced while decoding), "
                               "or move it out of the data folder.")
                scale = math.sqrt(MAX_PIXELS / (width * height))
                image.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
            image.load()
            rgb = to_rgb(image)
    except NotAnImageError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise NotAnImageError(path, f"cannot be read as an image: {exc}", advice=FIX_IT) from None
    if rgb.width * rgb.height > MAX_PIXELS:   # the JPEG decoder reduces by powers of two only
        scale = math.sqrt(MAX_PIXELS / (rgb.width * rgb.height))
        rgb = rgb.resize((max(1, int(rgb.width * scale)), max(1, int(rgb.height * scale))),
                         Image.Resampling.BILINEAR)
    if rgb.width * rgb.height != width * height and "reduced" not in _noted:
        _noted.add("reduced")
        print(f"note: {path} is {width}x{height} pixels; images over {MAX_PIXELS:,} pixels are "
              f"reduced while decoding (this one to {rgb.width}x{rgb.height}) to keep memory "
              f"small. (Said once.)", file=sys.stderr, flush=True)
    return torch.from_numpy(np.asarray(rgb).copy()).permute(2, 0, 1).contiguous()


class UploadError(ValueError):
    """An uploaded file that cannot be used as a photo; the message says why, for the student."""


def read_upload(content: bytes, name: str = "the upload", *, max_bytes: int = 20_000_000,
                max_pixels: int = MAX_PIXELS) -> tuple[Tensor, str]:
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
