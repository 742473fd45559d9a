"""Notebook 03's models and batch augmentation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.data.augment import random_crop_flip
from course_utils.data.cifar import load_cifar10
from course_utils.data.loader import TensorLoader
from course_utils.models import count_parameters
from course_utils.models.cifar import VGG, VGG_CFG, LeNet, feature_shape
from course_utils.training import evaluate, fit


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- augmentation
def test_crop_flip_keeps_shape_dtype_and_device():
    x = torch.randn(16, 3, 32, 32)
    y = random_crop_flip(x, gen())
    assert y.shape == x.shape and y.dtype == x.dtype and y.device == x.device


def test_crop_flip_equals_pad_crop_flip_per_image():
    """Every output image is a 32x32 window of the zero-padded input, maybe mirrored."""
    x = torch.randn(40, 3, 32, 32)
    y = random_crop_flip(x, gen(3))
    padded = F.pad(x, (4, 4, 4, 4))
    for i in range(len(x)):
        windows = [padded[i, :, r:r + 32, c:c + 32] for r in range(9) for c in range(9)]
        assert any(torch.equal(y[i], w) or torch.equal(y[i], w.flip(2)) for w in windows)


def test_crop_flip_is_random_per_image_and_per_batch():
    x = torch.arange(32.0).expand(64, 3, 32, 32).clone()  # every image the same horizontal ramp
    g = gen(1)
    a, b = random_crop_flip(x, g), random_crop_flip(x, g)
    assert not torch.equal(a, b)  # a new draw for each batch
    distinct = {tuple(img[0].flatten().tolist()) for img in a}
    assert len(distinct) > 20  # and for each image
    flipped = (a[:, 0, 16, 10] > a[:, 0, 16, 20]).float().mean()
    assert 0.25 < flipped < 0.75  # about half mirrored
    assert torch.equal(random_crop_flip(x, gen(1)), a)  # the generator makes it repeatable


def test_no_padding_only_mirrors():
    x = torch.randn(8, 3, 32, 32)
    y = random_crop_flip(x, gen(), padding=0)
    assert all(torch.equal(a, b) or torch.equal(a, b.flip(2)) for a, b in zip(y, x))


def test_loader_applies_augmentation_to_training_batches_only():
    images = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
    labels = torch.zeros(64, dtype=torch.long)
    aug = TensorLoader(images, labels, 64, augment=random_crop_flip, seed=0)
    plain = TensorLoader(images, labels, 64, seed=0)
    (a1, _), (a2, _), (p, _) = next(iter(aug)), next(iter(aug)), next(iter(plain))
    assert a1.shape == p.shape and not torch.equal(a1, p) and not torch.equal(a1, a2)


# ---------------------------------------------------------------- models
def test_lenet_size_and_output():
    model = LeNet()
    assert count_parameters(model) == 62_006
    assert model(torch.randn(4, 3, 32, 32)).shape == (4, 10)


def test_lenet_computes_the_seed_net():
    """ReLU after the pool (ours) is the same function as ReLU before it (the seed's Net)."""
    torch.manual_seed(0)
    model = LeNet().eval()
    f, c = model.features, model.classifier
    seed_net = nn.Sequential(f[0], nn.ReLU(), nn.MaxPool2d(2), f[3], nn.ReLU(), nn.MaxPool2d(2), c)
    x = torch.randn(8, 3, 32, 32)
    torch.testing.assert_close(model(x), seed_net(x))


def test_vgg_head_is_computed_from_the_image_size():
    model = VGG()
    assert model.feature_shape == (512, 1, 1) and model.classifier[-1].in_features == 512
    assert 9.1e6 < count_parameters(model) < 9.3e6
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert feature_shape(VGG_CFG, 64) == (512, 2, 2)  # the seed's Linear(2048, 10) fits 64x64 input
    assert VGG(image_size=64).classifier[-1].in_features == 2048


def test_vgg_features_really_end_at_the_computed_shape():
    model = VGG(cfg=[8, "M", 16, "M", 16, "M"], image_size=40).eval()
    assert tuple(model.features(torch.randn(1, 3, 40, 40)).shape[1:]) == model.feature_shape == (16, 5, 5)


@pytest.mark.parametrize("model, shape", [(LeNet(), (2, 3, 28, 28)), (LeNet(), (2, 1, 32, 32)),
                                          (VGG(), (2, 3, 64, 64)), (VGG(), (3, 32, 32))])
def test_wrong_image_size_says_what_is_expected(model, shape):
    with pytest.raises(ValueError, match=r"expects images of shape \(N, 3, 32, 32\).*got"):
        model(torch.randn(*shape))


def test_too_small_images_for_the_pools():
    with pytest.raises(ValueError, match="too small for 5 2x2 max-pools"):
        VGG(image_size=16)


# ---------------------------------------------------------------- the lesson, small
def test_lenet_learns_cifar_smoke_data():
    """A few hundred Adam steps on the smoke split move LeNet well above chance (0.1)."""
    torch.manual_seed(0)
    train = load_cifar10(True, smoke=True)
    model = LeNet().to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    history = fit(model, train.loader(64, shuffle=True, seed=0), optimizer, 5,
                  progress=False)
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert evaluate(model, train.loader(500))["acc"] > 0.25
