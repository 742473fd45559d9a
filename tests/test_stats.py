import math

import pytest
import torch
from scipy import stats as sps

from course_utils.stats import SeedSpread, binomial_se, compare, compare_paired, mean_std


def test_binomial_se():
    assert binomial_se(0.9, 50) == pytest.approx(math.sqrt(0.09 / 50))
    assert binomial_se(1.0, 10) == 0.0
    with pytest.raises(ValueError):
        binomial_se(0.5, 0)
    assert mean_std([1.0]) == (1.0, 0.0)


# One seed ---------------------------------------------------------------------------------

def test_one_seed_a_side_gives_no_verdict_however_large_the_difference():
    """Notebook 01's old verdict: one seed each, 6 points apart on 10,000 images, was called
    'a real difference' from the test set's noise alone. Another seed moves the FC net by
    about 2 points (notebook 02's record), so one run cannot say."""
    c = compare("the CNN", 0.936, "the FC net", 0.876, n_test=10_000)
    assert not c.decidable and not c.real
    s = c.sentence()
    assert "one seed cannot tell run-to-run noise from a real difference" in s and "real difference." not in s.split(":")[0]
    assert "0.936" in s and "0.876" in s and "differ by 6.0 points, but one seed" in s


def test_one_seed_with_a_named_known_spread_uses_it():
    spread = SeedSpread.of([0.86, 0.84, 0.88, 0.85, 0.87], "notebook 02's FC net over 5 seeds")
    big = compare("the CNN", 0.936, "the FC net", 0.876, n_test=10_000, spread=spread)
    assert big.real and "notebook 02's FC net over 5 seeds" in big.sentence()
    assert big.sentence().startswith("the CNN (0.936) beats the FC net (0.876) by 6.0 points")
    small = compare("a", 0.886, "b", 0.876, n_test=10_000, spread=spread)    # 1 point, spread 1.6
    assert not small.real and "cannot tell them apart" in small.sentence()
    with pytest.raises(ValueError):
        SeedSpread.of([0.9], "one run")


# A few seeds: the t distribution ----------------------------------------------------------

def test_three_seeds_need_the_t_distribution_not_two_standard_errors():
    """Constructed so that the difference is 2.5 standard errors: the normal rule (2) calls it
    real, Welch's t with about 4 degrees of freedom (2.8) does not."""
    a = [0.80, 0.82, 0.84]                   # sd 0.02
    se_each = 0.02 / math.sqrt(3)
    diff = 2.5 * math.sqrt(2) * se_each
    b = [v - diff for v in a]
    c = compare("a", a, "b", b)              # no test-set term: seeds only
    assert c.difference / c.se == pytest.approx(2.5)
    assert c.df == pytest.approx(4.0)
    assert c.critical == pytest.approx(2.776, abs=1e-3)
    assert not c.real and "cannot tell them apart" in c.sentence()
    # scipy's own Welch test agrees
    assert c.p == pytest.approx(sps.ttest_ind(a, b, equal_var=False).pvalue)
    far = compare("a", a, "b", [v - 2 * diff for v in a])   # 5 standard errors
    assert far.real and far.sentence().startswith("a (0.820) beats b")


def test_seed_spread_and_small_test_sets_widen_the_error():
    c = compare("frozen", [0.90, 0.88, 0.92], "fine-tune", [0.86, 0.88, 0.86], n_test=50)
    assert c.difference == pytest.approx(0.0333, abs=1e-3) and not c.real
    assert "cannot tell them apart" in c.sentence()
    tight = compare("a", [0.90, 0.901, 0.899], "b", [0.88, 0.881, 0.879], n_test=10_000)
    loose = compare("a", [0.86, 0.94, 0.90], "b", [0.84, 0.92, 0.88], n_test=10_000)
    assert tight.real and not loose.real and loose.se > tight.se
    big = compare("CNN", [0.945, 0.95, 0.94], "CNN permuted", [0.80, 0.78, 0.82], n_test=10_000)
    assert big.real and big.sentence().startswith("CNN (0.945) beats CNN permuted (0.800) by 14.5 points")


def test_losses_lower_is_better_and_a_fixed_baseline():
    c = compare("residual-32", [0.20, 0.22, 0.19], "plain-32", [1.05, 1.10, 0.98], lower_is_better=True)
    assert c.real and c.sentence(unit="", scale=1).startswith("residual-32 (0.203) is lower than plain-32")
    chance = compare("scratch", [0.62, 0.58, 0.60], "always the largest class", 0.5, n_test=50, fixed_b=True)
    assert chance.decidable and chance.method.startswith("t test against a fixed number")
    # the same numbers as a t test against 0.5 with the test set's variance added: p < 0.05?
    assert chance.real == (chance.p < 0.05)


# The same model on the same images: paired ------------------------------------------------

def test_paired_test_finds_what_independent_samples_miss():
    """1,000 test images, two ways of testing one model that disagree on 30 images, 25 to 5
    in favour of the first: McNemar's exact test calls it real (p about 4e-4), while the same
    two accuracies treated as independent runs (2 points on 1,000 images) are within the noise."""
    n = 1000
    right = torch.zeros(n, dtype=torch.bool)
    right[:800] = True
    other = right.clone()
    other[:25] = False          # 25 images only the first gets right
    other[900:905] = True       # 5 only the second gets right
    c = compare_paired("with TTA", right, "without", other)
    assert c.paired and c.real and c.difference == pytest.approx(0.02)
    assert c.p == pytest.approx(sps.binomtest(25, 30, 0.5).pvalue)
    assert "McNemar" in c.sentence() and c.sentence().startswith("with TTA (0.800) beats without (0.780)")
    independent = compare("with TTA", [0.80, 0.80], "without", [0.78, 0.78], n_test=n)
    assert not independent.real


def test_paired_test_says_when_disagreements_are_balanced_and_checks_its_input():
    a = torch.tensor([1, 1, 0, 0, 1, 0, 1, 1] * 10, dtype=torch.bool)
    b = torch.tensor([1, 0, 1, 0, 1, 0, 1, 1] * 10, dtype=torch.bool)   # 10 each way
    c = compare_paired("a", a, "b", b)
    assert not c.real and c.p == pytest.approx(1.0) and "cannot tell them apart" in c.sentence()
    scores = compare_paired("eval", [1, 1, 1, 0], "random crops", [0.6, 0.8, 0.2, 0.0])
    assert "sign test" in scores.method and not scores.real   # 3 to 0: p = 0.25
    with pytest.raises(ValueError, match="one value per test image"):
        compare_paired("a", [1, 0, 1], "b", [1, 0])
