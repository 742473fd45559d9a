"""The AlexNets of notebook 04 and the small modules of its arithmetic lesson.

Three AlexNets that the course's sources mix up:

* :class:`AlexNet2012`: the 2012 paper's net, 96-256-384-384-256 channels, conv2, conv4 and
  conv5 split in two groups (one per GPU), local response norm; 60,965,224 parameters. Its
  conv1 gives 55x55 only from a 227x227 input (or 224x224 with ``conv1_padding=2``).
* :func:`torchvision_alexnet`: torchvision's one-GPU version ("One weird trick"),
  64-192-384-256-256 channels, an adaptive pool to 6x6; 61,100,840 parameters.
* :class:`AlexNetPadding1`: the paper's channels without groups or norms, conv1 padded by 1
  (the d2l book's version): 54, 26, 12, 12, 12, 5 and a 6,400-wide flatten from 224x224.

Wrong input sizes fail with :class:`course_utils.lessons.arithmetic.InputSizeError`, naming the layer
and the smallest input that works.
"""

from __future__ import annotations

from typing import Callable

import torch
import torchvision.models as tv_models
from torch import Tensor, nn

from course_utils.lessons.arithmetic import input_size_error


def _forward_explained(model: nn.Module, x: Tensor, run: Callable[[Tensor], Tensor]) -> Tensor:
    """``run(x)``, but a size error inside becomes an InputSizeError naming the layer."""
    try:
        return run(x)
    except RuntimeError as err:
        clear = input_size_error(model, tuple(x.shape[1:]))
        if clear is None:
            raise
        raise clear from err


class AlexNet2012(nn.Module):
    """Krizhevsky, Sutskever and Hinton (2012), as one module: conv2, conv4 and conv5 use
    ``groups=2`` (each GPU's half sees only its own half of the channels), conv3 and the FC
    layers connect across both GPUs. Each 4096-wide FC layer was 2 x 2048 in the paper.

    Input (N, 3, 227, 227); ``conv1_padding=2`` makes it (N, 3, 224, 224). The local response
    norm uses the paper's constants (PyTorch divides ``alpha`` by ``size``, hence 5e-4).
    """

    def __init__(self, num_classes: int = 1000, conv1_padding: int = 0, dropout: float = 0.5) -> None:
        super().__init__()
        lrn = dict(size=5, alpha=5e-4, beta=0.75, k=2.0)
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, 11, stride=4, padding=conv1_padding), nn.ReLU(inplace=True),
            nn.LocalResponseNorm(**lrn), nn.MaxPool2d(3, 2),
            nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU(inplace=True),
            nn.LocalResponseNorm(**lrn), nn.MaxPool2d(3, 2),
            nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return _forward_explained(self, x, lambda t: self.classifier(self.features(t)))


class AlexNetPadding1(nn.Module):
    """The paper's channels (96-256-384-384-256) without groups or norms, conv1 padded by 1:
    from 224x224 the maps are 54, 26, 26, 12, 12, 12, 12, 5 and the flatten is 256x5x5 = 6,400.
    The d2l book builds it for 1-channel, 10-class Fashion-MNIST resized to 224
    (``in_channels=1, num_classes=10``)."""

    def __init__(self, in_channels: int = 3, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 96, 11, stride=4, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(96, 256, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(256 * 5 * 5, 4096), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return _forward_explained(self, x, lambda t: self.classifier(self.features(t)))


class ExplainedAlexNet(tv_models.AlexNet):
    """torchvision's AlexNet whose size errors name the layer and the smallest input that
    works (instead of torch's bare "Output size is too small"), like the course's own."""

    display_name = "AlexNet"

    def forward(self, x: Tensor) -> Tensor:
        return _forward_explained(self, x, super().forward)


def explain_size_errors(model: tv_models.AlexNet) -> ExplainedAlexNet:
    """The same ``model`` (weights and all) with :class:`ExplainedAlexNet`'s forward."""
    model.__class__ = ExplainedAlexNet
    return model  # type: ignore[return-value]


def torchvision_alexnet(num_classes: int = 1000) -> ExplainedAlexNet:
    """torchvision's AlexNet, randomly initialised (61,100,840 parameters for 1000 classes),
    with explained size errors."""
    return explain_size_errors(tv_models.alexnet(weights=None, num_classes=num_classes))


def resnet18(num_classes: int = 1000) -> nn.Module:
    """torchvision's ResNet-18, randomly initialised (11,689,512 parameters)."""
    from torchvision.models import resnet18 as build

    return build(weights=None, num_classes=num_classes)


def three_alexnets() -> dict[str, tuple[nn.Module, tuple[int, int, int]]]:
    """The three AlexNets with the input shape each is built for, by short name."""
    return {
        "paper 2012": (AlexNet2012(), (3, 227, 227)),
        "torchvision": (torchvision_alexnet(), (3, 224, 224)),
        "padding 1": (AlexNetPadding1(), (3, 224, 224)),
    }


def conv_stack(n: int, channels: int, kernel: int = 3, relu: bool = True) -> nn.Sequential:
    """``n`` stride-1 ``kernel`` x ``kernel`` convs from ``channels`` to ``channels``, padded
    to keep the size, each followed by a ReLU; no biases, so that the weights are exactly
    ``n * kernel^2 * channels^2`` (VGG's argument)."""
    layers: list[nn.Module] = []
    for _ in range(n):
        layers.append(nn.Conv2d(channels, channels, kernel, padding=kernel // 2, bias=False))
        if relu:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def conv1x1_from_linear(linear: nn.Linear) -> nn.Conv2d:
    """A 1x1 convolution holding ``linear``'s weights and bias: the same layer, applied at
    every pixel of a (N, in_features, H, W) map."""
    conv = nn.Conv2d(linear.in_features, linear.out_features, 1, bias=linear.bias is not None)
    with torch.no_grad():
        conv.weight.copy_(linear.weight[:, :, None, None])
        if linear.bias is not None:
            conv.bias.copy_(linear.bias)
    return conv.to(linear.weight.device)


def per_pixel(linear: nn.Linear, x: Tensor) -> Tensor:
    """Apply ``linear`` to the channel vector of every pixel of ``x`` (N, C, H, W) ->
    (N, out_features, H, W)."""
    return linear(x.movedim(1, -1)).movedim(-1, 1)
