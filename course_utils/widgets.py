"""The notebooks' interactive parts: thin ipywidgets layers over tested functions.

Each ``explore_*`` function first draws its figure once with the default settings and saves it
(:func:`course_utils.figures.figure`: a static figure for slides and for headless builds), then
returns the controls and an output area that redraws when a control moves. Nothing slow runs
on a move: what needs training is computed once in the notebook and handed in.
"""

from __future__ import annotations

import html
from typing import Callable, Mapping, Sequence

import ipywidgets as w
import matplotlib.pyplot as plt
import torch
from IPython.display import HTML, display
from torch import Tensor, nn

from course_utils.arithmetic.calculator import calculate_layer
from course_utils.data.folders import UploadError, read_upload
from course_utils.figures import figure
from course_utils.models.inspect import feature_maps, stages
from course_utils.models.transfer import classify_photo
from course_utils.permutation import block_permutation, permute_pixels
from course_utils.pictures import plot_lines, show_feature_maps, show_images
from course_utils.schedules import SCHEDULES, lr_curve


def _redraw(out: w.Output, draw: Callable[[], object], live: bool = True) -> None:
    """Fill ``out`` with what ``draw`` returns (a figure, or anything displayable). The first
    fill, while the cell runs, sets the widget's outputs directly: capturing output into an
    Output widget (``with out:``) during a headless run (nbclient: the build, the tests) can
    leave the runner waiting for messages. Later fills, from a moved control, capture."""
    if not live:
        shown = draw()
        out.outputs = ()
        out.append_display_data(shown)
        if isinstance(shown, plt.Figure):
            plt.close(shown)
        return
    with out:
        out.clear_output()
        shown = draw()
        display(shown)
        if isinstance(shown, plt.Figure):
            plt.close(shown)


def _wire(controls: Sequence[w.Widget], out: w.Output, draw: Callable[[], object]) -> w.Output:
    """Redraw ``out`` whenever a control moves, and fill it once now."""
    for control in controls:
        control.observe(lambda change: _redraw(out, draw), names="value")
    _redraw(out, draw, live=False)
    return out


def _ui(controls: Sequence[w.Widget], out: w.Output, draw: Callable[[], object]) -> w.VBox:
    return w.VBox([w.HBox(list(controls)), _wire(controls, out, draw)])


# ------------------------------------------------------------------- 01: feature maps
def explore_feature_maps(features: nn.Sequential, images: Tensor, labels: Tensor, *, mean: float,
                         std: float, index: int = 0, stage: str = "conv 1") -> w.VBox:
    """Pick a test digit and a layer of a trained conv stack: the input, the layer's filters
    and the maps it makes."""
    fm = feature_maps(features, images[index], stage, mean=mean, std=std)
    plt.close(figure("feature_maps", "feature_maps", caption=f"What the CNN's {stage} makes of a "
                     f"test digit ({int(labels[index])}): its filters and feature maps", **fm.as_data()))
    pick = w.IntSlider(index, 0, len(images) - 1, description="test digit")
    layer = w.Dropdown(options=list(stages(features)), value=stage, description="layer")

    def draw():
        fm = feature_maps(features, images[pick.value], layer.value, mean=mean, std=std)
        return show_feature_maps(**fm.as_data() | {"title": f"{layer.value}, digit {int(labels[pick.value])}"})
    return _ui([pick, layer], w.Output(), draw)


# ---------------------------------------------------------------- 02: block shuffles
def explore_block_shuffle(images: Tensor, accuracy: Mapping[str, Mapping[int, float]], *,
                          block: int = 7, seed: int = 0) -> w.VBox:
    """A slider for the block size of the shuffle: the same digits shuffled within blocks, and
    each net's measured accuracy against the block size with the choice marked.
    ``accuracy[model][block]`` comes from one run in the notebook."""
    sizes = sorted(next(iter(accuracy.values())))

    def plot(b: int):
        return plot_lines(sizes, {m: [a[s] for s in sizes] for m, a in accuracy.items()}, marker="o",
                          mark_x=b, xlabel="block size (pixels shuffled within b x b blocks)",
                          ylabel="test accuracy", title=f"block size {b}")
    shuffled = permute_pixels(images, block_permutation(images.shape[-1], block, seed))
    plt.close(figure("block_shuffle_digits", "images", caption=f"Digits shuffled within {block}x{block} blocks",
                     images=shuffled, ncols=len(images)))
    plt.close(figure("block_shuffle_accuracy", "lines", caption="Test accuracy of each net against the "
                     "size of the blocks its pixels were shuffled within (one run each)",
                     x=sizes, lines={m: [a[s] for s in sizes] for m, a in accuracy.items()}, marker="o",
                     mark_x=block, xlabel="block size (pixels shuffled within b x b blocks)",
                     ylabel="test accuracy"))
    slider = w.SelectionSlider(options=sizes, value=block, description="block size")

    def draw_digits():
        return show_images(permute_pixels(images, block_permutation(images.shape[-1], slider.value, seed)),
                           ncols=len(images), size=0.9)
    digits = _wire([slider], w.Output(), draw_digits)
    curve = _wire([slider], w.Output(), lambda: plot(slider.value))
    return w.VBox([slider, digits, curve])


# ------------------------------------------------------------ 03: learning-rate schedules
def explore_schedules(*, epochs: int = 30, steps_per_epoch: int = 391, lr: float = 0.1) -> w.VBox:
    """Pick a scheduler and whether it is stepped per epoch or per batch: the learning rate
    over the run, with a StepLR(step_size=10, gamma=0.1) among them (what the seed's comment
    meant; its code says gamma=0.01)."""
    steps = list(range(epochs * steps_per_epoch))

    def curves(interval: str, kinds: Sequence[str]) -> dict[str, list[float]]:
        return {f"{k}, stepped per {interval}": lr_curve(k, epochs=epochs, steps_per_epoch=steps_per_epoch,
                                                         interval=interval, lr=lr) for k in kinds}
    plt.close(figure("lr_schedules", "lines", caption="StepLR, cosine and one-cycle schedules over "
                     f"{epochs} epochs of {steps_per_epoch} steps, each stepped as intended",
                     x=steps, lines={**curves("epoch", ["step", "cosine"]), **curves("batch", ["one-cycle"])},
                     xlabel="training step (batch)", ylabel="learning rate"))
    kind = w.Dropdown(options=list(SCHEDULES), value="step", description="schedule")
    interval = w.ToggleButtons(options=["epoch", "batch"], value="epoch", description="step per")

    def draw():
        return plot_lines(steps, curves(interval.value, [kind.value]), xlabel="training step (batch)",
                          ylabel="learning rate", title=f"{kind.value}, stepped per {interval.value}")
    return _ui([kind, interval], w.Output(), draw)


# -------------------------------------------------------------- 04: the layer calculator
def calculator_text(**settings) -> str:
    """The calculator's answer for ``settings`` (see :func:`calculate_layer`) as plain lines."""
    return "\n".join(calculate_layer(**settings).lines())


def layer_calculator(kind: str = "conv", size: int = 224, in_channels: int = 3, out_channels: int = 64,
                     kernel: int = 11, stride: int = 4, padding: int = 2, dilation: int = 1,
                     groups: int = 1) -> w.VBox:
    """Sliders for one conv or pool layer; shows output size, parameters and MACs by the
    formula, checked against a real layer, or why the settings give no valid output."""
    print(calculator_text(kind=kind, size=size, in_channels=in_channels, out_channels=out_channels,
                          kernel=kernel, stride=stride, padding=padding, dilation=dilation, groups=groups))
    controls = {
        "kind": w.ToggleButtons(options=["conv", "maxpool"], value=kind, description="layer"),
        "size": w.IntSlider(size, 1, 512, description="input size"),
        "in_channels": w.IntSlider(in_channels, 1, 512, description="channels in"),
        "out_channels": w.IntSlider(out_channels, 1, 512, description="channels out"),
        "kernel": w.IntSlider(kernel, 1, 15, description="kernel"),
        "stride": w.IntSlider(stride, 1, 8, description="stride"),
        "padding": w.IntSlider(padding, 0, 8, description="padding"),
        "dilation": w.IntSlider(dilation, 1, 4, description="dilation"),
        "groups": w.IntSlider(groups, 1, 8, description="groups"),
    }
    out = w.Output()

    def draw():
        text = calculator_text(**{k: c.value for k, c in controls.items()})
        return HTML(f'<pre class="course-calculator">{html.escape(text)}</pre>')
    _wire(list(controls.values()), out, draw)
    items = list(controls.values())
    return w.VBox([items[0], w.HBox([w.VBox(items[1:5]), w.VBox(items[5:])]), out])


# ---------------------------------------------------------------- 05: is it a hot dog?
def photo_verdict(model: nn.Module, image: Tensor, classes: list[str], *, mean, std) -> str:
    """``"hot dog (p = 0.97)"``: the best class and its probability, for one uint8 photo."""
    (best, p), *_ = classify_photo(model, image, classes, mean=mean, std=std)
    return f"{best} (p = {p:.2f})"


def upload_verdict(content: bytes, name: str, model: nn.Module, classes: list[str], *, mean,
                   std) -> tuple[Tensor | None, str]:
    """(the photo, what the model says) for an uploaded file, or (None, why it cannot be used)."""
    try:
        image, note = read_upload(content, name)
    except UploadError as err:
        return None, str(err)
    verdict = photo_verdict(model, image, classes, mean=mean, std=std)
    return image, f"{name}: {verdict}" + (f" ({note})" if note else "")


def is_it_a(model: nn.Module, photos: Sequence[Tensor], classes: list[str], *, mean, std,
            labels: Sequence[int] | None = None, shown: int = 8) -> w.VBox:
    """Upload a photo, or pick a test photo: the model says which class, with its probability."""
    picks = list(range(min(shown, len(photos))))
    verdicts = [photo_verdict(model, photos[i], classes, mean=mean, std=std) for i in picks]
    titles = [v if labels is None else f"{v}\n(truth: {classes[labels[i]]})" for i, v in zip(picks, verdicts)]
    plt.close(figure("is_it_a", "images", caption=f"The best model's verdicts on {len(picks)} test photos",
                     images=torch.stack([_square(photos[i]) for i in picks]), titles=titles,
                     ncols=min(4, len(picks)), size=2.0))
    chooser = w.Dropdown(options=[(f"test photo {i + 1}", i) for i in range(len(photos))], value=0,
                         description="photo")
    upload = w.FileUpload(accept="image/*", multiple=False, description="your photo")
    out = w.Output()

    def show(image: Tensor | None, text: str):
        if image is None:
            return HTML(f"<p style='color:#a00'>{html.escape(text)}</p>")
        fig = show_images(_square(image).unsqueeze(0), [text], ncols=1, size=3.0)
        return fig

    def on_pick(change, live=True):
        i = chooser.value
        _redraw(out, lambda: show(photos[i], photo_verdict(model, photos[i], classes, mean=mean, std=std)),
                live=live)

    def on_upload(change):
        files = upload.value
        if not files:
            return
        item = files[0]
        image, text = upload_verdict(bytes(item["content"]), item["name"], model, classes, mean=mean, std=std)
        _redraw(out, lambda: show(image, text))
    chooser.observe(on_pick, names="value")
    upload.observe(on_upload, names="value")
    on_pick(None, live=False)
    return w.VBox([w.HBox([chooser, upload]), out])


def _square(image: Tensor, size: int = 160) -> Tensor:
    from torchvision.transforms import v2

    return v2.Compose([v2.Resize(size, antialias=True), v2.CenterCrop(size)])(image)
