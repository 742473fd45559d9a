import math

import pytest
import torch

from course_utils.data.mnist import load_mnist
from course_utils.device import set_seed
from course_utils.lessons.experiments import Recipe, SeedRuns, compare_predictions, run_seeds, train_model, train_twins
from course_utils.models.mnist import CNN, FC2Layer
from course_utils.lessons.permutation import PixelPermutation, permute_fc_input

from helpers import striped_digits

RECIPE = Recipe(batch_size=32, test_batch_size=64)


def test_summary_of_hand_made_runs():
    runs = SeedRuns([1, 2], {"FC": {"original": [0.8, 0.9], "permuted": [0.85, 0.95]},
                             "CNN": {"original": [0.9, 0.9], "permuted": [0.5, 0.7]}})
    assert runs.conditions() == ["original", "permuted"]
    assert runs.mean("FC", "original") == pytest.approx(0.85)
    assert runs.std("FC", "original") == pytest.approx(math.sqrt(0.005))  # sample std
    assert runs.change("CNN", "permuted") == pytest.approx(-0.3)
    assert runs.table_rows()[0] == {"model": "FC", "original": "0.850 ± 0.071",
                                    "permuted": "0.900 ± 0.071", "change": "+0.050"}
    assert runs.seed_rows()[1] == {"seed": 2, "FC original": 0.9, "FC permuted": 0.95,
                                   "CNN original": 0.9, "CNN permuted": 0.7}
    means, stds = runs.bar_values()
    assert means["CNN"]["permuted"] == pytest.approx(0.6) and stds["CNN"]["original"] == 0.0
    metrics = runs.metrics()
    assert metrics["cnn_permuted_change"] == -0.3 and metrics["fc_original_mean"] == 0.85
    assert "fc_original_change" not in metrics
    assert math.isnan(SeedRuns([1], {"FC": {"original": [0.8]}}).std("FC", "original"))   # stats.mean_std: one run, no spread


def test_run_seeds_pairs_conditions_by_seed():
    train, test = striped_digits(), striped_digits(64, seed=1)
    starts = []

    def fc():
        model = FC2Layer()
        starts.append([p.detach().clone() for p in model.parameters()])
        return model

    perm = PixelPermutation(784, seed=0)
    runs = run_seeds({"FC": fc, "CNN": CNN}, train, test, [3, 4],
                     {"original": None, "permuted": perm}, recipe=RECIPE, progress=False)
    assert runs.seeds == [3, 4]
    for model in ("FC", "CNN"):
        for cond in ("original", "permuted"):
            assert len(runs.acc[model][cond]) == len(runs.models[model][cond]) == 2
            assert all(0.0 <= a <= 1.0 for a in runs.acc[model][cond])
    assert runs.train_seconds > 0 and runs.eval_seconds > 0
    # runs go model by model, condition by condition, seed by seed: (orig 3, orig 4, perm 3, perm 4)
    assert len(starts) == 4
    for a, b in zip(starts[0], starts[2]):  # same seed, other condition: same initial weights
        assert torch.equal(a, b)
    assert not torch.equal(starts[0][0], starts[1][0])  # another seed: other weights
    # the same seed again reproduces the run exactly
    again = run_seeds({"FC": FC2Layer}, train, test, [3], {"original": None, "permuted": perm},
                      recipe=RECIPE, progress=False)
    assert again.acc["FC"] == {c: v[:1] for c, v in runs.acc["FC"].items()}
    twin, first = again.models["FC"]["permuted"][0], runs.models["FC"]["permuted"][0]
    assert all(torch.equal(a, b) for a, b in zip(twin.parameters(), first.parameters()))
    with pytest.raises(ValueError, match="at least one seed"):
        run_seeds({"FC": FC2Layer}, train, test, [], {"original": None})


def test_twins_refuse_a_cnn():
    with pytest.raises(TypeError, match="convolution"):
        train_twins(CNN, striped_digits(64), striped_digits(32, seed=1), PixelPermutation(784), 0,
                    recipe=RECIPE)


def test_compare_predictions_needs_the_same_examples():
    data, other = striped_digits(64), striped_digits(64, seed=1)
    model = FC2Layer()
    with pytest.raises(ValueError, match="same examples"):
        compare_predictions(model, data.loader(32), model, other.loader(32))


def test_fc_equivalence_on_real_mnist(mnist_root):
    """A briefly trained FC net, rewired, classifies permuted real digits exactly as the
    original net classifies the originals; a twin trained on permuted digits from the rewired
    start is the same run."""
    train = load_mnist(True, root=mnist_root, smoke=True)
    test = load_mnist(False, root=mnist_root, smoke=True)
    perm = PixelPermutation(784, seed=0)
    recipe = Recipe(batch_size=64, test_batch_size=512)
    set_seed(1)
    model, history = train_model(FC2Layer(), train, test, 1, recipe=recipe)
    assert history["test_acc"][-1] > 0.2  # it learnt something, so the check is not vacuous
    result = compare_predictions(model, test.loader(512), permute_fc_input(model, perm.perm),
                                 test.loader(512, transform=perm))
    assert result["different_predictions"] == 0 and result["acc_a"] == result["acc_b"]
    twins = train_twins(FC2Layer, train, test, perm, 1, recipe=recipe)
    assert twins.predictions["acc_a"] == history["test_acc"][-1]  # the same run as above
    assert twins.max_step_loss_difference < 1e-5 and twins.max_weight_difference < 1e-5
    assert twins.predictions["different_predictions"] == 0
    assert twins.metrics()["twin_steps"] == len(train) // 64
