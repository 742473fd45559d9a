"""Image folders (``<split>/<class>/<image>``) listed strictly, nothing skipped silently; any common
image file decoded into RGB uint8, naming a bad file."""

from __future__ import annotations

import errno
import hashlib
import io
import math
import os
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

from course_utils.data.download import CorruptDataError, DataMissingError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
SYSTEM_FILES = {"Thumbs.db", "desktop.ini", "Icon\r"}   #: skipped without a word, as are dot files
FIX_IT = "Fix or convert this file, or move it out of the data folder."
#: The largest image decoded: a larger JPEG is reduced while decoding (said once), any other refused.
MAX_PIXELS = 40_000_000
_noted: set[str] = set()
_UNREADABLE = (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError)


class NotAnImageError(CorruptDataError):
    """A file in an image folder that is not an image the course can read."""


class FolderLayoutError(CorruptDataError):
    """A broken or looping symbolic link, or a sub-folder inside a class folder."""

    def __init__(self, path: Path, problem: str, advice: str) -> None:
        ValueError.__init__(self, f"{path} is {problem}. {advice}")
        self.path = path


def entries(folder: Path) -> tuple[list[str], list[str]]:
    """(files, folders) in ``folder``, sorted, system files skipped; a dead link is named."""
    files, folders = [], []
    for entry in os.scandir(folder):
        if entry.name.startswith(".") or entry.name in SYSTEM_FILES:
            continue
        path = folder / entry.name
        try:
            if entry.is_dir():
                folders.append(entry.name)
            elif entry.is_file():
                files.append(entry.name)
            elif entry.is_symlink():
                raise FolderLayoutError(path, f"a symbolic link to {os.readlink(path)}, which does not exist",
                                        "Fix the link, or remove it.")
        except OSError as exc:   # ELOOP: a link that leads back to itself
            itself = ": it points back to itself" if exc.errno == errno.ELOOP else ""
            raise FolderLayoutError(path, f"a symbolic link that cannot be followed ({exc.strerror}{itself})",
                                    "Remove the link, or make it point at a real image.") from None
    return sorted(files), sorted(folders)


def list_split(folder: Path, classes: Sequence[str] | None = None, *,
               dataset: str = "The image folder") -> tuple[list[str], list[Path], Tensor]:
    """(classes, every image of ``folder/<class>/`` in class order, labels); ``classes`` fixes the
    classes and their order (default: the sorted subfolders). A missing, empty or extra class
    folder, fewer than two classes, or a file that is not an image raises an error naming it."""
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        expected = [f"{c}/*.jpg" for c in classes] if classes else ["<class>/*.jpg (one folder per class)"]
        raise DataMissingError(dataset, folder, expected, why=f"is incomplete: {folder} {what}")
    found = entries(folder)[1]
    classes = found if classes is None else classes
    missing = [c for c in classes if c not in found]
    extra = [c for c in found if c not in classes]
    if missing:
        raise DataMissingError(dataset, folder, [f"{c}/" for c in missing],
                               why=f"is incomplete: {len(missing)} class folder(s) are missing in {folder}",
                               hint="(one folder per class, each holding that class's images)")
    if extra:
        raise DataMissingError(dataset, folder, [f"{c}/" for c in classes],
                               why=f"has class folders the training split does not have ({', '.join(extra)}) "
                                   f"in {folder}", hint="Every split needs the same class folders.")
    if len(classes) < 2:
        raise DataMissingError(dataset, folder, ["<class A>/", "<class B>/"],
                               why=f"needs at least 2 class folders in {folder}, it has "
                                   f"{len(classes)} ({', '.join(classes) or 'none'})")
    files, labels = [], []
    for label, name in enumerate(classes):
        images, inner = entries(folder / name)
        if inner:
            below = os.walk(folder / name / inner[0])
            count = sum(n.lower().endswith(IMAGE_SUFFIXES) for _, _, names in below for n in names)
            raise FolderLayoutError(
                folder / name / inner[0], f"a folder inside the class folder {folder / name}, holding "
                f"{count} image(s) that would not be read (the course reads the images directly inside each "
                f"class folder{'; this one has none besides it' if not images else ''})",
                f"Move its images up into {folder / name}, or move it out of the data folder.")
        others = [n for n in images if not n.lower().endswith(IMAGE_SUFFIXES)]
        if others:
            raise NotAnImageError(folder / name / others[0], f"not an image file (the course reads "
                                                             f"{', '.join(IMAGE_SUFFIXES)})", advice=FIX_IT)
        if not images:
            raise DataMissingError(dataset, folder / name, ["*.jpg (or another image type)"],
                                   why=f"has an empty class folder: {folder / name} holds no images",
                                   hint="A class without images would train a problem with one "
                                        "class fewer; add its images or remove the folder.")
        files += [folder / name / n for n in images]
        labels += [label] * len(images)
    return list(classes), files, torch.tensor(labels, dtype=torch.long)


def fingerprint(files: Sequence[Path], relative_to: Path) -> str:
    """A hash of every file's relative path, size and modification time."""
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
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return image.convert("RGB") if image.mode != "RGB" else image


def _tensor(rgb: Image.Image) -> Tensor:
    return torch.from_numpy(np.asarray(rgb).copy()).permute(2, 0, 1).contiguous()


def open_rgb(path: Path | str) -> Tensor:
    """One image file as uint8 (3, H, W); one over :data:`MAX_PIXELS` is refused unless a JPEG (then
    reduced while decoding); an unreadable one raises :class:`NotAnImageError` naming it."""
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
    except _UNREADABLE as exc:
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
    return _tensor(rgb)


class UploadError(ValueError):
    """An uploaded file that cannot be used as a photo; the message says why, for the student."""


_CONVERTED = {"L": "grayscale", "LA": "grayscale with transparency", "1": "black-and-white", "CMYK": "CMYK",
              "RGBA": "RGB with transparency (flattened onto white)", "P": "a palette",
              "PA": "a palette with transparency", "I;16": "16-bit grayscale", "I": "32-bit grayscale",
              "F": "floating-point grayscale", "YCbCr": "YCbCr"}


def read_upload(content: bytes, name: str = "the upload", *,
                max_bytes: int = 20_000_000) -> tuple[Tensor, str]:
    """An uploaded photo as uint8 RGB (3, H, W) and a note on what was converted ("" when nothing);
    :class:`UploadError` with a plain message for an empty, huge or unreadable file."""
    if not content:
        raise UploadError(f"{name} is empty.")
    if len(content) > max_bytes:
        raise UploadError(f"{name} is {len(content) / 1e6:.1f} MB; photos up to {max_bytes / 1e6:.0f} MB "
                          f"are accepted. Shrink it first.")
    try:
        with Image.open(io.BytesIO(content)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise UploadError(f"{name} is {image.width}x{image.height} pixels; up to "
                                  f"{MAX_PIXELS / 1e6:.0f} million pixels are accepted.")
            mode, fmt = image.mode, image.format
            image.load()
            rgb = to_rgb(image)
    except UploadError:
        raise
    except _UNREADABLE as exc:
        raise UploadError(f"{name} is not an image this course can read ({type(exc).__name__}: {exc}). "
                          f"Upload a JPEG, PNG, WebP, BMP, TIFF or GIF photo.") from None
    note = f"{fmt or 'image'} in {_CONVERTED[mode]}, converted to RGB" if mode in _CONVERTED else ""
    return _tensor(rgb), note
