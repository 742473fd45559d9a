"""The CIFAR-10 nets of notebook 03: the seed course's LeNet and a VGG-style net with batch
norm whose classifier size is computed from the image size."""

from __future__ import annotations

from typing import Sequence, Union

from torch import Tensor, nn

#: VGG-11-style configuration: numbers are 3x3 conv widths (conv-BN-ReLU), 'M' a 2x2 max-pool.
VGG_CFG: list[Union[int, str]] = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]


def _check_input(x: Tensor, shape: tuple[int, int, int], model: str) -> None:
    if x.dim() != 4 or tuple(x.shape[1:]) != shape:
        c, h, w = shape
        raise ValueError(
            f"{model} expects images of shape (N, {c}, {h}, {w}) ({h}x{w} pixels, {c} channels), "
            f"got {tuple(x.shape)}. Resize the images, or build the model for this size"
            + (" (image_size=...)." if model.startswith("VGG") else ".")
        )


class LeNet(nn.Module):
    """The seed course's ``Net``: conv 6@5x5, 2x2 max-pool, conv 16@5x5, 2x2 max-pool, then
    400 -> 120 -> 84 -> 10 with ReLUs (62,006 parameters). Input (N, 3, 32, 32).

    Each ReLU is applied after its pool instead of before: max-pooling commutes with ReLU,
    so the function is the same, and the ReLU touches a quarter of the values.
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 5), nn.MaxPool2d(2), nn.ReLU(inplace=True),
            nn.Conv2d(6, 16, 5), nn.MaxPool2d(2), nn.ReLU(inplace=True),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(inplace=True),
            nn.Linear(120, 84), nn.ReLU(inplace=True),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        _check_input(x, (3, 32, 32), "LeNet")
        return self.classifier(self.features(x))


def feature_shape(cfg: Sequence[Union[int, str]], image_size: int, in_channels: int = 3) -> tuple[int, int, int]:
    """(channels, height, width) after the feature extractor of ``cfg`` on square images:
    3x3 convs with padding 1 keep the size, each 'M' halves it (rounding down)."""
    channels, size = in_channels, image_size
    for v in cfg:
        if v == "M":
            if size < 2:
                raise ValueError(f"{image_size}x{image_size} images are too small for {cfg.count('M')} "
                                 f"2x2 max-pools (size {size} before a pool)")
            size //= 2
        else:
            channels = int(v)
    return channels, size, size


class VGG(nn.Module):
    """A VGG-style net from a config list (default :data:`VGG_CFG`): 3x3 conv-BN-ReLU blocks
    and 2x2 max-pools, then one linear classifier whose input size is computed from
    ``image_size`` (512 x 1 x 1 for 32x32 images and five pools)."""

    def __init__(self, cfg: Sequence[Union[int, str]] = VGG_CFG, num_classes: int = 10,
                 image_size: int = 32, in_channels: int = 3) -> None:
        super().__init__()
        self.cfg, self.image_size, self.in_channels = list(cfg), image_size, in_channels
        layers: list[nn.Module] = []
        channels = in_channels
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(channels, int(v), 3, padding=1, bias=False),
                           nn.BatchNorm2d(int(v)), nn.ReLU(inplace=True)]
                channels = int(v)
        self.features = nn.Sequential(*layers)
        self.feature_shape = feature_shape(cfg, image_size, in_channels)
        c, h, w = self.feature_shape
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        _check_input(x, (self.in_channels, self.image_size, self.image_size), f"VGG(image_size={self.image_size})")
        return self.classifier(self.features(x))
