"""d2l's hot dog data set: ``<data root>/hotdog/{train,test}/{hotdog,not-hotdog}/*.jpg`` as is, else
``hotdog.zip`` (sha1-verified, downloaded when absent) extracted."""

from __future__ import annotations

from pathlib import Path

from course_utils.data.download import DataMissingError, check_file, extract_zip, try_download
from course_utils.data.photos import RESIZE, SPLITS, ImageList, read_split
from course_utils.data.standin import smoke_split
from course_utils.files import remove_stale_temporaries
from course_utils.settings import data_root, is_writable, writable_dir

URL = "http://d2l-data.s3-accelerate.amazonaws.com/hotdog.zip"
SHA1 = "fba480ffa8aa7e0febbb511d181409f899b9baa5"
ARCHIVE, FOLDER = "hotdog.zip", "hotdog"
CLASSES = ["hotdog", "not-hotdog"]
DATASET = "The hot dog data set"
SMOKE_SIZES = {"train": 16, "test": 8}


def ensure_hotdog(root: Path | str | None = None) -> Path:
    """The data set's folder: ``<root>/hotdog`` when it exists, else ``hotdog.zip`` extracted into
    ``root`` (or the per-user cache when ``root`` is read-only); else an error naming both."""
    root = Path(root) if root is not None else data_root()
    folder, archive = root / FOLDER, root / ARCHIVE
    for dest in (archive, folder):   # what a killed download or extraction left
        remove_stale_temporaries(dest)
    if folder.exists():
        return folder
    target = root if is_writable(root) else writable_dir(root, "extracted hot dog photos")
    if (target / FOLDER).is_dir():
        return target / FOLDER
    if archive.exists():
        check_file(archive, sha1=SHA1)
    elif cause := try_download(URL, archive, dataset=DATASET, sha1=SHA1):
        raise DataMissingError(DATASET, folder, [f"{s}/{c}/*.jpg" for s in SPLITS for c in CLASSES],
                               why=f"is not in the data root and could not be downloaded: {cause}",
                               hint=f"or put {ARCHIVE} (sha1 {SHA1}, from {URL}) in {root}. Set COURSE_DATA "
                                    f"to use another data root.", absent=True)
    print(f"Extracting {archive.name} into {target / FOLDER}", flush=True)
    extract_zip(archive, target)
    return target / FOLDER


def load_hotdog(split: str = "train", *, root: Path | str | None = None,
                smoke: bool | None = None) -> ImageList:
    """One split (``"train"`` or ``"test"``) of the hot dog data set; in smoke mode a small fixed
    subset, or an announced stand-in when the data set is entirely absent."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")

    def read() -> ImageList:
        return read_split(ensure_hotdog(root), split, CLASSES, dataset=DATASET, course_data=True,
                          name=f"hot dog {split}")

    data = smoke_split(read, dataset="hot dog", split=split, smoke=smoke, sizes=SMOKE_SIZES,
                       standin=((3, RESIZE, RESIZE), CLASSES, (0.5,) * 3, (0.5,) * 3),
                       reason=lambda exc: f"no {FOLDER}/ and no {ARCHIVE} in {exc.folder.parent}")
    if data.standin:   # generated as one tensor: as the list of photos the loaders take
        data = ImageList(list(data.images), data.labels, list(CLASSES), data.name, standin=True)
    return data
