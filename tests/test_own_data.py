"""Notebook 05 on a student's own photo folder: three classes with other names, other formats;
its record is marked as not the course's data, so the build never commits it."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
import numpy as np
from PIL import Image

from course_utils.instructor.execute import Progress, execute_notebook, kernel_env
from course_utils.settings import PACKAGE_PARENT


def photo_folder(root: Path) -> Path:
    g = np.random.default_rng(0)
    for split, n in (("train", 4), ("test", 2)):
        for k, (name, fmt) in enumerate([("cats", "png"), ("dogs", "jpg"), ("birds", "webp")]):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = np.clip(g.normal(60 + 70 * k, 30, (90, 120, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.{fmt}")
    return root


def test_notebook_05_runs_on_a_folder_of_your_own(tmp_path):
    folder = photo_folder(tmp_path / "my photos")
    source = PACKAGE_PARENT / "notebooks" / "05_transfer_hotdogs.ipynb"
    nb = nbformat.read(source, as_version=4)
    params = next(c for c in nb.cells if c.cell_type == "code" and "DATA_FOLDER = None" in c.source)
    params.source = params.source.replace("DATA_FOLDER = None", f"DATA_FOLDER = {str(folder)!r}")
    # the run-time estimate does not depend on whose photos they are; the notebook's own test runs it
    nb.cells = [c for c in nb.cells if "estimate_strategies(" not in c.source]
    env = kernel_env(smoke=True, notebook=source.stem, figures=tmp_path / "figures", results=tmp_path / "results",
                     device="cpu", formats=None, standin_log=tmp_path / "standin.jsonl")
    with Progress(open(os.devnull, "w")) as progress:
        execute_notebook(nb, source, env, progress.notebook(source.stem), timeout=600)
    text = json.dumps([o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])])
    assert "classes ['birds', 'cats', 'dogs']" in text and "note: 12 of 12" in text   # small photos upscaled
    record = json.loads((tmp_path / "results" / "05_transfer_hotdogs.json").read_text())
    assert record["course_data"] is False and record["standin"] is False
    assert any(str(folder) in d for d in record["data"]) and record["metrics"]["data"] == str(folder)
    assert not re.search(r"hot ?dog set", " ".join(record["data"]))
    figures = sorted(p.name for p in (tmp_path / "figures" / "05_transfer_hotdogs").iterdir())
    assert "is_it_a.png" in figures and "strategies.png" in figures
