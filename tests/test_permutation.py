import pytest
import torch

from course_utils.data.loader import TensorLoader
from course_utils.lessons.experiments import compare_predictions, train_twins
from course_utils.models.mnist import CNN, FC2Layer
from course_utils.optim import make_sgd
from course_utils.lessons.permutation import PixelPermutation, check_permutation, permute_fc_input, permute_pixels
from course_utils.device import set_seed
from course_utils.training import fit

from helpers import striped_digits

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def make_permutation(n: int, seed: int = 0) -> torch.Tensor:
    return PixelPermutation(n, seed).perm


def test_fixed_seed_gives_same_permutation():
    a, b = make_permutation(784, seed=3), make_permutation(784, seed=3)
    assert torch.equal(a, b) and repr(PixelPermutation(784, 3)) == "PixelPermutation(n_pixels=784, seed=3)"
    assert not torch.equal(a, make_permutation(784, seed=4))
    assert torch.equal(a.sort().values, torch.arange(784))
    assert not torch.equal(a, torch.arange(784))


@pytest.mark.parametrize("device", DEVICES)
def test_inverse_restores_exactly_on_a_batch(device):
    perm = PixelPermutation(784, seed=0)
    x = torch.randn(32, 1, 28, 28, device=device)
    shuffled = perm(x)
    assert shuffled.device == x.device and shuffled.shape == x.shape
    assert not torch.equal(shuffled, x)
    assert torch.equal(perm.inverse(shuffled), x)
    # pixel i of a permuted image is pixel perm[i] of the original, for every image
    flat = x.flatten(1)
    assert torch.equal(shuffled.flatten(1), flat[:, perm.perm.to(device)])
    u8 = torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8, device=device)
    assert torch.equal(permute_pixels(permute_pixels(u8, perm.perm), perm.perm.argsort()), u8)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="does not fit images"):
        PixelPermutation(784)(torch.zeros(2, 1, 32, 32))
    with pytest.raises(ValueError, match="not a permutation"):
        check_permutation(torch.tensor([0, 1, 1]))
    with pytest.raises(ValueError, match="positive"):
        make_permutation(0)
    with pytest.raises(TypeError, match="convolution"):
        permute_fc_input(CNN(), make_permutation(784))
    with pytest.raises(ValueError, match="reads 784 inputs"):
        permute_fc_input(FC2Layer(), make_permutation(100))


def test_loader_transform_permutes_whole_batches():
    images = torch.randint(0, 256, (50, 1, 28, 28), dtype=torch.uint8)
    labels = torch.arange(50) % 10
    perm = PixelPermutation(784, seed=1)
    plain = TensorLoader(images, labels, 16, shuffle=True, seed=5, mean=[0.1], std=[0.3])
    shuffled = TensorLoader(images, labels, 16, shuffle=True, seed=5, mean=[0.1], std=[0.3],
                            transform=perm)
    for (x, y), (xp, yp) in zip(plain, shuffled):
        assert torch.equal(y, yp) and torch.equal(perm(x), xp)


@pytest.mark.parametrize("trained", [False, True])
def test_fc_conversion_gives_same_predictions(trained):
    set_seed(0)
    data = striped_digits(256)
    model = FC2Layer()
    perm = PixelPermutation(784, seed=2)
    if trained:
        fit(model, data.loader(32, shuffle=True, seed=0), make_sgd(model.parameters(), 0.1, 0.9), 8,
            progress=False)
    converted = permute_fc_input(model, perm.perm)
    result = compare_predictions(model, data.loader(64), converted, data.loader(64, transform=perm))
    assert result["different_predictions"] == 0
    assert result["acc_a"] == result["acc_b"]
    assert result["max_logit_difference"] < 1e-4
    if trained:
        assert result["acc_a"] > 0.5  # it learnt something, so the check is not vacuous
    # without converting, the same net on permuted images is a different function
    unconverted = compare_predictions(model, data.loader(64), model, data.loader(64, transform=perm))
    assert unconverted["max_logit_difference"] > 1e-3


def test_twin_training_matches_step_for_step():
    data = striped_digits(320)
    twins = train_twins(FC2Layer, data, striped_digits(128, seed=1), PixelPermutation(784, seed=3), seed=0)
    assert len(twins.history_original["step_loss"]) == 5
    assert twins.max_step_loss_difference < 1e-5
    assert twins.max_weight_difference < 1e-5
    assert twins.predictions["different_predictions"] == 0
