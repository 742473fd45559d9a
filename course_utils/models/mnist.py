"""The two MNIST nets of the first lessons: a fully-connected net and a small CNN with the
same parameter budget (6,442 vs 6,422)."""

from __future__ import annotations

from torch import Tensor, nn


def _check_input(x: Tensor, shape: tuple[int, ...], model: str) -> None:
    if tuple(x.shape[1:]) != shape:
        raise ValueError(
            f"{model} expects images of shape (N, {', '.join(map(str, shape))}), "
            f"got {tuple(x.shape)}"
        )


class FC2Layer(nn.Module):
    """784 -> hidden -> hidden -> 10 with ReLUs; ``n_hidden=8`` gives 6,442 parameters."""

    def __init__(self, input_size: int = 28 * 28, n_hidden: int = 8, output_size: int = 10) -> None:
        super().__init__()
        self.input_size = input_size
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(input_size, n_hidden), nn.ReLU(),
            nn.Linear(n_hidden, n_hidden), nn.ReLU(),
            nn.Linear(n_hidden, output_size),
        )

    def forward(self, x: Tensor) -> Tensor:
        if x[0].numel() != self.input_size:
            raise ValueError(f"FC2Layer expects {self.input_size} pixels per image, "
                             f"got shape {tuple(x.shape)}")
        return self.net(x)


class CNN(nn.Module):
    """Two 5x5 convs with ``n_feature`` maps, each followed by ReLU and 2x2 max-pool, then
    a 50-unit hidden layer; ``n_feature=6`` gives 6,422 parameters. Input (N, 1, 28, 28)."""

    def __init__(self, n_feature: int = 6, output_size: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, n_feature, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(n_feature, n_feature, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(n_feature * 4 * 4, 50), nn.ReLU(), nn.Linear(50, output_size),
        )

    def forward(self, x: Tensor) -> Tensor:
        _check_input(x, (1, 28, 28), "CNN")
        return self.classifier(self.features(x))
