"""Plain and residual stacks of the same depth, for notebook 06's degradation experiment.

Generated from notebooks/06_residual_connections.ipynb (its cells tagged ``export``) by
``python -m course_utils.instructor.export``: change the notebook, then run that command.
"""

from torch import Tensor, nn


class PlainBlock(nn.Module):
    """conv-BN-ReLU-conv-BN, then ReLU: ``relu(F(x))``, the same number of channels in and out."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.body(x))


class ResidualBlock(PlainBlock):
    """The same layers, and the block's input added to their output: ``relu(F(x) + x)``."""

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.body(x) + x)


class DeepNet(nn.Module):
    """``2 * blocks + 2`` weighted layers (stem, the blocks' convs, the classifier)."""

    def __init__(self, blocks: int, *, residual: bool, width: int = 16, in_channels: int = 1,
                 num_classes: int = 10) -> None:
        super().__init__()
        self.depth, self.residual = 2 * blocks + 2, residual
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        block = ResidualBlock if residual else PlainBlock
        self.blocks = nn.Sequential(*[block(width) for _ in range(blocks)])
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.blocks(self.stem(x)))

    @property
    def name(self) -> str:
        return f"{'residual' if self.residual else 'plain'}-{self.depth}"
