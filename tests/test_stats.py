import math

import pytest

from course_utils.stats import binomial_se, compare, mean_std


def test_binomial_se():
    assert binomial_se(0.9, 50) == pytest.approx(math.sqrt(0.09 / 50))
    assert binomial_se(1.0, 10) == 0.0
    with pytest.raises(ValueError):
        binomial_se(0.5, 0)


def test_small_test_sets_cannot_tell_two_photos_apart():
    c = compare("frozen", [0.90, 0.88, 0.92], "fine-tune", [0.86, 0.88, 0.86], n_test=50)
    assert c.difference == pytest.approx(0.0333, abs=1e-3) and not c.real
    assert "cannot tell them apart" in c.sentence()


def test_large_differences_are_real_and_worded_either_way():
    c = compare("FC", 0.876, "CNN", 0.936, n_test=10_000)
    assert c.real and c.sentence().startswith("CNN beats FC by 6.0 points")
    flipped = compare("FC", 0.88, "CNN", 0.94, n_test=10_000)   # the winner's number first
    assert "CNN beats FC by 6.0 points (0.940 vs 0.880)" in flipped.sentence()
    c = compare("CNN", [0.945, 0.95, 0.94], "CNN permuted", [0.80, 0.78, 0.82], n_test=10_000)
    assert c.real and c.sentence().startswith("CNN beats CNN permuted by 14.5 points")


def test_seed_spread_widens_the_error():
    tight = compare("a", [0.90, 0.90, 0.90], "b", [0.88, 0.88, 0.88], n_test=10_000)
    loose = compare("a", [0.86, 0.94, 0.90], "b", [0.84, 0.92, 0.88], n_test=10_000)
    assert tight.real and not loose.real and loose.se > tight.se
    assert mean_std([1.0]) == (1.0, 0.0)
