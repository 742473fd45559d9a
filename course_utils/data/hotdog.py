"""The d2l hot dog data set: photos of hot dogs and of other food, in the photo-folder layout
``<data root>/hotdog/{train,test}/{hotdog,not-hotdog}/*.jpg``.

A folder in that layout is used as is (and must be complete); otherwise ``hotdog.zip`` is
downloaded (sha1 verified, atomic write) and extracted, into the per-user cache when the data
root is read-only. Loading and batching are :mod:`course_utils.data.photos`'.
"""

from __future__ import annotations

from pathlib import Path

from course_utils.data.download import check_file, download, extract_zip
from course_utils.data.errors import CorruptDataError, DataMissingError
from course_utils.data.photos import RESIZE, SPLITS, ImageList, read_split
from course_utils.data.standin import smoke_split
from course_utils.files import remove_stale_temporaries
from course_utils.settings import data_root, is_writable, writable_dir
from course_utils.settings import is_smoke

URL = "http://d2l-data.s3-accelerate.amazonaws.com/hotdog.zip"
SHA1 = "fba480ffa8aa7e0febbb511d181409f899b9baa5"
ARCHIVE, FOLDER = "hotdog.zip", "hotdog"
CLASSES = ["hotdog", "not-hotdog"]
DATASET = "The hot dog data set"
#: Split sizes used in smoke mode (``COURSE_SMOKE=1``).
SMOKE_SIZES = {"train": 16, "test": 8}


def _expected_layout() -> list[str]:
    return [f"{s}/{c}/*.jpg" for s in SPLITS for c in CLASSES]


def _missing(folder: Path, root: Path, why: str) -> DataMissingError:
    return DataMissingError(
        DATASET, folder, _expected_layout(), why=why, absent=True,
        hint=f"or put {ARCHIVE} (sha1 {SHA1}, from {URL}) in {root}. Set COURSE_DATA to use "
             f"another data root.")


def ensure_hotdog(root: Path | str | None = None, *, download_ok: bool = True,
                  timeout: float = 60.0) -> Path:
    """The folder holding the data set: ``<root>/hotdog`` when it exists (it is used as is),
    else ``hotdog.zip`` (sha1-verified; downloaded when absent) extracted into ``root``, or
    into the per-user cache when ``root`` is read-only. Raises :class:`DataMissingError`
    naming the layout and the archive when it can be had neither way."""
    root = Path(root) if root is not None else data_root()
    folder = root / FOLDER
    for dest in (root / ARCHIVE, folder):   # what a killed download or extraction left
        remove_stale_temporaries(dest)
    if folder.exists():
        return folder
    archive = root / ARCHIVE
    target = root if is_writable(root) else writable_dir(root, "extracted hot dog photos")
    if (target / FOLDER).is_dir():
        return target / FOLDER
    if archive.exists():
        check_file(archive, sha1=SHA1)
    elif not download_ok:
        raise _missing(folder, root, "is not in the data root")
    elif not is_writable(root):
        raise _missing(folder, root, "is not in the data root, which is read-only, so it cannot "
                                     "be downloaded into it")
    else:
        try:
            download(URL, archive, sha1=SHA1, timeout=timeout, dataset=DATASET)
        except DataMissingError as exc:
            raise _missing(folder, root, f"is not in the data root and could not be downloaded: "
                                         f"{getattr(exc, 'cause', exc)}") from None
    print(f"Extracting {archive.name} into {target / FOLDER}", flush=True)
    extract_zip(archive, target)
    if not all((target / FOLDER / s / c).is_dir() for s in SPLITS for c in CLASSES):
        raise CorruptDataError(archive, f"it did not extract to the layout {FOLDER}/"
                                        f"{{train,test}}/{{hotdog,not-hotdog}}/")
    return target / FOLDER


def load_hotdog(
    split: str = "train",
    *,
    root: Path | str | None = None,
    download_ok: bool = True,
    smoke: bool | None = None,
) -> ImageList:
    """One split (``"train"`` or ``"test"``) of the hot dog data set.

    In smoke mode the split is a small fixed subset, and a data set that is entirely absent
    (no folder, no archive, no download) is replaced by a loudly announced stand-in. A folder
    that is partly there is an error naming what is missing, in both modes.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")

    def read() -> ImageList:
        data = read_split(ensure_hotdog(root, download_ok=download_ok), split, CLASSES, dataset=DATASET,
                          course_data=True)
        data.name = f"hot dog {split}"
        return data

    data = smoke_split(read, dataset="hot dog", split=split, smoke=is_smoke() if smoke is None else smoke,
                       sizes=SMOKE_SIZES, shape=(3, RESIZE, RESIZE), classes=CLASSES, mean=(0.5,) * 3,
                       std=(0.5,) * 3, reason=lambda exc: f"no {FOLDER}/ and no {ARCHIVE} in {exc.folder.parent}")
    if data.standin:   # generated as one tensor: as the list of photos the loaders take
        data = ImageList(list(data.images), data.labels, list(CLASSES), data.name, standin=True)
    return data
