"""Honest comparisons of test accuracies: how much of a difference the test set and the seeds
can tell apart, and verdicts worded from the numbers of the run (never hard-coded prose).

Two sources of noise make an accuracy uncertain: the finite test set (an accuracy ``p`` on
``n`` images has a binomial standard error ``sqrt(p (1 - p) / n)``) and the run itself (seed,
batch order: the spread over seeds). :func:`compare` combines both for a difference of means
and calls it real only when it is more than twice its standard error.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Sequence


def binomial_se(accuracy: float, n_test: int) -> float:
    """Standard error of an accuracy measured on ``n_test`` examples."""
    if n_test < 1:
        raise ValueError("n_test must be positive")
    return math.sqrt(max(accuracy * (1 - accuracy), 0.0) / n_test)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    values = list(values)
    if not values:
        raise ValueError("no values")
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


@dataclass
class Comparison:
    """The difference ``a - b`` of two mean accuracies, its standard error, and the verdict."""

    a: str
    b: str
    mean_a: float
    mean_b: float
    difference: float
    se: float

    @property
    def real(self) -> bool:
        """More than twice its standard error away from zero."""
        return abs(self.difference) > 2 * self.se

    def sentence(self, unit: str = "points") -> str:
        d = 100 * self.difference
        if not self.real:
            return (f"{self.a} ({self.mean_a:.3f}) and {self.b} ({self.mean_b:.3f}) differ by {abs(d):.1f} {unit}, "
                    f"within the noise (2 standard errors = {200 * self.se:.1f} {unit}): this run cannot tell them apart.")
        (better, hi), (worse, lo) = sorted([(self.a, self.mean_a), (self.b, self.mean_b)], key=lambda t: -t[1])
        return (f"{better} beats {worse} by {abs(d):.1f} {unit} ({hi:.3f} vs {lo:.3f}), "
                f"more than 2 standard errors ({200 * self.se:.1f} {unit}): a real difference.")


def compare(a: str, acc_a: Sequence[float] | float, b: str, acc_b: Sequence[float] | float,
            n_test: int) -> Comparison:
    """Compare accuracies of ``a`` and ``b`` (one value, or one per seed) measured on ``n_test``
    test examples. Each mean's variance is the spread over its seeds divided by their number
    (run-to-run noise) plus the test set's binomial variance (which more seeds do not shrink)."""
    xa = [acc_a] if isinstance(acc_a, (int, float)) else list(acc_a)
    xb = [acc_b] if isinstance(acc_b, (int, float)) else list(acc_b)
    (ma, sa), (mb, sb) = mean_std(xa), mean_std(xb)
    var_a = sa ** 2 / len(xa) + binomial_se(ma, n_test) ** 2
    var_b = sb ** 2 / len(xb) + binomial_se(mb, n_test) ** 2
    return Comparison(a, b, ma, mb, ma - mb, math.sqrt(var_a + var_b))
