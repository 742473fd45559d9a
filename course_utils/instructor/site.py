"""The executed course as a static site: ``python -m course_utils.instructor --site`` writes
``build/site/`` (``build/smoke/site/`` for a smoke build).

* ``index.html``: each notebook's title, one-line idea and headline numbers (from its record),
  linked to the executed notebook rendered by nbconvert's HTML exporter (``notebooks/*.html``);
* ``gallery.html``: every figure as a thumbnail with its caption (from the saved run), its
  notebook, and the device and date it was made on.

Static files only, with relative links: it opens straight from disk, no server needed.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import jinja2
import nbformat
from PIL import Image

from course_utils.instructor.report import format_value
from course_utils.device import format_seconds
from course_utils.files import write_atomic

TEMPLATES = Path(__file__).resolve().parent / "site_templates"
COURSE = "PyTorch, one measured idea at a time"
LEAD = ("A short course in numbered Jupyter notebooks: each teaches one idea and measures it. "
        "These are the notebooks as executed by the course's build, with their outputs.")
THUMB_WIDTH = 480


@dataclass
class Page:
    """What the index and the gallery say about one notebook."""

    name: str
    title: str
    idea: str
    html: str | None = None
    headline: list[tuple[str, str]] = field(default_factory=list)
    meta: str = ""
    gallery: list[dict] = field(default_factory=list)

    @property
    def figures(self) -> int:
        return len(self.gallery)


def title_and_idea(notebook: Path) -> tuple[str, str]:
    """The notebook's title (its first heading) and its idea (the first sentence after it)."""
    nb = nbformat.read(notebook, as_version=4)
    first = next((c.source for c in nb.cells if c.cell_type == "markdown"), "")
    lines = [l for l in first.splitlines() if "colab-badge" not in l]
    title = next((l.lstrip("# ").strip() for l in lines if l.startswith("#")), notebook.stem)
    body = " ".join(l.strip() for l in lines if l.strip() and not l.startswith("#"))
    body = re.sub(r"\*\*|`", "", body)
    sentence = re.split(r"(?<=[.!?])\s", body, maxsplit=1)[0] if body else ""
    return title, sentence


def _headline(record: dict) -> tuple[list[tuple[str, str]], str]:
    metrics = record.get("metrics", {})
    keys = [k for k in record.get("headline", []) if k in metrics] or list(metrics)[:4]
    rows = [(k, format_value(metrics[k])) for k in keys]
    meta = (f"{record.get('mode', '?')} mode · {record.get('device', '?')} · torch {record.get('torch', '?')} · "
            f"{format_seconds(record.get('seconds'))} · recorded {record.get('recorded', '?')}")
    if record.get("standin"):
        return [], meta + " · made from STAND-IN data: numbers not shown"
    return rows, meta


def _thumbnail(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(src) as image:
        if image.width > THUMB_WIDTH:
            image = image.resize((THUMB_WIDTH, round(image.height * THUMB_WIDTH / image.width)),
                                 Image.Resampling.LANCZOS)
        image.save(dest)


def render_notebook(executed: Path, dest: Path) -> None:
    """The executed notebook as one self-contained HTML page (nbconvert, the lab template)."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nbformat.read(executed, as_version=4))
    write_atomic(dest, body)


def build_site(notebooks: Sequence[Path], *, executed: Path, results: Path, figures: Path,
               out: Path, mode: str = "full") -> Path:
    """Write the site for ``notebooks`` (the sources) into ``out`` from the executed copies,
    records, saved runs and figures; return ``out/index.html``."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    shutil.copy(TEMPLATES / "site.css", out / "site.css")
    pages = []
    for source in notebooks:
        name = source.stem
        title, idea = title_and_idea(source)
        page = Page(name, title, idea)
        if (executed / source.name).exists():
            render_notebook(executed / source.name, out / "notebooks" / f"{name}.html")
            page.html = f"notebooks/{name}.html"
        record_path = results / f"{name}.json"
        if record_path.exists():
            page.headline, page.meta = _headline(json.loads(record_path.read_text()))
        runs_path = results / f"{name}.runs.json"
        runs = json.loads(runs_path.read_text()) if runs_path.exists() else {"figures": {}}
        for png in sorted((figures / name).glob("*.png")) if (figures / name).is_dir() else []:
            spec = runs["figures"].get(png.stem, {})
            full, thumb = f"figures/{name}/{png.name}", f"thumbs/{name}/{png.name}"
            (out / full).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(png, out / full)
            _thumbnail(png, out / thumb)
            page.gallery.append({"name": png.stem, "caption": spec.get("caption", png.stem.replace("_", " ")),
                                 "full": full, "thumb": thumb, "device": runs.get("device", "?"),
                                 "date": runs.get("recorded", "?")})
        pages.append(page)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    common = {"course": COURSE, "lead": LEAD, "notebooks": pages, "mode": mode,
              "built": time.strftime("%Y-%m-%d %H:%M")}
    write_atomic(out / "index.html", env.get_template("index.html.j2").render(title=COURSE, **common))
    write_atomic(out / "gallery.html", env.get_template("gallery.html.j2").render(
        title=f"{COURSE}: figure gallery", **common))
    return out / "index.html"


def local_targets(page: Path) -> list[str]:
    """Every ``href`` and ``src`` of ``page`` that points at a local file (not http, not #)."""
    text = page.read_text(encoding="utf-8")
    found = re.findall(r'(?:href|src)="([^"]+)"', text)
    return [t for t in found if not re.match(r"^(https?:|mailto:|data:|#|javascript:)", t)]


def broken_links(page: Path) -> list[str]:
    """The local links and images of ``page`` that do not resolve to an existing file."""
    return [t for t in local_targets(page) if not (page.parent / t.split("#", 1)[0]).is_file()]
