"""Looking inside a convnet: what each convolution, ReLU and pool makes of one image."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from course_utils.models import eval_mode


def stages(features: nn.Sequential) -> dict[str, int]:
    """Readable names of a conv stack's layers -> their index: ``conv 1``, ``ReLU 1``, ``pool 1``, ..."""
    names, block = {}, 0
    for i, layer in enumerate(features):
        kind = ("conv" if isinstance(layer, nn.Conv2d) else "ReLU" if isinstance(layer, nn.ReLU)
                else "pool" if isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)) else type(layer).__name__)
        block += kind == "conv"
        names[f"{kind} {block}"] = i
    return names


@torch.no_grad()
def feature_maps(features: nn.Sequential, image: Tensor, stage: str, *, mean: float = 0.0,
                 std: float = 1.0) -> dict[str, Tensor | str]:
    """What ``features`` makes of one ``image`` (uint8 or float, (C, H, W)) up to ``stage`` (a name
    from :func:`stages`), as :func:`course_utils.plots.show_feature_maps`'s arguments: the image,
    the maps (C, h, w) and the last conv's filters averaged over their input channels (C, k, k)."""
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
    return {"image": image.float().cpu() / (255 if image.dtype == torch.uint8 else 1), "maps": out,
            "filters": conv.weight.detach().float().cpu().mean(1), "title": stage}
