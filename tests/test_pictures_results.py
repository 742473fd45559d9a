import json

import matplotlib
import torch

from course_utils import results, run
from course_utils.plots import bar_chart, plot_curves, show_images, to_display, write_figure

matplotlib.use("Agg")


def test_to_display_denormalises():
    x = torch.full((2, 1, 4, 4), 0.5)
    out = to_display((x - 0.5) / 0.25, mean=(0.5,), std=(0.25,))
    assert out.shape == (2, 4, 4, 1) and abs(out.mean() - 0.5) < 1e-6
    assert to_display(torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)).max() == 1.0


def test_show_images_titles_and_grid():
    fig = show_images(torch.zeros(20, 1, 28, 28, dtype=torch.uint8), [str(i) for i in range(20)], ncols=10)
    titled = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(fig.axes) == 20 and titled == [str(i) for i in range(20)]


def test_curves_and_write_figure(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_FIGURES", str(tmp_path))
    runs = {"a": {"step_loss": [3, 2, 1], "epoch": [1]}, "b": {"step_loss": [2, 1, 0.5], "epoch": [1]}}
    fig = plot_curves(runs, "step_loss")
    assert [l.get_label() for l in fig.axes[0].get_lines()] == ["a", "b"]
    paths = write_figure(fig, run.start_run("99_test").figures_dir(), "loss", formats=("png", "svg"))
    assert paths == [tmp_path / "99_test" / "loss.png", tmp_path / "99_test" / "loss.svg"]
    assert all(p.stat().st_size > 0 for p in paths)
    from PIL import Image
    width, height = fig.get_size_inches()
    assert Image.open(paths[0]).size == (round(width * 150), round(height * 150))   # 150 dpi, no style


def test_bar_chart_with_errors():
    fig = bar_chart({"FC": {"orig": 0.87, "perm": 0.87}, "CNN": {"orig": 0.94, "perm": 0.81}},
                    {"FC": {"orig": 0.01, "perm": 0.01}, "CNN": {"orig": 0.01, "perm": 0.02}})
    ax = fig.axes[0]
    assert len(ax.patches) == 4
    assert sorted(t.get_text() for t in ax.texts) == ["0.810", "0.870", "0.870", "0.940"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["orig", "perm"]
    assert bar_chart({"a": {"only": 1.0}}).axes[0].get_legend() is None   # one series: no legend


def test_record_writes_json_with_context(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_RESULTS", str(tmp_path))
    monkeypatch.setenv("COURSE_SMOKE", "1")
    run.start_run("99_test", "cpu")
    run.current().record(acc=0.9)
    data = run.current().record(loss=0.1)
    on_disk = json.loads((tmp_path / "99_test.json").read_text())
    assert on_disk == data
    assert data["metrics"] == {"acc": 0.9, "loss": 0.1}
    assert data["mode"] == "smoke" and data["device"] == "cpu" and data["torch"] == torch.__version__
    assert data["seconds"] >= 0
    monkeypatch.setenv("COURSE_SMOKE", "0")  # a full run starts a fresh record
    assert run.current().record(acc=0.95)["metrics"] == {"acc": 0.95}
    assert results.load_results(tmp_path)["99_test"]["mode"] == "full"


def test_format_table():
    text = results.format_table([{"model": "FC", "parameters": 6442, "acc": 0.5},
                                 {"model": "CNN", "parameters": 6422, "acc": 0.25}])
    lines = text.splitlines()
    assert lines[0].split() == ["model", "parameters", "acc"]
    assert lines[2].split() == ["FC", "6,442", "0.5000"]
    rows = [{"run": "a", "seconds": 13.8, "acc": 0.85441}]
    assert results.format_table(rows, formats={"seconds": ".1f"}).splitlines()[2].split() == ["a", "13.8", "0.8544"]
    import pytest
    with pytest.raises(KeyError, match="secs"):
        results.format_table(rows, formats={"secs": ".1f"})


def test_plot_confusion_writes_counts_and_checks_shape():
    import pytest
    from course_utils.plots import plot_confusion
    fig = plot_confusion(torch.tensor([[5, 1], [0, 7]]), ["cat", "dog"])
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert texts == ["0", "1", "5", "7"]
    with pytest.raises(ValueError, match="does not match 3 classes"):
        plot_confusion(torch.zeros(2, 2), ["a", "b", "c"])


def test_smoke_and_student_figures_never_land_in_the_builds_folder(monkeypatch):
    from course_utils.settings import PACKAGE_PARENT
    from course_utils.run import Run

    def figures_dir(name):
        return Run(name, None, False).figures_dir()
    monkeypatch.delenv("COURSE_FIGURES", raising=False)
    monkeypatch.setenv("COURSE_SMOKE", "1")
    assert figures_dir("01_x") == PACKAGE_PARENT / "build" / "smoke" / "figures" / "01_x"
    monkeypatch.setenv("COURSE_SMOKE", "0")
    assert figures_dir("01_x") == PACKAGE_PARENT / "build" / "figures" / "01_x"


def test_record_says_when_the_data_was_a_standin(tmp_path, monkeypatch, capsys):
    from course_utils.data.mnist import load_mnist
    from course_utils.data.provenance import read_standin_log
    monkeypatch.setenv("COURSE_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("COURSE_STANDIN_LOG", str(tmp_path / "standin.jsonl"))
    monkeypatch.setenv("COURSE_SMOKE", "1")
    run.start_run("98_standin", "cpu")
    load_mnist(True, root=tmp_path / "empty")              # nothing there: a loud stand-in
    data = run.current().record(acc=0.5)
    assert data["standin"] is True and data["course_data"] is False
    assert data["standin_reasons"] == [f"MNIST: no archives in {tmp_path / 'empty' / 'MNIST' / 'raw'}"]
    assert read_standin_log(tmp_path / "standin.jsonl")[0]["notebook"] == "98_standin"
    run.start_run("97_clean", "cpu")             # a new notebook forgets the old notes
    assert run.current().record(acc=0.5)["standin"] is False


def test_results_markdown_never_shows_standin_numbers():
    from course_utils.instructor.report import results_markdown
    text = results_markdown({"01_x": {"mode": "smoke", "standin": True, "standin_reasons": ["MNIST: gone"],
                                      "metrics": {"acc": 0.123}}}, mode="smoke")
    assert "0.123" not in text and "STAND-IN data" in text and "MNIST: gone" in text


def test_report_keeps_tiny_numbers_readable():
    from course_utils.instructor.report import format_value
    assert format_value(3.6e-07) == "3.6e-07" and format_value(0.0) == "0.0000" and format_value(0.12345) == "0.1235"
    assert format_value([0.9, 0.88]) == "0.9000, 0.8800" and format_value(None) == "-" and format_value(True) == "true"


def test_records_name_data_inside_the_checkout_relative_to_it(tmp_path):
    from course_utils.data.provenance import shown_source
    from course_utils.settings import PACKAGE_PARENT
    assert shown_source(str(PACKAGE_PARENT / "data" / "MNIST" / "raw")) == "data/MNIST/raw"
    assert shown_source(str(tmp_path / "photos")) == str(tmp_path / "photos")   # a student's folder: as it is
    assert shown_source("generated") == "generated"


def test_records_name_linked_data_inside_the_checkout_relative_to_it(tmp_path):
    """CI (and this project's machines) link data/cifar10 to an offline copy elsewhere: the
    record still names the checkout's data/cifar10/train, not the machine's absolute path."""
    import os

    from course_utils.data.provenance import shown_source
    from course_utils.settings import PACKAGE_PARENT
    elsewhere = tmp_path / "offline-copy"
    (elsewhere / "train").mkdir(parents=True)
    link = PACKAGE_PARENT / "data" / f".linked-{os.getpid()}"
    link.symlink_to(elsewhere, target_is_directory=True)
    try:
        assert shown_source(str(link / "train")) == f"data/{link.name}/train"
    finally:
        link.unlink()
