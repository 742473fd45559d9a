"""The CIFAR-10 nets of notebook 03: the seed course's LeNet, a VGG-style net with batch norm
whose classifier size is computed from the image size (the seed's VGG-11 shape), and the same
VGG idea reshaped for short training (:class:`FastVGG`)."""

from __future__ import annotations

from typing import Sequence, Union

import torch
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


# ---------------------------------------------------------------------------------------------
# A VGG reshaped for CIFAR-10 and short training: where should a VGG keep its weights?

#: The reshaped net: a 2x2 patch-whitening stem of 24 channels, then three stages, each
#: conv -> 2x2 max-pool -> BN -> GELU -> conv -> BN -> GELU, of these widths.
FAST_WIDTHS = (64, 256, 256)


class Stage(nn.Module):
    """conv -> max-pool -> BN -> activation -> conv -> BN -> activation (pooling before the
    norm and activation saves three quarters of their work)."""

    def __init__(self, cin: int, cout: int, batchnorm: bool = True) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=not batchnorm)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=not batchnorm)
        self.norm1, self.norm2 = (_bn(cout), _bn(cout)) if batchnorm else (nn.Identity(), nn.Identity())
        self.pool, self.act = nn.MaxPool2d(2), nn.GELU()

    def forward(self, x: Tensor) -> Tensor:
        x = self.act(self.norm1(self.pool(self.conv1(x))))
        return self.act(self.norm2(self.conv2(x)))


def _bn(channels: int) -> nn.BatchNorm2d:
    """Batch norm whose scale stays 1 (only its shift learns) and whose running statistics
    follow fast (momentum 0.4): what short runs need."""
    bn = nn.BatchNorm2d(channels, eps=1e-12, momentum=0.4)
    bn.weight.requires_grad_(False)
    return bn


class FastVGG(nn.Module):
    """A VGG-style net reshaped for CIFAR-10 (after Keller Jordan's airbench, whose nets are
    plain, written for this course; David Page's ResNet-9, where this line of fast CIFAR-10
    trainers began, has residual blocks, this net has none): no skip connections,
    conv-BN-activation stages and pooling like VGG, but

    * a frozen 2x2 *patch-whitening* first layer (:func:`init_whitening`): the first features
      are decorrelated pixel patches, so the rest starts from a well-conditioned input;
    * three stages of two convs (``widths``) instead of five stages of up to 512 channels:
      the weights sit where the maps still have spatial detail;
    * global max-pooling and one linear layer, its outputs scaled by ``logit_scale`` (1/9):
      small logits at the start, so early updates stay gentle.

    ``batchnorm=False`` (for the ablation) drops the norms and gives the convs biases.
    Input (N, 3, 32, 32).
    """

    def __init__(self, widths: Sequence[int] = FAST_WIDTHS, *, stem: int = 24, num_classes: int = 10,
                 batchnorm: bool = True, logit_scale: float = 1 / 9) -> None:
        super().__init__()
        self.widths, self.logit_scale = tuple(widths), logit_scale
        self.whiten = nn.Conv2d(3, stem, 2, padding=0, bias=True)
        self.act = nn.GELU()
        stages, cin = [], stem
        for width in widths:
            stages.append(Stage(cin, width, batchnorm))
            cin = width
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(cin, num_classes, bias=False)
        identity_init(self)

    def forward(self, x: Tensor) -> Tensor:
        _check_input(x, (3, 32, 32), "FastVGG")
        x = self.stages(self.act(self.whiten(x)))
        return self.fc(self.pool(x).flatten(1)) * self.logit_scale


@torch.no_grad()
def identity_init(model: nn.Module) -> None:
    """Start every 3x3 conv (but the whitening one) as a partial identity: output channel i
    copies input channel i (a Dirac kernel) for the first ``in_channels`` outputs, on top of
    the default random weights of the rest: the stack starts close to passing its input on."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3):
            nn.init.dirac_(m.weight[: m.in_channels])


@torch.no_grad()
def init_whitening(model: FastVGG, images: Tensor, eps: float = 5e-4) -> None:
    """Set the whitening layer from (normalised) training ``images`` (N, 3, 32, 32): the
    eigenvectors of the 2x2 patches' covariance, scaled by 1/sqrt(eigenvalue), and their
    negatives (24 filters for 12-dimensional patches); then freeze its weights."""
    layer = model.whiten
    c, (h, w) = images.shape[1], layer.kernel_size
    patches = images.float().unfold(2, h, 1).unfold(3, w, 1).transpose(1, 3).reshape(-1, c * h * w)
    covariance = patches.T @ patches / len(patches)
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.T.flip(0).reshape(-1, c, h, w)
    scaled = eigenvectors / torch.sqrt(eigenvalues.clamp(min=0) + eps).view(-1, 1, 1, 1)
    if 2 * len(scaled) != layer.out_channels:
        raise ValueError(f"the whitening layer needs {2 * len(scaled)} output channels for "
                         f"{c}x{h}x{w} patches, it has {layer.out_channels}")
    layer.weight.copy_(torch.cat([scaled, -scaled]).to(layer.weight))
    layer.weight.requires_grad_(False)
