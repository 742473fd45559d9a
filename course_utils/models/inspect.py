"""Looking inside a convnet: what each convolution, ReLU and pool makes of one image."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from course_utils.models import eval_mode


@dataclass
class FeatureMaps:
    """One image and what one layer makes of it: its maps (C, h, w) and, for a conv layer or
    the ReLU and pool after it, that conv's filters averaged over their input channels (C, k, k)."""

    stage: str
    image: Tensor
    maps: Tensor
    filters: Tensor | None

    def as_data(self) -> dict:
        return {"image": self.image, "maps": self.maps, "filters": self.filters, "title": self.stage}


def stages(features: nn.Sequential) -> dict[str, int]:
    """Readable names of the layers of a conv stack -> their index: ``conv 1``, ``ReLU 1``,
    ``pool 1``, ``conv 2``, ..."""
    names, counts = {}, {}
    for i, layer in enumerate(features):
        kind = ("conv" if isinstance(layer, nn.Conv2d) else "ReLU" if isinstance(layer, nn.ReLU)
                else "pool" if isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)) else type(layer).__name__)
        if kind == "conv":
            counts["block"] = counts.get("block", 0) + 1
        names[f"{kind} {counts.get('block', 0)}"] = i
    return names


@torch.no_grad()
def feature_maps(features: nn.Sequential, image: Tensor, stage: str, *, mean: float = 0.0,
                 std: float = 1.0) -> FeatureMaps:
    """What ``features`` (a conv stack such as ``CNN().features``) makes of one ``image``
    (uint8 or float, (C, H, W)) up to and including ``stage`` (a name from :func:`stages`)."""
    names = stages(features)
    if stage not in names:
        raise ValueError(f"unknown stage {stage!r}; the stages are {', '.join(names)}")
    last = names[stage]
    device = next(features.parameters()).device
    x = image.float().div(255) if image.dtype == torch.uint8 else image.float()
    x = ((x - mean) / std).unsqueeze(0).to(device)
    with eval_mode(features):
        out = features[: last + 1](x)[0].float().cpu()
    conv = next(features[i] for i in range(last, -1, -1) if isinstance(features[i], nn.Conv2d))
    filters = conv.weight.detach().float().cpu().mean(1)
    display = image.float().cpu() / (255 if image.dtype == torch.uint8 else 1)
    return FeatureMaps(stage, display, out, filters)
