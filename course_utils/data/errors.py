"""Errors that tell a student what is wrong with their data and how to fix it."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable


class DataMissingError(FileNotFoundError):
    """A data set is not on disk and could not be downloaded."""

    def __init__(self, dataset: str, folder: Path, files: Iterable[str], hint: str = "") -> None:
        files = list(files)
        listing = "\n".join(f"  {folder / f}" for f in files)
        msg = (
            f"{dataset} is not in the data root and could not be downloaded (no internet?).\n"
            f"Put these files in {folder}:\n{listing}"
        )
        if hint:
            msg += f"\n{hint}"
        super().__init__(msg)
        self.dataset, self.folder, self.files = dataset, folder, files

    def __str__(self) -> str:  # FileNotFoundError's own __str__ would show errno fields
        return self.args[0]


class CorruptDataError(ValueError):
    """A data file is present but truncated or corrupted (checksum or decode failure)."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(
            f"{path} is corrupt or truncated ({problem}). Delete it and run again to "
            f"download it afresh, or replace it with a good copy."
        )
        self.path = path
