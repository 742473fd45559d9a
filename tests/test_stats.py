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
    assert mean_std([1.0, 3.0]) == (2.0, pytest.approx(math.sqrt(2)))
    mean, sd = mean_std([1.0])   # one run: no measured spread, not a spread of 0
    assert mean == 1.0 and math.isnan(sd)
    with pytest.raises(ValueError, match="no values"):
        mean_std([])


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


def test_one_seed_with_a_named_known_spread_uses_it_with_its_own_degrees_of_freedom():
    tight = SeedSpread.of([0.860, 0.855, 0.865, 0.858, 0.862], "a net over 5 seeds")      # sd 0.004
    big = compare("the CNN", 0.936, "the FC net", 0.876, n_test=10_000, spread=tight)
    assert big.real and "a net over 5 seeds" in big.sentence()
    assert big.sentence().startswith("the CNN (0.936) beats the FC net (0.876) by 6.0 points")
    # one estimate of the spread stands in for both sides: 4 degrees of freedom, not 8
    assert big.df == pytest.approx(4.0)
    loose = SeedSpread.of([0.86, 0.84, 0.88, 0.85, 0.87], "notebook 02's FC net over 5 seeds")   # sd 0.016
    c = compare("the CNN", 0.936, "the FC net", 0.876, n_test=10_000, spread=loose)
    t = 0.06 / math.sqrt(2 * loose.sd ** 2 + 0.936 * 0.064 / 1e4 + 0.876 * 0.124 / 1e4)
    assert c.p == pytest.approx(2 * sps.t.sf(t, 4)) and c.p > 0.05 and not c.real   # with df 8 it was "real"
    # a spread taken from one side's own seeds, standing in for the other's single run
    mixed = compare("head at 10x", [0.84, 0.80, 0.84], "one shared rate", 0.64, n_test=50,
                    spread=SeedSpread.of([0.84, 0.80, 0.84], "fine-tuning's seeds"))
    assert mixed.df == pytest.approx(2.0)
    with pytest.raises(ValueError):
        SeedSpread.of([0.9], "one run")
    with pytest.raises(ValueError):
        SeedSpread(0.01, 1, "made up")


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
    # scipy's own Welch test agrees, also where Welch and Student differ (unequal spreads and counts)
    assert c.p == pytest.approx(sps.ttest_ind(a, b, equal_var=False).pvalue)
    u, v = [0.80, 0.82, 0.84, 0.86, 0.79], [0.70, 0.78, 0.74]
    assert compare("u", u, "v", v).p == pytest.approx(sps.ttest_ind(u, v, equal_var=False).pvalue)
    assert compare("u", u, "v", v).p != pytest.approx(sps.ttest_ind(u, v, equal_var=True).pvalue)
    far = compare("a", a, "b", [v - 2 * diff for v in a])   # 5 standard errors
    assert far.real and far.sentence().startswith("a (0.820) beats b")


def test_seed_spread_and_small_test_sets_widen_the_error():
    c = compare("frozen", [0.90, 0.88, 0.92], "fine-tune", [0.86, 0.88, 0.86], n_test=50)
    assert c.difference == pytest.approx(0.0333, abs=1e-3) and not c.real
    assert "cannot tell them apart" in c.sentence()
    tight = compare("a", [0.90, 0.901, 0.899], "b", [0.88, 0.881, 0.879], n_test=10_000)
    loose = compare("a", [0.86, 0.94, 0.90], "b", [0.84, 0.92, 0.88], n_test=10_000)
    assert tight.real and not loose.real and loose.se > tight.se
    # the test set's own noise: the same tight seeds on 50 test images cannot tell 2 points apart
    small = compare("a", [0.90, 0.901, 0.899], "b", [0.88, 0.881, 0.879], n_test=50)
    assert not small.real
    assert small.se == pytest.approx(math.sqrt(1e-6 / 3 + 0.9 * 0.1 / 50 + 1e-6 / 3 + 0.88 * 0.12 / 50))
    big = compare("CNN", [0.945, 0.95, 0.94], "CNN permuted", [0.80, 0.78, 0.82], n_test=10_000)
    assert big.real and big.sentence().startswith("CNN (0.945) beats CNN permuted (0.800) by 14.5 points")


def test_losses_lower_is_better_and_a_fixed_baseline():
    c = compare("residual-32", [0.20, 0.22, 0.19], "plain-32", [1.05, 1.10, 0.98], lower_is_better=True)
    assert c.real and c.sentence(unit="", scale=1).startswith("residual-32 (0.203) is lower than plain-32")
    chance = compare("scratch", [0.62, 0.58, 0.60], "always the largest class", 0.5, n_test=50, fixed_b=True)
    assert chance.decidable and chance.method.startswith("t test against a fixed number")
    se = math.sqrt(0.0004 / 3 + 0.6 * 0.4 / 50)       # seeds' variance / 3 + the test set's
    assert chance.p == pytest.approx(2 * sps.t.sf(0.1 / se, 2)) and not chance.real


def test_degenerate_and_wrong_input():
    same = compare("a", [0.5, 0.5], "b", [0.4, 0.4])           # no spread, no test-set term
    assert not same.decidable and not same.real and "no verdict" in same.sentence()
    with pytest.raises(ValueError, match="between 0 and 1"):
        compare("a", 98.0, "b", [97.0, 96.0], n_test=10_000)     # percent, not fractions
    assert compare("a", torch.tensor(0.9), "b", torch.tensor([0.8, 0.82])).mean_a == pytest.approx(0.9)


def test_p_values_near_the_threshold_print_apart():
    c = compare("a", [0.80, 0.82, 0.84], "b", [0.76, 0.78, 0.80])
    c.p = 0.0496
    assert "p = 0.0496" in c.sentence() and "real difference" in c.sentence()
    c.p = 0.0504
    assert "p = 0.0504" in c.sentence() and "cannot tell" in c.sentence()


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
    # most images favour a, the mean favours b: no verdict rather than a verdict for either
    split = compare_paired("a", [0.6] * 20 + [0.0] * 5, "b", [0.4] * 20 + [1.0] * 5)
    assert not split.real and "no verdict" in split.sentence()
    with pytest.raises(ValueError, match="one value per test image"):
        compare_paired("a", [1, 0, 1], "b", [1, 0])
