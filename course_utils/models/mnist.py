"""The two MNIST nets of notebook 01: a fully-connected net and a CNN with the same budget.

Generated from notebooks/01_mnist_fc_vs_cnn.ipynb (its cells tagged ``export``) by
``python -m course_utils.instructor.export``: change the notebook, then run that command.
"""

from torch import Tensor, nn


class FC2Layer(nn.Module):
    """784 pixels -> n_hidden -> n_hidden -> 10 scores, ReLU between; n_hidden=8: 6,442 parameters."""

    def __init__(self, input_size: int = 28 * 28, n_hidden: int = 8, output_size: int = 10) -> None:
        super().__init__()   # nn.Module's set-up first: it records the layers assigned below
        self.input_size = input_size
        self.net = nn.Sequential(
            nn.Flatten(),    # (batch, 1, 28, 28) -> (batch, 784), as x.view(x.shape[0], -1)
            nn.Linear(input_size, n_hidden), nn.ReLU(),
            nn.Linear(n_hidden, n_hidden), nn.ReLU(),
            nn.Linear(n_hidden, output_size),   # 10 scores (logits), one per class
        )

    def forward(self, x: Tensor) -> Tensor:
        if x[0].numel() != self.input_size:
            raise ValueError(f"FC2Layer expects {self.input_size} pixels per image, got shape {tuple(x.shape)}")
        return self.net(x)


class CNN(nn.Module):
    """Two 5x5 convs with n_feature maps, each followed by ReLU and 2x2 max-pool, then a 50-unit
    hidden layer; n_feature=6: 6,422 parameters. Input (batch, 1, 28, 28)."""

    def __init__(self, n_feature: int = 6, output_size: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, n_feature, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),          # 28 -> 24 -> 12
            nn.Conv2d(n_feature, n_feature, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),  # 12 -> 8 -> 4
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),    # (batch, n_feature, 4, 4) -> (batch, n_feature * 16)
            nn.Linear(n_feature * 4 * 4, 50), nn.ReLU(),
            nn.Linear(50, output_size),
        )

    def forward(self, x: Tensor) -> Tensor:
        if tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"CNN expects images of shape (N, 1, 28, 28), got {tuple(x.shape)}")
        return self.classifier(self.features(x))
