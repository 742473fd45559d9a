"""Errors that tell a student what is wrong with their data and how to fix it."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable


class DataMissingError(FileNotFoundError):
    """A data set is not on disk: names the files and where they go. ``absent``: none of it is
    there (smoke mode may then use a stand-in); ``cause``: why a download failed, when one did."""

    def __init__(self, dataset: str, folder: Path, files: Iterable[str], *, why: str, hint: str = "",
                 absent: bool = False) -> None:
        files = list(files)
        listing, hint = "\n".join(f"  {folder / f}" for f in files), f"\n{hint}" if hint else ""
        super().__init__(f"{dataset} {why}.\nPut these files in {folder}:\n{listing}{hint}")
        self.dataset, self.folder, self.files, self.absent = dataset, folder, files, absent
        self.cause: str | None = None

    def __str__(self) -> str:  # FileNotFoundError's own __str__ would show errno fields
        return self.args[0]


class CorruptDataError(ValueError):
    """A data file is present but truncated or corrupted; ``path`` is the one bad file."""

    def __init__(self, path: Path, problem: str, advice: str | None = None) -> None:
        advice = advice or ("Replace this one file with a good copy (or delete it and run again with "
                            "internet to download it afresh).")
        super().__init__(f"{path} is corrupt or truncated ({problem}). {advice}")
        self.path = path
