"""Plain and residual stacks of the same depth, for notebook 06's degradation experiment.

Both nets are the same layers: a stem (3x3 conv, stride 2, batch norm, ReLU), ``blocks``
blocks of two 3x3 convs with batch norm, global average pooling and a linear classifier.
The residual net adds each block's input to its output (``relu(F(x) + x)``); the plain net
does not (``relu(F(x))``). Same parameters, same compute: only the identity path differs.
"""

from __future__ import annotations

from torch import Tensor, nn


class Block(nn.Module):
    """conv-BN-ReLU-conv-BN, then ``+ x`` when ``residual``, then ReLU."""

    def __init__(self, width: int, residual: bool) -> None:
        super().__init__()
        self.residual = residual
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        out = self.body(x)
        return self.relu(out + x if self.residual else out)


class DeepNet(nn.Module):
    """``2 * blocks + 2`` weighted layers (stem, the blocks' convs, the classifier)."""

    def __init__(self, blocks: int, *, residual: bool, width: int = 16, in_channels: int = 1,
                 num_classes: int = 10) -> None:
        super().__init__()
        self.depth, self.residual = 2 * blocks + 2, residual
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        self.blocks = nn.Sequential(*[Block(width, residual) for _ in range(blocks)])
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.blocks(self.stem(x)))

    @property
    def name(self) -> str:
        return f"{'residual' if self.residual else 'plain'}-{self.depth}"
