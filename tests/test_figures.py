"""Saved runs: figures redrawn from kept data are the figures the run made, in any style."""

import io
import json

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from PIL import Image

from course_utils import instructor, figures, plots, run, settings
from course_utils.figures import decode, encode
from course_utils.instructor.redraw import RunsError, load_runs, redraw
from course_utils.run import current, start_run

HISTORY = {"epoch": [1, 2, 3], "test_acc": [0.5, 0.61, 0.7], "step_loss": [2.3, 1.9, 1.5, 1.2, 1.1, 1.0]}


def every_kind():
    """One figure of every kind, as a notebook would make them."""
    g = torch.Generator().manual_seed(0)
    figure = current().figure
    figure("digits", plots.show_images, caption="digits",
           images=torch.randint(0, 256, (6, 1, 28, 28), dtype=torch.uint8, generator=g),
           titles=[str(i) for i in range(6)], ncols=3)
    figure("photos", plots.show_images, caption="photos, normalised floats, shrunk to thumbnails",
           images=torch.randn(2, 3, 224, 224, generator=g), mean=(0.5,) * 3, std=(0.5,) * 3, ncols=2)
    figure("curves", plots.plot_curves, caption="curves", runs={"a": HISTORY, "b": HISTORY},
           metric="test_acc")
    figure("bars", plots.bar_chart, caption="bars", values={"FC": {"x": 0.8, "y": 0.9}},
           errors={"FC": {"x": float("nan"), "y": 0.01}})
    figure("confusion", plots.plot_confusion, caption="confusion", confusion=torch.tensor([[5, 1], [2, 7]]),
           classes=["a", "b"])
    figure("lines", plots.plot_lines, caption="lines", x=[0, 1, 2], lines={"lr": [0.1, 0.2, 0.05]},
           mark_x=1.0)


def runs_path(notebook=None):
    """The saved run of ``notebook`` (default: the current run's) in the results folder."""
    return figures.runs_path(notebook or run.current().notebook, settings.results_root())


def pixels(path):
    return np.asarray(Image.open(path))


def test_encode_decode_round_trip():
    data = {"h": HISTORY, "t": torch.tensor([[1.5, 2.0]]), "i": torch.zeros(2, 3, 4, 5, dtype=torch.uint8),
            "n": np.float32(0.25), "s": ("a", None)}
    back = decode(json.loads(json.dumps(encode(data))))
    assert back["h"] == HISTORY and torch.equal(back["t"], data["t"]) and torch.equal(back["i"], data["i"])
    assert back["n"] == 0.25 and back["s"] == ["a", None]
    with pytest.raises(TypeError, match="plain data"):
        encode({"model": torch.nn.Linear(2, 2)})


def test_redrawn_figures_are_pixel_and_text_equal(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_FIGURE_FORMATS", "png,svg")
    start_run("97_kinds")
    every_kind()
    made = run.current().figures_dir()
    runs = runs_path()
    kept = load_runs(runs)
    assert sorted(kept["figures"]) == ["bars", "confusion", "curves", "digits", "lines", "photos"]
    assert max(decode(kept["figures"]["photos"]["data"])["images"].shape[2:]) == figures.THUMBNAIL
    files = redraw(runs, tmp_path / "again", formats=["png", "svg"])
    assert len(files) == 12
    for file in files:
        original = made / file.name
        if file.suffix == ".png":
            assert np.array_equal(pixels(file), pixels(original)), file.name
        else:
            assert file.read_text() == original.read_text(), file.name


def test_slides_style_makes_16_9_figures_with_larger_text(tmp_path):
    start_run("96_slides")
    every_kind()
    paper = redraw(runs_path(), tmp_path / "paper")
    assert paper and all(p.stat().st_size > 0 for p in paper)
    slides = redraw(runs_path(), tmp_path / "slides", style="slides", formats=["png", "pdf"])
    assert len(slides) == 12 and all(p.stat().st_size > 0 for p in slides)
    for p in slides:
        if p.suffix == ".png":
            w, h = Image.open(p).size
            assert abs(w / h - 16 / 9) < 0.2, p.name     # bbox "standard": the whole 16:9 page
    before = plt.rcParams["font.size"]
    with plots.style("slides"):
        fig = plots.plot_curves({"a": HISTORY}, "test_acc")
        assert tuple(fig.get_size_inches()) == pytest.approx((13.333, 7.5), abs=0.01)
        assert fig.axes[0].xaxis.label.get_fontsize() == 22
    assert plt.rcParams["font.size"] == before      # matplotlib's style context put it back
    with pytest.raises(ValueError, match="unknown style"):
        with plots.style("poster"):
            pass


def test_bad_saved_runs_are_named(tmp_path):
    with pytest.raises(RunsError, match="no saved run at"):
        load_runs(tmp_path / "none.runs.json")
    bad = tmp_path / "old.runs.json"
    bad.write_text(json.dumps({"format": figures.FORMAT, "version": 0}))
    with pytest.raises(RunsError, match="version 0.*rebuild the notebook"):
        load_runs(bad)


NOTEBOOK = [
    "from course_utils.run import start_run\nstart_run('01_kinds')",
    "import sys\nsys.path.insert(0, %r)\nfrom test_figures import every_kind\nevery_kind()",
]


def test_build_figures_only_redraws_what_the_build_made(tmp_path):
    from pathlib import Path
    from tests.test_build import dirs, make_notebook
    make_notebook(tmp_path / "nb" / "01_kinds.ipynb", [NOTEBOOK[0], NOTEBOOK[1] % str(Path(__file__).parent)])
    make_notebook(tmp_path / "nb" / "02_never.ipynb", ["x = 1"])
    log = io.StringIO()
    assert instructor.main(["01", *dirs(tmp_path), "--formats", "png,svg"], stream=log) == 0, log.getvalue()
    made = {p.name: p.read_bytes() for p in (tmp_path / "figures" / "01_kinds").iterdir()}
    again = tmp_path / "again"
    log = io.StringIO()
    rc = instructor.main(["--figures-only", *dirs(tmp_path), "--figures", str(again), "--formats", "png,svg"],
                    stream=log)
    assert rc == 1   # 02_never has no saved run
    assert "02_never: no figures redrawn: no saved run at" in log.getvalue()
    assert "python -m course_utils.instructor 02_never" in log.getvalue()
    for name, data in made.items():
        redrawn = again / "01_kinds" / name
        if name.endswith(".png"):
            assert np.array_equal(pixels(redrawn), pixels(io.BytesIO(data))), name
        else:
            assert redrawn.read_bytes() == data, name
    log = io.StringIO()
    assert instructor.main(["01", "--figures-only", "--style", "slides", *dirs(tmp_path), "--figures",
                       str(tmp_path / "slides")], stream=log) == 0
    assert len(list((tmp_path / "slides" / "01_kinds").glob("*.png"))) == 6


@pytest.mark.parametrize("damage", ["half a thumbnail", "a list", "a list of figures"])
def test_figures_only_names_a_damaged_saved_run_and_redraws_the_others(tmp_path, damage):
    """Valid JSON, damaged inside: before, a raw binascii.Error or AttributeError stopped
    --figures-only, the notebooks after it were not redrawn, and the damaged one was left with a
    mix of new and old figures."""
    from tests.test_build import dirs, make_notebook
    for name in ("01_a", "02_b", "03_c"):
        make_notebook(tmp_path / "nb" / f"{name}.ipynb", ["x = 1"])
        start_run(name)
        current().figure("curves", plots.plot_curves, caption="curves", runs={"a": HISTORY},
                         metric="test_acc")
        current().figure("digits", plots.show_images, caption="digits",
                         images=torch.zeros(2, 1, 28, 28, dtype=torch.uint8))
        plt.close("all")
    runs = runs_path("02_b")
    saved = json.loads(runs.read_text())
    if damage == "half a thumbnail":
        thumbs = saved["figures"]["digits"]["data"]["images"]["__images__"]
        thumbs[0] = thumbs[0][: len(thumbs[0]) // 2]
    elif damage == "a list":
        saved = []
    else:
        saved["figures"] = [saved["figures"]["curves"]]
    runs.write_text(json.dumps(saved))
    old = tmp_path / "figures" / "02_b"
    old.mkdir(parents=True)
    for name in ("curves.png", "digits.png"):
        (old / name).write_bytes(b"the figure as it was")
    log = io.StringIO()
    rc = instructor.main(["--figures-only", *dirs(tmp_path), "--results", str(runs.parent)], stream=log)
    out = log.getvalue()
    assert rc == 1 and "Traceback" not in out
    assert f"02_b: no figures redrawn ({old} left as it was)" in out
    assert str(runs) in out and ("damaged" in out or "not a saved run" in out)
    for name in ("01_a", "03_c"):                                   # the others are redrawn
        assert sorted(p.name for p in (tmp_path / "figures" / name).iterdir()) == ["curves.png", "digits.png"]
    assert {p.name: p.read_bytes() for p in old.iterdir()} == {    # the damaged one: as it was
        "curves.png": b"the figure as it was", "digits.png": b"the figure as it was"}
    assert [p.name for p in (tmp_path / "figures").iterdir() if p.name.startswith(".")] == []
