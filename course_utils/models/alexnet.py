"""Notebook 04's three AlexNets (the 2012 paper's, torchvision's, the d2l book's), whose size errors
name the layer and the smallest input that works."""

from __future__ import annotations

import torchvision.models as tv_models
from torch import Tensor, nn

from course_utils.lessons.arithmetic import input_size_error


class _ExplainsSizes(nn.Module):
    """A net whose size errors name the layer and the sizes that work."""

    def forward(self, x: Tensor) -> Tensor:
        try:
            return self._forward(x)
        except RuntimeError as err:
            clear = input_size_error(self, tuple(x.shape[1:]))
            if clear is None:
                raise
            raise clear from err

    def _forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


class AlexNet2012(_ExplainsSizes):
    """The 2012 paper's net: conv2, 4 and 5 in two groups (one per GPU), local response norm (PyTorch
    divides ``alpha`` by ``size``, hence 5e-4). Input 227x227, or 224x224 with ``conv1_padding=2``."""

    def __init__(self, conv1_padding: int = 0) -> None:
        super().__init__()
        lrn = dict(size=5, alpha=5e-4, beta=0.75, k=2.0)
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, 11, stride=4, padding=conv1_padding), nn.ReLU(inplace=True),
            nn.LocalResponseNorm(**lrn), nn.MaxPool2d(3, 2),
            nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU(inplace=True),
            nn.LocalResponseNorm(**lrn), nn.MaxPool2d(3, 2),
            nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2))
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
            nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, 1000))


class AlexNetPadding1(_ExplainsSizes):
    """The d2l book's: the paper's channels without groups or norms, conv1 padded by 1; from 224x224
    the flatten is 256x5x5 = 6,400."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, 11, stride=4, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            nn.Conv2d(96, 256, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2))
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(256 * 5 * 5, 4096), nn.ReLU(inplace=True), nn.Dropout(),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(),
            nn.Linear(4096, 1000))


class TorchvisionAlexNet(_ExplainsSizes, tv_models.AlexNet):
    """torchvision's one-GPU AlexNet, randomly initialised (61,100,840 parameters)."""

    display_name = "AlexNet"
    _forward = tv_models.AlexNet.forward


torchvision_alexnet = TorchvisionAlexNet


def three_alexnets() -> dict[str, tuple[nn.Module, tuple[int, int, int]]]:
    """The three AlexNets with the input shape each is built for, by short name."""
    return {"paper 2012": (AlexNet2012(), (3, 227, 227)),
            "torchvision": (torchvision_alexnet(), (3, 224, 224)),
            "padding 1": (AlexNetPadding1(), (3, 224, 224))}
