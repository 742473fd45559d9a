"""One run of a notebook: the one bookkeeping line at its start and the one at its end.

    run = start_run("01_mnist_fc_vs_cnn")      # smoke mode or not, where figures and the record go
    ...
    fig = run.figure("training_loss", plot_curves, runs, metric="step_loss", caption="...")
    ...
    run.record(cnn_test_acc=0.97, headline=["cnn_test_acc"])

``run.figure`` calls a drawing function of :mod:`course_utils.plots` (plain matplotlib that a
student can read, call and change) and also keeps its data so the instructor's saved-run redraw
can draw it again without training.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from matplotlib.figure import Figure

from course_utils import figures, results
from course_utils.device import get_device
from course_utils.settings import is_smoke


@dataclass
class Run:
    """A notebook's run: its name (the file stem), device and mode."""

    notebook: str
    device: torch.device
    smoke: bool

    def figure(self, name: str, draw: Callable[..., Figure], *args, caption: str, **kwargs) -> Figure:
        """``draw(*args, **kwargs)``, saved as figure ``name`` with its data kept for a redraw."""
        kind = next((k for k, fn in figures.KINDS.items() if fn is draw), None)
        if kind is None:
            raise ValueError(f"{getattr(draw, '__name__', draw)!r} is not a drawing function of "
                             f"course_utils.plots; call it directly to draw without keeping the figure")
        data = dict(inspect.signature(draw).bind_partial(*args, **kwargs).arguments)
        return figures.figure(name, kind, caption=caption, **data)

    def record(self, *, headline: Sequence[str] = (), **numbers: float | int | str | list) -> dict:
        """Write this run's numbers into its record (``results/<notebook>.json`` in a build)."""
        return results.record(headline=headline, **numbers)


def start_run(notebook: str, device: torch.device | str | None = None) -> Run:
    """Start the clock of ``notebook`` and forget what an earlier run in this process used."""
    device = torch.device(device) if device is not None else get_device()
    results.start_notebook(notebook, device)
    return Run(notebook, device, is_smoke())
