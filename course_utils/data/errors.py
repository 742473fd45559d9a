"""Errors that tell a student what is wrong with their data and how to fix it."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable


class DataMissingError(FileNotFoundError):
    """A data set is not on disk and could not be downloaded. ``absent``: none of it is there
    (smoke mode may then use a stand-in); a data set that is partly there is never replaced."""

    def __init__(self, dataset: str, folder: Path, files: Iterable[str], hint: str = "",
                 why: str = "is not in the data root and could not be downloaded (no internet?)",
                 absent: bool = False) -> None:
        files = list(files)
        listing = "\n".join(f"  {folder / f}" for f in files)
        msg = f"{dataset} {why}.\nPut these files in {folder}:\n{listing}"
        if hint:
            msg += f"\n{hint}"
        super().__init__(msg)
        self.dataset, self.folder, self.files, self.absent = dataset, folder, files, absent
        self.cause: str | None = None   #: why a download failed, in words, when one did

    def __str__(self) -> str:  # FileNotFoundError's own __str__ would show errno fields
        return self.args[0]


class CorruptDataError(ValueError):
    """A data file is present but truncated or corrupted (checksum or decode failure).

    ``path`` is always the one bad file, never a folder that also holds good files."""

    def __init__(self, path: Path, problem: str, advice: str | None = None) -> None:
        if advice is None:
            advice = ("Replace this one file with a good copy (or delete it and run again with "
                      "internet to download it afresh).")
        super().__init__(f"{path} is corrupt or truncated ({problem}). {advice}")
        self.path = path
