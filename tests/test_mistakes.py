"""The test-time mistakes are measured as their prose says: training mode normalises each
batch with its own statistics, on batches in random order (a class-sorted test set would give
batches of one class), and the per-image results line up with the right way's for the paired
test."""

import torch
from torch import nn

from course_utils.data.loader import TensorLoader
from course_utils.lessons.mistakes import right_in_train_mode, right_per_image


def _sorted_two_classes(n: int = 256):
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(2).repeat_interleave(n // 2)             # sorted: all 0s, then all 1s
    dark = torch.randint(0, 50, (n // 2, 1, 4, 4), generator=g)
    bright = torch.randint(200, 256, (n // 2, 1, 4, 4), generator=g)
    images = torch.cat([dark, bright]).to(torch.uint8)
    return TensorLoader(images, labels, 32, mean=(0.5,), std=(0.25,))


def _brightness_net() -> nn.Module:
    """Class 1 when the image is brighter than the data set's mean: batch norm with running
    statistics 0 and 1 (the normalised data's), then the mean brightness as the logit."""
    linear = nn.Linear(1, 2)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[-1.0], [1.0]]))
        linear.bias.zero_()
    return nn.Sequential(nn.BatchNorm2d(1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), linear).eval()


def test_training_mode_uses_batches_in_random_order_unless_asked_otherwise():
    loader, model = _sorted_two_classes(), _brightness_net()
    right = right_per_image(model, loader)
    assert right.all()                                              # eval mode: every image right
    mixed = right_in_train_mode(model, loader).float().mean().item()
    one_class = right_in_train_mode(model, loader, shuffle=False).float().mean().item()
    # mixed batches have about the data set's statistics; a batch of one class normalises the
    # class away, and the answers become a coin toss
    assert mixed > 0.9 and one_class < 0.75, (mixed, one_class)


def test_training_mode_results_line_up_with_the_loaders_order():
    """A net without batch norm or dropout answers the same in both modes: the shuffled
    measurement, mapped back, must equal eval mode's image by image."""
    loader = _sorted_two_classes()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(16, 2)).eval()
    assert torch.equal(right_in_train_mode(model, loader), right_per_image(model, loader))
