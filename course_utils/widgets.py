"""The notebooks' widgets (ipywidgets 7.7, Colab's, and 8): each saves its figure with the default
settings (``run.figure``), then returns controls and an output that redraws fast when they move."""

from __future__ import annotations

import html
import sys
from typing import Any, Callable, Mapping, Sequence

import ipywidgets as w
import matplotlib.pyplot as plt
import torch
from IPython.display import HTML, display
from torch import Tensor, nn

from course_utils.lessons.arithmetic import calculate_layer
from course_utils.data.folders import UploadError, read_upload
from course_utils.data.loader import uint8_affine
from course_utils.data.photos import test_transform
from course_utils.run import current
from course_utils.models import eval_mode
from course_utils.lessons.permutation import block_permutation, permute_pixels
from course_utils.plots import plot_lines, show_feature_maps, show_images
from course_utils.lessons.schedules import SCHEDULES, lr_curve


def _show(out: w.Output, *shown: object) -> None:
    """Replace ``out``'s outputs with ``shown``: set, not captured (``with out:`` can hang nbclient)."""
    out.outputs = ()
    for item in shown:
        out.append_display_data(item)
        if isinstance(item, plt.Figure):
            plt.close(item)


def _wire(controls: Sequence[w.Widget], draw: Callable[[], object]) -> w.Output:
    """An output that ``draw`` fills now and whenever a control moves."""
    out = w.Output()
    for control in controls:
        control.observe(lambda change: _show(out, draw()), names="value")
    _show(out, draw())
    return out


def _save(name: str, draw: Callable, caption: str, **data: Any) -> None:
    plt.close(current().figure(name, draw, caption=caption, **data))


def stages(features: nn.Sequential) -> dict[str, int]:
    """Readable names of a conv stack's layers -> their index: ``conv 1``, ``ReLU 1``, ``pool 1``, ..."""
    names, block = {}, 0
    for i, layer in enumerate(features):
        kind = ("conv" if isinstance(layer, nn.Conv2d) else "ReLU" if isinstance(layer, nn.ReLU)
                else "pool" if isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)) else type(layer).__name__)
        block += kind == "conv"
        names[f"{kind} {block}"] = i
    return names


@torch.no_grad()
def feature_maps(features: nn.Sequential, image: Tensor, stage: str, *, mean: float = 0.0,
                 std: float = 1.0) -> dict[str, Tensor | str]:
    """:func:`course_utils.plots.show_feature_maps`'s arguments: one ``image`` (uint8 or float), what
    ``features`` makes of it up to ``stage`` and the last conv's filters averaged over their inputs."""
    names = stages(features)
    if stage not in names:
        raise ValueError(f"unknown stage {stage!r}; the stages are {', '.join(names)}")
    last = names[stage]
    pic = image.float() / (255 if image.dtype == torch.uint8 else 1)
    with eval_mode(features):
        out = features[: last + 1](((pic - mean) / std).unsqueeze(0).to(next(features.parameters()).device))
    conv = next(features[i] for i in range(last, -1, -1) if isinstance(features[i], nn.Conv2d))
    return {"image": pic.cpu(), "maps": out[0].float().cpu(),
            "filters": conv.weight.detach().float().cpu().mean(1), "title": stage}


def explore_feature_maps(features: nn.Sequential, images: Tensor, labels: Tensor, *, mean: float,
                         std: float, index: int = 0, stage: str = "conv 1") -> w.VBox:
    """01: pick a test digit and a layer of a trained conv stack: its filters and the maps it makes."""
    _save("feature_maps", show_feature_maps, f"What the CNN's {stage} makes of a test digit "
          f"({int(labels[index])}): its filters and feature maps",
          **feature_maps(features, images[index], stage, mean=mean, std=std))
    pick = w.IntSlider(index, 0, len(images) - 1, description="test digit")
    layer = w.Dropdown(options=list(stages(features)), value=stage, description="layer")

    def draw():
        fm = feature_maps(features, images[pick.value], layer.value, mean=mean, std=std)
        return show_feature_maps(**fm | {"title": f"{layer.value}, digit {int(labels[pick.value])}"})
    return w.VBox([w.HBox([pick, layer]), _wire([pick, layer], draw)])


def explore_block_shuffle(images: Tensor, accuracy: Mapping[str, Mapping[int, float]], *,
                          block: int = 7, seed: int = 0) -> w.VBox:
    """02: the block size of the shuffle: the digits shuffled, each net's ``accuracy[model][block]``."""
    sizes = sorted(next(iter(accuracy.values())))
    lines = {m: [a[s] for s in sizes] for m, a in accuracy.items()}
    axes = dict(marker="o", xlabel="block size (pixels shuffled within b x b blocks)", ylabel="test accuracy")

    def shuffled(b: int) -> Tensor:
        return permute_pixels(images, block_permutation(images.shape[-1], b, seed))
    _save("block_shuffle_digits", show_images, f"Digits shuffled within {block}x{block} blocks",
          images=shuffled(block), ncols=len(images))
    _save("block_shuffle_accuracy", plot_lines, "Test accuracy of each net against the size of the blocks "
          "its pixels were shuffled within (one run each)", x=sizes, lines=lines, mark_x=block, **axes)
    slider = w.SelectionSlider(options=sizes, value=block, description="block size")
    digits = _wire([slider], lambda: show_images(shuffled(slider.value), ncols=len(images), size=0.9))
    curve = _wire([slider], lambda: plot_lines(sizes, lines, mark_x=slider.value,
                                               title=f"block size {slider.value}", **axes))
    return w.VBox([slider, digits, curve])


def explore_schedules(*, epochs: int = 30, steps_per_epoch: int = 391, lr: float = 0.1) -> w.VBox:
    """03: a scheduler, stepped per epoch or per batch, and the learning rate over the run."""
    steps = list(range(epochs * steps_per_epoch))
    axes = dict(xlabel="training step (batch)", ylabel="learning rate")

    def curves(interval: str, kinds: Sequence[str]) -> dict[str, list[float]]:
        return {f"{k}, stepped per {interval}": lr_curve(k, epochs=epochs, steps_per_epoch=steps_per_epoch,
                                                         interval=interval, lr=lr) for k in kinds}
    _save("lr_schedules", plot_lines, f"StepLR, cosine and one-cycle schedules over {epochs} epochs of "
          f"{steps_per_epoch} steps, each stepped as intended", x=steps,
          lines={**curves("epoch", ["step", "cosine"]), **curves("batch", ["one-cycle"])}, **axes)
    kind = w.Dropdown(options=list(SCHEDULES), value="step", description="schedule")
    interval = w.ToggleButtons(options=["epoch", "batch"], value="epoch", description="step per")

    def draw():
        return plot_lines(steps, curves(interval.value, [kind.value]),
                          title=f"{kind.value}, stepped per {interval.value}", **axes)
    return w.VBox([w.HBox([kind, interval]), _wire([kind, interval], draw)])


def layer_calculator(kind: str = "conv", size: int = 224, in_channels: int = 3, out_channels: int = 64,
                     kernel: int = 11, stride: int = 4, padding: int = 2, dilation: int = 1,
                     groups: int = 1) -> w.VBox:
    """04: one conv or pool layer's output size, parameters and MACs, or why it has no output."""
    settings = dict(locals())
    print("\n".join(calculate_layer(**settings).lines()))
    controls = {"kind": w.ToggleButtons(options=["conv", "maxpool"], value=kind, description="layer")}
    for name, low, high, label in [("size", 1, 512, "input size"), ("in_channels", 1, 512, "channels in"),
                                   ("out_channels", 1, 512, "channels out"), ("kernel", 1, 15, "kernel"),
                                   ("stride", 1, 8, "stride"), ("padding", 0, 8, "padding"),
                                   ("dilation", 1, 4, "dilation"), ("groups", 1, 8, "groups")]:
        controls[name] = w.IntSlider(settings[name], low, high, description=label)

    def draw():
        text = "\n".join(calculate_layer(**{k: c.value for k, c in controls.items()}).lines())
        return HTML(f'<pre class="course-calculator">{html.escape(text)}</pre>')
    items = list(controls.values())
    return w.VBox([items[0], w.HBox([w.VBox(items[1:5]), w.VBox(items[5:])]), _wire(items, draw)])


def uploaded_files(value: Any) -> list[tuple[str, bytes]]:
    """(name, content) of each file in a ``FileUpload``'s value: ipywidgets 8's tuple of dicts with
    ``"name"`` and ``"content"``, or 7's (Colab's) dict ``{name: {"metadata": ..., "content": ...}}``."""
    if isinstance(value, Mapping):                       # ipywidgets 7
        entries = list(value.items())
    elif isinstance(value, (list, tuple)):               # ipywidgets 8
        entries = [(entry.get("name") if isinstance(entry, Mapping) else None, entry) for entry in value]
    else:
        raise UploadError(f"an upload's value is a {type(value).__name__}: neither ipywidgets 8's "
                          f"tuple of files nor ipywidgets 7's dict of them")
    for name, entry in entries:
        if not isinstance(entry, Mapping) or "content" not in entry:
            raise UploadError(f"an uploaded file ({name or 'no name'}) came without its content: "
                              f"expected a dict with 'content', got {type(entry).__name__}")
    return [(str(name or "the upload"), bytes(entry["content"])) for name, entry in entries]


#: The upload handler of the last :func:`is_it_a` built, for :func:`upload_photo`.
_last_upload: Callable[[bytes, str], tuple[object, ...]] | None = None


def is_it_a(model: nn.Module, photos: Sequence[Tensor], classes: list[str], *, mean, std,
            labels: Sequence[int] | None = None) -> w.VBox:
    """05: upload a photo, or pick a test photo: the model's class and its probability. On Colab,
    whose upload button drops files of 1 MB or more, it names :func:`upload_photo` (up to 20 MB)."""
    global _last_upload
    square, prepare = test_transform(160, 160), test_transform()   # a 160x160 thumbnail; the test view

    @torch.inference_mode()
    def say(image: Tensor) -> str:   # "hot dog (p = 0.97)" for a uint8 photo prepared as in testing
        device = next(model.parameters()).device
        x = prepare(image).unsqueeze(0).to(device)
        scale, shift = uint8_affine(mean, std, device)
        with eval_mode(model):
            probs = model(torch.addcmul(shift, x.float(), scale)).float().softmax(1)[0].cpu()
        best = int(probs.argmax())
        return f"{classes[best]} (p = {float(probs[best]):.2f})"
    picks = list(range(min(8, len(photos))))
    titles = [say(photos[i]) + ("" if labels is None else f"\n(truth: {classes[labels[i]]})") for i in picks]
    _save("is_it_a", show_images, f"The best model's verdicts on {len(picks)} test photos",
          images=torch.stack([square(photos[i]) for i in picks]), titles=titles, ncols=min(4, len(picks)),
          size=2.0)
    chooser = w.Dropdown(options=[(f"test photo {i + 1}", i) for i in range(len(photos))], value=0,
                         description="photo")
    colab = "google.colab" in sys.modules
    upload = w.FileUpload(accept="image/*", multiple=False,
                          description="photo < 1 MB" if colab else "your photo")
    out = w.Output()

    def show(image: Tensor | None, text: str) -> tuple[object, ...]:
        if image is None:
            shown = (HTML(f"<p style='color:#a00'>{html.escape(text)}</p>"),)
        else:
            shown = (HTML(f"<p>{html.escape(text)}</p>"),
                     show_images(square(image).unsqueeze(0), [text], ncols=1, size=3.0))
        _show(out, *shown)
        return shown

    def answer(content: bytes, name: str) -> tuple[object, ...]:
        try:
            image, note = read_upload(content, name)
        except UploadError as err:
            return show(None, str(err))
        return show(image, f"{name}: {say(image)}" + (f" ({note})" if note else ""))

    def on_upload(change):
        try:
            for name, content in uploaded_files(upload.value)[-1:]:
                answer(content, name)
        except UploadError as err:
            show(None, str(err))
    chooser.observe(lambda change: show(photos[chooser.value], say(photos[chooser.value])), names="value")
    upload.observe(on_upload, names="value")
    show(photos[0], say(photos[0]))
    _last_upload = answer
    rows = [w.HBox([chooser, upload]), out]
    if colab:   # Colab's widget manager drops a FileUpload of 1 MB or more: the kernel never gets it
        rows.insert(1, w.HTML("Colab's upload button drops photos of 1 MB or more. For a larger one (up to "
                              "20 MB) run <code>from course_utils.widgets import upload_photo; "
                              "upload_photo()</code> in a new cell."))
    return w.VBox(rows)


def upload_photo() -> list[str]:
    """Colab: the last :func:`is_it_a`'s verdict on photos from Colab's own picker (no 1 MB limit)."""
    if "google.colab" not in sys.modules:
        raise RuntimeError("upload_photo() uses Colab's file picker; elsewhere use the widget's upload "
                           "button, which takes photos up to 20 MB.")
    if _last_upload is None:
        raise RuntimeError("run the cell with is_it_a(...) first: its model gives the verdict.")
    from google.colab import files

    uploaded = files.upload()
    for name, content in uploaded.items():
        display(*_last_upload(bytes(content), name))
    return list(uploaded)
