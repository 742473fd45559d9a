"""The CIFAR-10 nets of notebook 03: LeNet, the VGG built from a config list, and the reshaped VGG (FastVGG) with its blocks.

Generated from notebooks/03_cifar10_lenet_vgg.ipynb (its cells tagged ``export``) by
``python -m course_utils.instructor.export``: change the notebook, then run that command.
"""

import torch
from torch import Tensor, nn


def check_input(x: Tensor, shape: tuple, model: str) -> None:
    """Refuse a batch whose images are not of ``shape`` (channels, height, width), saying so."""
    if x.dim() != 4 or tuple(x.shape[1:]) != tuple(shape):
        c, h, w = shape
        raise ValueError(f"{model} expects images of shape (N, {c}, {h}, {w}), got {tuple(x.shape)}: "
                         "resize the images, or build the model for this size")


class LeNet(nn.Module):
    """The seed course's ``Net``: conv 6@5x5, 2x2 max-pool, conv 16@5x5, 2x2 max-pool, then
    400 -> 120 -> 84 -> 10 with ReLUs (62,006 parameters). Input (N, 3, 32, 32).
    Each ReLU comes after its pool: the same function, a quarter of the work."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 5), nn.MaxPool2d(2), nn.ReLU(inplace=True),     # 32 -> 28 -> 14
            nn.Conv2d(6, 16, 5), nn.MaxPool2d(2), nn.ReLU(inplace=True),    # 14 -> 10 -> 5
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),                                                   # 16 x 5 x 5 = 400 numbers
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(inplace=True),
            nn.Linear(120, 84), nn.ReLU(inplace=True),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, (3, 32, 32), "LeNet")
        return self.classifier(self.features(x))


#: VGG-11 (the VGG paper's configuration A): numbers are 3x3 conv widths (conv-BN-ReLU), 'M' a 2x2 max-pool.
VGG_CFG = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]


def feature_shape(cfg: list, image_size: int, in_channels: int = 3) -> tuple:
    """(channels, height, width) after the feature extractor of ``cfg`` on square images:
    3x3 convs with padding 1 keep the size, each 'M' halves it (rounding down)."""
    channels, size = in_channels, image_size
    for v in cfg:
        if v == "M":
            if size < 2:
                raise ValueError(f"{image_size}x{image_size} images are too small for {list(cfg).count('M')} "
                                 f"2x2 max-pools (size {size} before a pool)")
            size //= 2
        else:
            channels = v
    return channels, size, size


class VGG(nn.Module):
    """A VGG-style net from a config list (default VGG_CFG): 3x3 conv-BN-ReLU blocks and 2x2
    max-pools, then one linear classifier whose input size is computed from ``image_size``
    (512 x 1 x 1 for 32x32 images and five pools)."""

    def __init__(self, cfg: list = VGG_CFG, num_classes: int = 10, image_size: int = 32,
                 in_channels: int = 3) -> None:
        super().__init__()
        self.cfg, self.image_size, self.in_channels = list(cfg), image_size, in_channels
        layers, channels = [], in_channels
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:   # no bias in the conv: the batch norm after it has a shift of its own
                layers += [nn.Conv2d(channels, v, 3, padding=1, bias=False), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                channels = v
        self.features = nn.Sequential(*layers)
        self.feature_shape = feature_shape(cfg, image_size, in_channels)
        c, h, w = self.feature_shape
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, (self.in_channels, self.image_size, self.image_size), f"VGG(image_size={self.image_size})")
        return self.classifier(self.features(x))


def shift_only_bn(channels: int) -> nn.BatchNorm2d:
    """Batch norm whose scale stays 1 (only its shift learns) and whose running statistics
    follow fast (momentum 0.4): what short runs need."""
    bn = nn.BatchNorm2d(channels, eps=1e-12, momentum=0.4)
    bn.weight.requires_grad_(False)
    return bn


class Stage(nn.Module):
    """conv -> 2x2 max-pool -> BN -> GELU -> conv -> BN -> GELU (pooling before the norm and
    the activation saves three quarters of their work). ``batchnorm=False`` (for the
    ablation) drops the norms and gives the convs biases."""

    def __init__(self, cin: int, cout: int, batchnorm: bool = True) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=not batchnorm)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=not batchnorm)
        self.norm1, self.norm2 = ((shift_only_bn(cout), shift_only_bn(cout)) if batchnorm
                                  else (nn.Identity(), nn.Identity()))
        self.pool, self.act = nn.MaxPool2d(2), nn.GELU()

    def forward(self, x: Tensor) -> Tensor:
        x = self.act(self.norm1(self.pool(self.conv1(x))))
        return self.act(self.norm2(self.conv2(x)))


class FastVGG(nn.Module):
    """A VGG-style net reshaped for CIFAR-10 and short training (after Keller Jordan's airbench):
    no skip connections, conv-BN-activation stages and pooling like VGG, but a frozen 2x2
    patch-whitening first layer (:meth:`init_whitening`), three stages of two convs
    (``widths``) where the maps still have spatial detail, global max-pooling and one linear
    layer whose outputs are scaled by ``logit_scale`` (1/9: gentle early updates).
    ``batchnorm=False`` (for the ablation) drops the norms. Input (N, 3, 32, 32)."""

    def __init__(self, widths: tuple = (64, 256, 256), *, stem: int = 24, num_classes: int = 10,
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
        check_input(x, (3, 32, 32), "FastVGG")
        x = self.stages(self.act(self.whiten(x)))
        return self.fc(self.pool(x).flatten(1)) * self.logit_scale

    @torch.no_grad()
    def init_whitening(self, images: Tensor, eps: float = 5e-4) -> None:
        """Set the whitening layer from (normalised) training ``images`` (N, 3, 32, 32): the
        eigenvectors of the 2x2 patches' covariance, scaled by 1/sqrt(eigenvalue), and their
        negatives (24 filters for 12-dimensional patches); then freeze its weights."""
        layer = self.whiten
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


@torch.no_grad()
def identity_init(model: nn.Module) -> None:
    """Start every 3x3 conv (but the whitening one) as a partial identity: output channel i
    copies input channel i (a Dirac kernel) for the first ``in_channels`` outputs, on top of
    the default random weights of the rest: the stack starts close to passing its input on."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3):
            nn.init.dirac_(m.weight[: m.in_channels])
