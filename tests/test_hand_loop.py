"""Notebook 01's hand-written training and evaluation loop and ``fit``: with the same seed, on the
CPU in float32, the same loss at every step (the notebook prints it; this asserts it). The hand
loop is run from the notebook's own cell, so a change there is what is tested."""

import json

import pytest
import torch

from course_utils.data.loader import TensorLoader
from course_utils.models.mnist import CNN, FC2Layer
from course_utils.settings import PACKAGE_PARENT
from course_utils.device import set_seed
from course_utils.training import evaluate, fit

NOTEBOOK = PACKAGE_PARENT / "notebooks" / "01_mnist_fc_vs_cnn.ipynb"
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def hand_loop() -> dict:
    """``train_one_epoch`` and ``evaluate_by_hand``, defined by the notebook's cell ``hand-loop``."""
    cells = [c for c in json.loads(NOTEBOOK.read_text())["cells"] if c.get("id") == "hand-loop"]
    assert len(cells) == 1, "notebook 01 has no cell with id 'hand-loop'"
    namespace = {"torch": torch}      # the notebook imported torch in an earlier cell
    exec("".join(cells[0]["source"]), namespace)
    return namespace


def digits(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random 28x28 uint8 images whose label is told by the brightness of one of ten stripes."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=g)
    images = torch.randint(0, 120, (n, 1, 28, 28), generator=g, dtype=torch.uint8)
    for k in range(10):
        images[labels == k, :, :, 2 * k + 4: 2 * k + 6] += 120
    return images, labels


def loaders(seed: int) -> tuple[TensorLoader, TensorLoader]:
    train, test = digits(640, 0), digits(300, 1)
    return (TensorLoader(*train, 64, shuffle=True, seed=seed, mean=[0.25], std=[0.2]),
            TensorLoader(*test, 100, mean=[0.25], std=[0.2]))


@pytest.mark.parametrize("make, tolerance", [(FC2Layer, 1e-6), (CNN, 1e-5)])
def test_hand_loop_and_fit_give_the_same_losses(hand_loop, make, tolerance):
    seed = 3
    set_seed(seed)
    model = make()
    train, test = loaders(seed)
    hand = hand_loop["train_one_epoch"](model, train, torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.5), CPU)
    by_hand = hand_loop["evaluate_by_hand"](model, test, CPU)

    set_seed(seed)
    twin = make()
    train, test = loaders(seed)
    history = fit(twin, train, torch.optim.SGD(twin.parameters(), lr=0.05, momentum=0.5), 1, progress=False)

    assert len(hand) == len(history["step_loss"]) == 10
    assert max(abs(a - b) for a, b in zip(hand, history["step_loss"])) <= tolerance
    assert hand[-1] < hand[0]                                  # it learns
    by_fit = evaluate(twin, test)
    assert by_hand["acc"] == pytest.approx(by_fit["acc"], abs=1 / 300)
    assert by_hand["loss"] == pytest.approx(by_fit["loss"], rel=1e-4)
    assert not model.training                                   # evaluate_by_hand leaves it in eval mode
