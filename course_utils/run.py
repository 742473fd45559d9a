"""One run of a notebook: the one bookkeeping line at its start and the one at its end.

    run = start_run("01_mnist_fc_vs_cnn")      # smoke mode or not, where figures and the record go
    ...
    fig = run.figure("training_loss", plot_curves, runs, metric="step_loss", caption="...")
    ...
    run.record(cnn_test_acc=0.97, headline=["cnn_test_acc"])

``run.figure`` calls a drawing function of :mod:`course_utils.plots` (plain matplotlib that a
student can read, call and change) and also keeps its data so the instructor's saved-run redraw
can draw it again without training.

The :class:`Run` holds everything a run gathers: its start, device, the data it used (loaders
report each split with :func:`note_data`) and the figures it kept. The only state of the process
is which run is the current one (:func:`current`): the one :func:`start_run` started last, or,
before any, a scratch run named by ``COURSE_NOTEBOOK``.
"""

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

    # ------------------------------------------------------------------------- data used
    def note_data(self, use: DataUse) -> DataUse:
        """Remember ``use`` for the record (once); log a stand-in to ``COURSE_STANDIN_LOG``."""
        if use not in self.uses:
            self.uses.append(use)
            log = settings.standin_log()
            if use.standin and log is not None:
                with open(log, "a", encoding="utf-8") as f:
                    f.write(json.dumps({"notebook": self.notebook, **asdict(use)}) + "\n")
        return use

    def data_summary(self) -> dict:
        """The record's data fields: what was used, whether any of it was a stand-in (and
        why), and whether all of it is the course's own data."""
        standins = [u for u in self.uses if u.standin]
        return {"data": [f"{u.dataset}: {shown_source(u.source)}" for u in self.uses],
                "standin": bool(standins),
                "standin_reasons": [f"{u.dataset}: {u.reason}" for u in standins],
                "course_data": all(u.course_data and not u.standin for u in self.uses)}

    # --------------------------------------------------------------------------- figures
    def figure(self, name: str, draw: Callable[..., Figure], *args, caption: str, **kwargs) -> Figure:
        """``draw(*args, **kwargs)``, saved as figure ``name`` with its data kept for a redraw."""
        kind = next((k for k, fn in figures.KINDS.items() if fn is draw), None)
        if kind is None:
            raise ValueError(f"{getattr(draw, '__name__', draw)!r} is not a drawing function of "
                             f"course_utils.plots; call it directly to draw without keeping the figure")
        data = dict(inspect.signature(draw).bind_partial(*args, **kwargs).arguments)
        return self.keep_figure(name, kind, caption=caption, **data)

    def keep_figure(self, name: str, kind: str, *, caption: str, **data) -> Figure:
        """Draw figure ``name`` with the :data:`~course_utils.figures.KINDS` function ``kind``
        from ``data``, save it and keep its data in the saved run. Image batches are kept as
        thumbnails; the figure is drawn from exactly what is kept, so a redraw gives the same
        picture. ``caption`` says what it shows (for the gallery)."""
        spec = figures.spec(kind, caption, data)
        with plots.style(settings.figure_style()):
            fig = figures.draw(spec)
            self.save_figure(fig, name)
        self.figures[name] = spec
        self.save_runs()
        return fig

    def figures_dir(self) -> Path:
        """``<figures root>/<notebook>`` (:func:`course_utils.settings.figures_root`)."""
        return settings.figures_root() / self.notebook

    def save_figure(self, fig: Figure, name: str, formats: Sequence[str] | None = None,
                    dpi: int = 150) -> list[Path]:
        """Write ``fig`` as ``<figures root>/<notebook>/<name>.<fmt>`` for each format (default:
        ``COURSE_FIGURE_FORMATS``, e.g. ``png,svg,pdf``, else PNG), in the run's figure style
        (the paper style crops to the contents, the slides keep their page); return the paths."""
        with plots.style(settings.figure_style()):
            return plots.write_figure(fig, self.figures_dir(), name, formats, dpi)

    def save_runs(self) -> Path:
        """Write this run's saved run (every figure kept so far) atomically."""
        return write_json(figures.runs_path(self.notebook, settings.results_root()), {
            "format": figures.FORMAT, "version": figures.VERSION, "notebook": self.notebook,
            "mode": settings.mode(), "device": str(self.device or "unknown"),
            "torch": torch.__version__, "recorded": time.strftime("%Y-%m-%d %H:%M:%S"),
            "figures": self.figures})

    # ---------------------------------------------------------------------------- record
    def record(self, *, headline: Sequence[str] = (), **numbers: float | int | str | list) -> dict:
        """Merge ``numbers`` into this run's record ``<results>/<notebook>.json`` with mode,
        device, seconds since the start, versions and the data used; return the whole record.
        ``headline`` names the metrics the course site shows first."""
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
        data.update(
            notebook=self.notebook,
            mode=settings.mode(),
            device=str(self.device) if self.device is not None else data.get("device") or "unknown",
            seconds=round(time.perf_counter() - self.start, 2) if self.start is not None else None,
            torch=torch.__version__,
            python=platform.python_version(),
            recorded=time.strftime("%Y-%m-%d %H:%M:%S"),
            **self.data_summary(),
        )
        write_json(path, data)
        return data


def shown_source(source: str) -> str:
    """``source`` relative to the checkout when it lies inside it (``data/MNIST/raw``), so that
    committed records name no folder of the machine they ran on; else as it is."""
    root = settings.checkout()
    if root is None or source == "generated":
        return source
    # the path as named first (a data/ folder linked to a copy elsewhere, as CI links the offline
    # data, is still the checkout's data/), then with every link followed
    for path, top in ((Path(os.path.abspath(source)), Path(os.path.abspath(root))),
                      (Path(source).resolve(), root.resolve())):
        try:
            return path.relative_to(top).as_posix()
        except ValueError:
            continue
    return source


_current: Run | None = None


def start_run(notebook: str, device: torch.device | str | None = None) -> Run:
    """Start the run of ``notebook`` (its clock, no data or figures yet) and make it current."""
    global _current
    device = torch.device(device) if device is not None else get_device()
    _current = Run(notebook, device, settings.is_smoke())
    return _current


def current() -> Run:
    """The run :func:`start_run` started last; before any, a scratch run named by
    ``COURSE_NOTEBOOK`` (``"scratch"`` when unset)."""
    global _current
    if _current is None:
        _current = Run(settings.notebook_name(), None, settings.is_smoke(), start=None)
    return _current


def note_data(use: DataUse) -> DataUse:
    """Note that the current run used ``use`` (what loaders call for each split they return)."""
    return current().note_data(use)




def save_figure(fig: Figure, name: str, formats: Sequence[str] | None = None, dpi: int = 150) -> list[Path]:
    """:meth:`Run.save_figure` of the current run: a figure saved without keeping its data."""
    return current().save_figure(fig, name, formats, dpi)
