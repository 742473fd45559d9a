"""Notebook 05's transfer net: a new head on a pretrained body, freezing, and the parameter groups with the head's 10x rate.

Generated from notebooks/05_transfer_hotdogs.ipynb (its cells tagged ``export``) by
``python -m course_utils.instructor.export``: change the notebook, then run that command.
"""

import torch
from torch import Tensor, nn

from course_utils.models.transfer import OFFLINE_BACKBONE, body_stages, load_body
from course_utils.optim import make_sgd


class TransferNet(nn.Module):
    """``head(body(x))``. The modules in ``frozen_parts`` stay in eval mode when the net trains."""

    def __init__(self, body: nn.Module, head: nn.Module, *, name: str, mean: tuple, std: tuple,
                 image_size: int = 224, pretrained: bool = False) -> None:
        super().__init__()
        self.body, self.head = body, head
        self.name, self.mean, self.std = name, tuple(mean), tuple(std)
        self.image_size, self.pretrained = image_size, pretrained
        self.frozen_parts: list[nn.Module] = []

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != 3 or tuple(x.shape[2:]) != (self.image_size,) * 2:
            raise ValueError(f"{self.name} expects images of shape (N, 3, {self.image_size}, "
                             f"{self.image_size}), got {tuple(x.shape)}")
        return self.head(self.body(x))

    def train(self, mode: bool = True) -> "TransferNet":
        super().train(mode)
        for part in self.frozen_parts:   # frozen: batch-norm statistics and dropout as pretrained
            part.eval()
        return self


def new_head(backbone: str, features: int, num_classes: int) -> nn.Module:
    """The new head on ``features`` numbers, its linear layers initialised as d2l does."""
    if backbone == "alexnet":      # the seed lesson: a new classifier of two layers
        head = nn.Sequential(nn.Dropout(0.5), nn.Linear(features, 256), nn.ReLU(inplace=True),
                             nn.Dropout(0.5), nn.Linear(256, num_classes))
    elif backbone == "resnet18":   # the d2l lesson: one new layer
        head = nn.Linear(features, num_classes)
    else:                          # EfficientNet-Lite0: its own dropout, then one new layer
        head = nn.Sequential(nn.Dropout(0.2), nn.Linear(features, num_classes))
    for layer in head.modules():
        if isinstance(layer, nn.Linear):   # Xavier-uniform weights, zero biases
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    return head


def build(backbone: str = OFFLINE_BACKBONE, *, pretrained: bool = True, num_classes: int = 2) -> TransferNet:
    """``backbone``'s body (ImageNet weights when ``pretrained``, else random) and a new head."""
    body, features, mean, std = load_body(backbone, pretrained)
    return TransferNet(body, new_head(backbone, features, num_classes), name=backbone, mean=mean,
                       std=std, pretrained=pretrained)


def freeze_body(model: TransferNet) -> TransferNet:
    """Feature extraction: no parameter of the body trains, and the body stays in eval mode."""
    model.body.requires_grad_(False)
    model.frozen_parts = [model.body]
    return model.train(model.training)


def freeze_lower(model: TransferNet, fraction: float = 0.5) -> TransferNet:
    """Partial freezing: the lowest ``fraction`` of the body's stages (stem first) stay as
    pretrained, in eval mode; the rest of the body and the head train."""
    stages = body_stages(model.body)
    model.frozen_parts = stages[: round(fraction * len(stages))]
    for part in model.frozen_parts:
        part.requires_grad_(False)
    return model.train(model.training)


STRATEGIES = ("fine-tune", "partial", "frozen", "scratch")


def param_groups(model: TransferNet, lr: float, head_lr_factor: float = 10.0) -> list[dict]:
    """The body's trainable parameters at ``lr``, the head's at ``head_lr_factor * lr``
    (frozen parameters left out, empty groups dropped)."""
    body = [p for p in model.body.parameters() if p.requires_grad]
    head = [p for p in model.head.parameters() if p.requires_grad]
    groups = [{"params": body, "lr": lr, "name": "body"},
              {"params": head, "lr": lr * head_lr_factor, "name": "head"}]
    return [g for g in groups if g["params"]]


def make_run(strategy: str, backbone: str = OFFLINE_BACKBONE, *, lr: float, head_lr_factor: float = 10.0,
             momentum: float = 0.9, weight_decay: float = 0.0, num_classes: int = 2,
             device: torch.device | str = "cpu") -> tuple[TransferNet, torch.optim.Optimizer]:
    """The model and optimizer of one strategy: ``fine-tune`` (everything trains, the head at
    ``head_lr_factor`` x the body's ``lr``), ``partial`` (the lower half of the body frozen),
    ``frozen`` (only the head trains) or ``scratch`` (random weights, everything at ``lr``)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    model = build(backbone, pretrained=strategy != "scratch", num_classes=num_classes)
    if strategy == "frozen":
        freeze_body(model)
    elif strategy == "partial":
        freeze_lower(model, 0.5)
    model = model.to(device)
    groups = param_groups(model, lr, 1.0 if strategy == "scratch" else head_lr_factor)
    return model, make_sgd(groups, lr=lr, momentum=momentum, weight_decay=weight_decay)   # torch.optim.SGD, fused where it can
