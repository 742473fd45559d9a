"""The reshaped VGG and its recipe: shapes, MACs, whitening, ablation switches, a short run."""

import pytest
import torch

from course_utils.lessons.arithmetic import layer_table
from course_utils.lessons.cifar_recipe import INGREDIENTS, FastRecipe, ablation, estimate_fast, train_fast
from course_utils.data.standin import make_standin
from course_utils.models.cifar import VGG, FastVGG


def test_fast_vgg_has_fewer_macs_and_parameters_than_vgg11():
    fast, vgg = layer_table(FastVGG(), (3, 32, 32)), layer_table(VGG(), (3, 32, 32))
    assert fast.total_macs < 0.8 * vgg.total_macs and fast.total_params < 0.25 * vgg.total_params
    with pytest.raises(ValueError, match=r"FastVGG expects images of shape \(N, 3, 32, 32\)"):
        FastVGG()(torch.zeros(1, 3, 28, 28))


def test_whitening_decorrelates_patches():
    torch.manual_seed(0)
    coarse = torch.randn(200, 3, 8, 8)
    images = torch.nn.functional.interpolate(coarse, size=32, mode="bilinear") + 0.1 * torch.randn(200, 3, 32, 32)
    images[:, 1] += images[:, 0]                          # neighbouring pixels and channels correlate
    model = FastVGG()
    model.init_whitening(images, eps=1e-6)
    w = model.whiten.weight
    assert not w.requires_grad and w.shape == (24, 3, 2, 2)
    torch.testing.assert_close(w[:12], -w[12:])
    out = torch.nn.functional.conv2d(images, w[:12])     # every 2x2 patch, whitened
    second_moment = out.permute(1, 0, 2, 3).flatten(1) @ out.permute(1, 0, 2, 3).flatten(1).T / (out.numel() / 12)
    torch.testing.assert_close(second_moment, torch.eye(12), atol=0.02, rtol=0)


def test_recipe_switches():
    r = FastRecipe()
    assert set(INGREDIENTS) == {"augmentation", "batch norm", "schedule", "label smoothing", "whitening",
                                "weight averaging", "test-time augmentation"}
    assert r.without("label smoothing").label_smoothing == 0 and r.without("batch norm").batchnorm is False
    assert r.without("weight averaging").ema_decay is None and r.without("test-time augmentation").tta is None
    with pytest.raises(ValueError, match="unknown ingredient"):
        r.without("dropout")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in FastVGG(batchnorm=False).modules())


@pytest.fixture(scope="module")
def tiny():
    train = make_standin("CIFAR-10", 512, (3, 32, 32), [str(i) for i in range(10)], (0.5,) * 3, (0.25,) * 3, seed=0)
    test = make_standin("CIFAR-10", 200, (3, 32, 32), [str(i) for i in range(10)], (0.5,) * 3, (0.25,) * 3, seed=1)
    return train, test


def test_a_short_run_learns_the_standin_and_reports_everything(tiny):
    train, test = tiny
    recipe = FastRecipe(epochs=3, batch_size=64, widths=(16, 32, 32))
    run = train_fast(train, test, recipe, device="cpu", monitor=test, progress=False)
    assert run.history["train_loss"][-1] < run.history["train_loss"][0]
    assert run.acc > 0.3 and 0 <= run.acc_tta <= 1 and run.train_seconds > 0
    assert len(run.history["ema_test_acc"]) == 3 and run.model is not run.raw_model
    est = estimate_fast(train, recipe, device="cpu", runs=2)
    assert est.steps == 2 * 3 * (512 // 64) and est.seconds > 0


def test_the_recipe_trains_the_class_it_is_given(tiny):
    """Notebook 03 passes the FastVGG its cells define (``model_fn``): a change there takes effect."""
    train, test = tiny
    built = []

    class Changed(FastVGG):
        def __init__(self, widths, **kwargs):
            super().__init__(widths, logit_scale=1.0, **kwargs)
            built.append(self)

    recipe = FastRecipe(epochs=1, batch_size=64, widths=(8, 8, 8), ema_decay=None)
    run = train_fast(train, test, recipe, device="cpu", progress=False, model_fn=Changed)
    assert run.model is built[0] and run.model.logit_scale == 1.0
    assert not run.model.whiten.weight.requires_grad          # its own init_whitening ran
    ablation(train, test, recipe, ["label smoothing"], device="cpu", model_fn=Changed)
    assert len(built) == 3


def test_ablation_takes_each_ingredient_out(tiny):
    train, test = tiny
    recipe = FastRecipe(epochs=1, batch_size=64, widths=(8, 16, 16))
    result = ablation(train, test, recipe, ["label smoothing", "weight averaging", "test-time augmentation"],
                      device="cpu", seeds=[0, 1])
    acc, seconds = result.acc, result.seconds
    assert list(acc) == ["full recipe", "label smoothing", "weight averaging", "test-time augmentation"]
    assert all(len(v) == 2 and all(0 <= a <= 1 for a in v) for v in acc.values())
    assert seconds["test-time augmentation"] == 0 and seconds["label smoothing"] > 0
    # the read-off ingredients keep per-image results for a paired test, averaged over the seeds
    assert set(result.right) == {"full recipe", "weight averaging", "test-time augmentation"}
    assert result.right["full recipe"].shape == (len(test),)
    assert result.right["full recipe"].mean().item() == pytest.approx(result.mean("full recipe"))


def test_whitening_is_fitted_on_a_random_sample_of_a_class_sorted_set():
    """An image-folder export is sorted by class: the first 5,000 CIFAR-10 training images are
    all airplanes. The whitening must see every class: the filters fitted on the class-sorted
    set equal those fitted on a random sample of it (the same seed draws the same images), not
    those of its first images."""
    from course_utils.lessons.cifar_recipe import build_fast
    from course_utils.data.loader import ImageData
    g = torch.Generator().manual_seed(0)
    n = 6000
    labels = torch.arange(10).repeat_interleave(n // 10)           # sorted by class
    # class k's images have colour k: the first 5,000 (classes 0-8) miss the brightest class
    images = (labels.view(-1, 1, 1, 1) * 25 + torch.randint(0, 6, (n, 3, 8, 8), generator=g)).to(torch.uint8)
    images = images.repeat(1, 1, 4, 4)                              # 32 x 32
    classes = [str(i) for i in range(10)]
    data = ImageData(images, labels, classes, (0.5,) * 3, (0.25,) * 3, "sorted")
    recipe = FastRecipe(widths=(8, 8, 8))
    w = build_fast(data, recipe, "cpu", seed=0).whiten.weight.detach()
    first = build_fast(ImageData(images[:5000], labels[:5000], classes, data.mean, data.std, "first"),
                       recipe, "cpu", seed=0).whiten.weight.detach()
    assert not torch.allclose(w, first, atol=1e-3)


def test_step_profile_names_the_costly_operations(tiny):
    from course_utils.lessons.profiling import step_profile
    train, _ = tiny
    rows = step_profile(FastVGG((8, 16, 16)), train, 32, device="cpu", steps=2, top=5)
    assert len(rows) == 5 and rows[0]["ms per step"] >= rows[-1]["ms per step"]
    assert any("convolution" in r["operation"] for r in rows)
