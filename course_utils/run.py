"""One run of a notebook: ``run = start_run("01_x")`` at its start, ``run.record(...)`` at its end,
``run.figure(name, plots_function, *args, caption=...)`` for each figure (its data kept in the
saved run for the redraw). Loaders report each data split they return with :func:`note_data`."""

from __future__ import annotations

import inspect
import os
import json
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch
from matplotlib.figure import Figure

from course_utils import figures, plots, settings
from course_utils.device import get_device
from course_utils.files import write_json


@dataclass(frozen=True)
class DataUse:
    """One data set split a run loaded."""

    dataset: str                #: e.g. "MNIST train"
    source: str                 #: the folder or file it came from, or "generated"
    standin: bool = False       #: generated images, not the real data set
    reason: str = ""            #: why a stand-in was used
    course_data: bool = True    #: the data set the course's committed numbers are about


@dataclass
class Run:
    """A notebook's run: its name (the file stem), device, mode, start, data used and figures."""

    notebook: str
    device: torch.device | None
    smoke: bool
    start: float | None = field(default_factory=time.perf_counter)
    uses: list[DataUse] = field(default_factory=list)
    figures: dict[str, dict] = field(default_factory=dict)

    def figure(self, name: str, draw: Callable[..., Figure], *args, caption: str, **kwargs) -> Figure:
        """``draw(*args, **kwargs)``, a :mod:`course_utils.plots` function, drawn from the data the
        saved run keeps (so a redraw gives the same picture) and saved as figure ``name``."""
        kind = next((k for k, fn in figures.KINDS.items() if fn is draw), None)
        if kind is None:
            raise ValueError(f"{getattr(draw, '__name__', draw)!r} is not a drawing function of "
                             f"course_utils.plots; call it directly to draw without keeping the figure")
        spec = figures.spec(kind, caption, inspect.signature(draw).bind_partial(*args, **kwargs).arguments)
        with plots.style(settings.figure_style()):
            fig = figures.draw(spec)
            plots.write_figure(fig, self.figures_dir(), name)
        self.figures[name] = spec
        write_json(figures.runs_path(self.notebook, settings.results_root()), {
            "format": figures.FORMAT, "version": figures.VERSION, "notebook": self.notebook,
            "mode": settings.mode(), "device": str(self.device or "unknown"),
            "torch": torch.__version__, "recorded": time.strftime("%Y-%m-%d %H:%M:%S"),
            "figures": self.figures})
        return fig

    def figures_dir(self) -> Path:
        """``<figures root>/<notebook>``."""
        return settings.figures_root() / self.notebook

    def record(self, *, headline: Sequence[str] = (), **numbers: float | int | str | list) -> dict:
        """Merge ``numbers`` into the record ``<results>/<notebook>.json`` with mode, device, run
        time, versions and the data used; return it. ``headline``: the metrics the site shows first."""
        path = settings.results_root() / f"{self.notebook}.json"
        data = json.loads(path.read_text()) if path.exists() else {}
        if data.get("mode") not in (None, settings.mode()):
            data = {}  # never mix smoke and full numbers in one record
        data.setdefault("metrics", {}).update(numbers)
        if headline:
            missing = [k for k in headline if k not in data["metrics"]]
            if missing:
                raise KeyError(f"headline names metrics that were not recorded: {', '.join(missing)}")
            data["headline"] = list(headline)
        standins = [u for u in self.uses if u.standin]
        data.update(notebook=self.notebook, mode=settings.mode(), torch=torch.__version__,
                    python=platform.python_version(), recorded=time.strftime("%Y-%m-%d %H:%M:%S"),
                    device=str(self.device) if self.device is not None else data.get("device") or "unknown",
                    seconds=round(time.perf_counter() - self.start, 2) if self.start is not None else None,
                    data=[f"{u.dataset}: {shown_source(u.source)}" for u in self.uses],
                    standin=bool(standins), standin_reasons=[f"{u.dataset}: {u.reason}" for u in standins],
                    course_data=all(u.course_data and not u.standin for u in self.uses))
        write_json(path, data)
        return data


def shown_source(source: str) -> str:
    """``source`` relative to the checkout when inside it (``data/MNIST/raw``), else as it is."""
    root = settings.checkout()
    if root is None or source == "generated":
        return source
    # as named first (CI links data/ to a copy elsewhere), then with every link followed
    for path, top in ((Path(os.path.abspath(source)), Path(os.path.abspath(root))),
                      (Path(source).resolve(), root.resolve())):
        if path.is_relative_to(top):
            return path.relative_to(top).as_posix()
    return source


_current: Run | None = None


def start_run(notebook: str, device: torch.device | str | None = None) -> Run:
    """Start the run of ``notebook`` (its clock, no data or figures yet) and make it current."""
    global _current
    device = torch.device(device) if device is not None else get_device()
    _current = Run(notebook, device, settings.is_smoke())
    return _current


def current() -> Run:
    """The run :func:`start_run` started last, else a scratch run named by ``COURSE_NOTEBOOK``."""
    global _current
    if _current is None:
        _current = Run(settings.given("COURSE_NOTEBOOK") or "scratch", None, settings.is_smoke(), start=None)
    return _current


def note_data(use: DataUse) -> DataUse:
    """Note that the current run used ``use`` (once); log a stand-in to ``COURSE_STANDIN_LOG``."""
    run = current()
    if use not in run.uses:
        run.uses.append(use)
        log = settings.given("COURSE_STANDIN_LOG")
        if use.standin and log:
            with open(log, "a", encoding="utf-8") as f:
                f.write(json.dumps({"notebook": run.notebook, **asdict(use)}) + "\n")
    return use
