"""The functions behind the notebooks' widgets, and the widgets built headless."""

import io

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from course_utils import run
from course_utils.data.folders import UploadError, read_upload
from course_utils.widgets import feature_maps, stages
from course_utils.models.mnist import CNN
from course_utils.lessons.permutation import block_permutation
from course_utils.lessons.schedules import decays, lr_curve


# ------------------------------------------------------------------ block shuffles (02)
@pytest.mark.parametrize("block", [1, 2, 4, 7, 14, 28])
def test_block_permutation_keeps_pixels_in_their_block(block):
    perm = block_permutation(28, block, seed=3)
    assert sorted(perm.tolist()) == list(range(784))
    rows, cols = torch.arange(784) // 28, torch.arange(784) % 28
    src_rows, src_cols = perm // 28, perm % 28
    assert torch.equal(rows // block, src_rows // block) and torch.equal(cols // block, src_cols // block)
    if block == 1:
        assert torch.equal(perm, torch.arange(784))
    else:
        assert (perm != torch.arange(784)).float().mean() > 0.5


def test_block_permutation_refuses_sizes_that_do_not_tile():
    with pytest.raises(ValueError, match="divisor of 28"):
        block_permutation(28, 5)


# ------------------------------------------------------------------ schedules (03)
def test_steplr_per_epoch_or_per_batch():
    per_epoch = lr_curve("step", epochs=30, steps_per_epoch=100, interval="epoch", lr=0.1)
    per_batch = lr_curve("step", epochs=30, steps_per_epoch=100, interval="batch", lr=0.1)
    assert len(per_epoch) == len(per_batch) == 3000
    assert decays(per_epoch) == 2 and per_epoch[999] == pytest.approx(0.1) and per_epoch[1000] == pytest.approx(0.01)
    assert decays(per_batch) > 100 and per_batch[100] < 1e-10       # the seed's StepLR stepped per batch


def test_one_cycle_and_cosine_shapes():
    one = lr_curve("one-cycle", epochs=10, steps_per_epoch=50, interval="batch", lr=0.4)
    peak = int(np.argmax(one))
    assert 0.2 * 500 < peak < 0.4 * 500 and max(one) == pytest.approx(0.4, rel=1e-3) and one[-1] < 1e-4
    cos = lr_curve("cosine", epochs=10, steps_per_epoch=50, interval="batch", lr=0.4)
    assert cos[0] == 0.4 and cos[250] == pytest.approx(0.2, rel=0.01) and cos[-1] < 1e-3
    with pytest.raises(ValueError, match="unknown schedule"):
        lr_curve("linear")


# ------------------------------------------------------------------ feature maps (01)
def test_feature_maps_of_each_stage():
    torch.manual_seed(0)
    cnn = CNN()
    assert list(stages(cnn.features)) == ["conv 1", "ReLU 1", "pool 1", "conv 2", "ReLU 2", "pool 2"]
    digit = torch.randint(0, 256, (1, 28, 28), dtype=torch.uint8)
    shapes = {s: tuple(feature_maps(cnn.features, digit, s, mean=0.13, std=0.31)["maps"].shape)
              for s in stages(cnn.features)}
    assert shapes == {"conv 1": (6, 24, 24), "ReLU 1": (6, 24, 24), "pool 1": (6, 12, 12),
                      "conv 2": (6, 8, 8), "ReLU 2": (6, 8, 8), "pool 2": (6, 4, 4)}
    relu = feature_maps(cnn.features, digit, "ReLU 1", mean=0.13, std=0.31)
    assert relu["maps"].min() >= 0 and tuple(relu["filters"].shape) == (6, 5, 5)
    conv = feature_maps(cnn.features, digit, "conv 1", mean=0.13, std=0.31)
    assert torch.equal(conv["maps"].clamp(min=0), relu["maps"])             # the ReLU of the conv's maps
    with pytest.raises(ValueError, match="unknown stage 'conv 3'"):
        feature_maps(cnn.features, digit, "conv 3")


# ------------------------------------------------------------------ uploads (05)
def encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


RGB = Image.fromarray(np.full((30, 40, 3), 120, np.uint8))


@pytest.mark.parametrize("content, note", [
    (encoded(RGB, "JPEG"), ""),
    (encoded(RGB.convert("L"), "PNG"), "PNG in grayscale, converted to RGB"),
    (encoded(RGB.convert("CMYK"), "JPEG"), "JPEG in CMYK, converted to RGB"),
    (encoded(RGB.convert("RGBA"), "PNG"), "PNG in RGB with transparency (flattened onto white), converted to RGB"),
])
def test_uploads_are_converted_with_a_note(content, note):
    image, said = read_upload(content, "photo")
    assert image.dtype == torch.uint8 and tuple(image.shape) == (3, 30, 40) and said == note


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"%PDF-1.4 not a photo", "is not an image this course can read"),
    (b"\xff" * 2_000_001, "is 2.0 MB; photos up to 1 MB"),
    (encoded(RGB, "JPEG")[:200], "is not an image this course can read"),
])
def test_bad_uploads_get_a_message_not_a_traceback(content, message):
    with pytest.raises(UploadError, match=message):
        read_upload(content, "photo", max_bytes=1_000_000)


def test_upload_verdict_and_the_widgets_build_headless(tmp_path, monkeypatch, capsys):
    import ipywidgets as w
    from course_utils import widgets
    monkeypatch.setenv("COURSE_FIGURES", str(tmp_path))
    run.start_run("95_widgets")
    torch.manual_seed(0)
    model = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(48, 2))
    classes = ["hotdog", "not-hotdog"]
    photos = [torch.randint(0, 256, (3, 60, 80), dtype=torch.uint8) for _ in range(3)]
    ui = widgets.is_it_a(model, photos, classes, mean=(0.5,) * 3, std=(0.5,) * 3, labels=[0, 1, 0])
    assert len(ui.children) == 2
    upload, out = next(find(ui, w.FileUpload)), next(find(ui, w.Output))
    browser_upload(upload, "mine.png", encoded(RGB.convert("L"), "PNG"))
    text = shown_text(out)
    assert "mine.png: " in text and "p = " in text and "grayscale" in text and len(out.outputs) == 2
    browser_upload(upload, "x.txt", b"nope")
    assert "not an image" in shown_text(out) and len(out.outputs) == 1
    cnn = CNN()
    digits = torch.randint(0, 256, (5, 1, 28, 28), dtype=torch.uint8)
    widgets.explore_feature_maps(cnn.features, digits, torch.arange(5), mean=0.13, std=0.31)
    widgets.explore_block_shuffle(digits, {"FC": {1: 0.9, 7: 0.9, 28: 0.9}, "CNN": {1: 0.95, 7: 0.9, 28: 0.8}})
    widgets.explore_schedules(epochs=3, steps_per_epoch=5)
    widgets.layer_calculator()
    assert "output: 64x55x55" in capsys.readouterr().out
    saved = sorted(p.name for p in (tmp_path / "95_widgets").iterdir())
    assert saved == ["block_shuffle_accuracy.png", "block_shuffle_digits.png", "feature_maps.png",
                     "is_it_a.png", "lr_schedules.png"]


# ------------------------------------------------- the widgets under ipywidgets 7.7 and 8
# tests/test_colab_env.py runs this file again with Colab's ipywidgets 7.7.1; the default run
# has 8.x. Uploads arrive as the browser sends them (set_state, as a comm message does).
def test_uploaded_files_reads_both_formats():
    from course_utils.widgets import uploaded_files
    v8 = ({"name": "a.jpg", "type": "image/jpeg", "size": 3, "last_modified": 0, "content": memoryview(b"abc")},)
    v7 = {"a.jpg": {"metadata": {"name": "a.jpg", "type": "image/jpeg", "size": 3, "lastModified": 0},
                    "content": b"abc"}}
    assert uploaded_files(v8) == uploaded_files(v7) == [("a.jpg", b"abc")]
    assert uploaded_files(()) == uploaded_files({}) == []


@pytest.mark.parametrize("value, message", [
    ("a.jpg", "value is a str: neither ipywidgets 8's tuple of files nor ipywidgets 7's dict"),
    ({"a.jpg": b"abc"}, r"uploaded file \(a.jpg\) came without its content"),
    ([{"name": "a.jpg"}], r"uploaded file \(a.jpg\) came without its content"),
])
def test_uploaded_files_names_what_it_cannot_read(value, message):
    from course_utils.widgets import uploaded_files
    with pytest.raises(UploadError, match=message):
        uploaded_files(value)


def browser_upload(upload, name: str, content: bytes) -> None:
    """What the front end sends when a file is picked, in the installed ipywidgets' format."""
    import ipywidgets
    if int(ipywidgets.__version__.split(".")[0]) >= 8:
        upload.set_state({"value": [{"name": name, "type": "image/png", "size": len(content),
                                     "last_modified": 0, "content": memoryview(content)}]})
    else:   # 7.x: metadata and data lists, then the counter that makes the value
        upload.set_state({"metadata": [{"name": name, "type": "image/png", "size": len(content),
                                        "lastModified": 0}], "data": [memoryview(content)],
                          "_counter": upload._counter + 1})


def shown_text(out) -> str:
    return "\n".join(o.get("data", {}).get("text/html", "") + o.get("text", "") for o in out.outputs)


def find(widget, kind):
    """The widgets of type ``kind`` inside ``widget``, depth first."""
    if isinstance(widget, kind):
        yield widget
    for child in getattr(widget, "children", ()):
        yield from find(child, kind)


@pytest.fixture
def hotdog_ui(tmp_path, monkeypatch):
    import ipywidgets as w
    from course_utils import widgets

    def build():
        monkeypatch.setenv("COURSE_FIGURES", str(tmp_path))
        run.start_run("96_widgets")
        torch.manual_seed(0)
        model = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(48, 2))
        photos = [torch.randint(0, 256, (3, 60, 80), dtype=torch.uint8) for _ in range(3)]
        ui = widgets.is_it_a(model, photos, ["hotdog", "not-hotdog"], mean=(0.5,) * 3, std=(0.5,) * 3)
        return ui, next(find(ui, w.FileUpload)), next(find(ui, w.Output)), next(find(ui, w.Dropdown))
    return build


def test_is_it_a_answers_an_upload_as_the_browser_sends_it(hotdog_ui):
    ui, upload, out, chooser = hotdog_ui()
    assert "test photo 1: " not in shown_text(out) and "p = " in shown_text(out)   # a test photo's verdict
    chooser.value = 2
    assert "p = " in shown_text(out) and len(out.outputs) == 2                     # text and picture
    browser_upload(upload, "mine.png", encoded(RGB, "PNG"))
    said = shown_text(out)
    assert "mine.png: " in said and "p = " in said and "Figure" in out.outputs[1]["data"]["text/plain"], said
    browser_upload(upload, "notes.png", b"%PDF-1.4 not a photo")
    assert "notes.png is not an image this course can read" in shown_text(out)


def test_on_colab_the_upload_says_its_limit_and_colabs_picker_takes_larger_photos(hotdog_ui, monkeypatch):
    import sys
    import types

    import ipywidgets as w
    from course_utils import widgets
    picked = {"big.png": encoded(Image.fromarray(np.full((900, 1200, 3), 90, np.uint8)), "PNG")}
    colab = types.ModuleType("google.colab")
    colab.files = types.SimpleNamespace(upload=lambda: picked)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    shown = []
    monkeypatch.setattr(widgets, "display", lambda *items: shown.extend(items))
    ui, upload, out, _ = hotdog_ui()
    assert upload.description == "photo < 1 MB"
    assert "upload_photo()" in next(find(ui, w.HTML)).value
    assert widgets.upload_photo() == ["big.png"]
    assert "big.png: " in shown_text(out) and "big.png: " in shown[0].data


def test_upload_photo_elsewhere_says_to_use_the_button(monkeypatch):
    import sys
    from course_utils import widgets
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    with pytest.raises(RuntimeError, match="uses Colab's file picker"):
        widgets.upload_photo()


def test_moving_a_slider_redraws_the_layer_calculator(capsys):
    import ipywidgets as w
    from course_utils import widgets
    ui = widgets.layer_calculator()
    out = next(find(ui, w.Output))
    assert "output: 64x55x55" in shown_text(out)
    kernel = next(s for s in find(ui, w.IntSlider) if s.description == "kernel")
    kernel.value = 3
    assert "output: 64x57x57" in shown_text(out)
    layer = next(find(ui, w.ToggleButtons))
    layer.value = "maxpool"
    assert "64x57x57" not in shown_text(out) and "output:" in shown_text(out)
