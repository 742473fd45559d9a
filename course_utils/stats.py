"""Honest comparisons of test results, two-sided at the 5 % level: Welch's t test over seeds, no verdict
from one seed without a measured :class:`SeedSpread`, paired tests (README: "How the verdicts decide")."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats as sps

#: Two-sided significance level of every verdict.
ALPHA = 0.05


def binomial_se(accuracy: float, n_test: int) -> float:
    """Standard error of an accuracy measured on ``n_test`` examples."""
    if n_test < 1:
        raise ValueError("n_test must be positive")
    return math.sqrt(max(accuracy * (1 - accuracy), 0.0) / n_test)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (divisor n - 1); NaN for a single value, never 0."""
    values = _values(values)
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else math.nan


@dataclass(frozen=True)
class SeedSpread:
    """A run-to-run standard deviation ``sd`` from ``runs`` seeds, measured elsewhere (``source``)."""

    sd: float
    runs: int
    source: str

    def __post_init__(self) -> None:
        if self.runs < 2 or not self.sd >= 0:
            raise ValueError(f"a seed spread needs a standard deviation >= 0 from at least two runs "
                             f"(got sd {self.sd}, {self.runs} run(s))")

    @classmethod
    def of(cls, values: Sequence[float], source: str) -> "SeedSpread":
        values = _values(values)
        return cls(mean_std(values)[1], len(values), source)


def _values(x: Sequence[float] | float) -> list[float]:
    x = x.tolist() if hasattr(x, "tolist") else x           # tensors and arrays, 0-d included
    values = [float(x)] if isinstance(x, (int, float, np.floating)) else [float(v) for v in x]
    if not values:
        raise ValueError("no values")
    return values


@dataclass
class Comparison:
    """The difference ``a - b`` of two means, its standard error and the verdict: ``df`` of the
    t distribution (``inf``: normal), ``p`` two-sided (``nan``: no verdict possible)."""

    a: str
    b: str
    mean_a: float
    mean_b: float
    difference: float
    se: float
    method: str
    df: float = math.inf
    p: float = math.nan
    lower_is_better: bool = False
    note: str = ""
    paired: bool = False

    @property
    def decidable(self) -> bool:
        return not math.isnan(self.p)

    @property
    def real(self) -> bool:
        return self.decidable and self.p < ALPHA

    @property
    def critical(self) -> float:
        """How many standard errors a real difference needs (t or normal quantile)."""
        q = 1 - ALPHA / 2
        return float(sps.t.ppf(q, self.df)) if math.isfinite(self.df) else float(sps.norm.ppf(q))

    def sentence(self, unit: str = "points", scale: float = 100.0) -> str:
        """The verdict in words: the winner's number first, the test and its threshold."""
        d = scale * abs(self.difference)
        (better, hi), (worse, lo) = sorted([(self.a, self.mean_a), (self.b, self.mean_b)], key=lambda t: t[1],
                                           reverse=not self.lower_is_better)
        dec = 1 if scale >= 10 else 3
        unit = f" {unit}" if unit else ""
        both = f"{self.a} ({self.mean_a:.3f}) and {self.b} ({self.mean_b:.3f}) differ by {d:.{dec}f}{unit}"
        if not self.decidable:
            return f"{both}, but {self.note}"
        # 4 decimals below 0.1: 0.0496 and 0.0504 stay apart
        p = "p < 0.0001" if self.p < 1e-4 else f"p = {self.p:.4f}" if self.p < 0.1 else f"p = {self.p:.2f}"
        how = f"{self.method}; {p}"
        if not self.paired:
            how = (f"{self.method}: the 95% threshold is {scale * (self.critical * self.se):.{dec}f}{unit}, "
                   f"{self.critical:.1f} standard errors; {p}")
        if not self.real:
            return (f"{both}, within the noise ({how}): these runs cannot tell them apart (which does not "
                    f"show that they are equal).")
        verb = "is lower than" if self.lower_is_better else "beats"
        scope = " for these trained nets on these test images" if self.paired else ""
        return (f"{better} ({hi:.3f}) {verb} {worse} ({lo:.3f}) by {d:.{dec}f}{unit} ({how}): "
                f"a real difference{scope} at the 5% level.")


def compare(a: str, acc_a: Sequence[float] | float, b: str, acc_b: Sequence[float] | float,
            n_test: int | None = None, *, spread: SeedSpread | None = None, fixed_b: bool = False,
            lower_is_better: bool = False) -> Comparison:
    """Compare ``a`` and ``b`` (one value or one per seed; accuracies on ``n_test`` examples, None: other
    numbers). One value a side needs ``spread`` for a verdict; ``fixed_b``: ``b`` is a fixed number."""
    xa, xb = _values(acc_a), _values(acc_b)
    if n_test is not None and not all(0 <= v <= 1 for v in xa + xb):
        raise ValueError(f"accuracies on {n_test} test examples must lie between 0 and 1 (fractions, not "
                         f"percent): got {xa} and {xb}")
    ma, mb = statistics.fmean(xa), statistics.fmean(xb)

    def test_var(m: float) -> float:
        return binomial_se(m, n_test) ** 2 if n_test is not None else 0.0

    sides = [(xa, ma)] + ([] if fixed_b else [(xb, mb)])
    parts: list[tuple[float, int]] = []
    method = "Welch's t test" if not fixed_b else "t test against a fixed number"
    for x, m in sides:
        if len(x) > 1:
            parts.append((statistics.variance(x) / len(x) + test_var(m), len(x)))
        elif spread is not None:
            parts.append((spread.sd ** 2 + test_var(m), spread.runs))
            method = f"known seed spread ({spread.sd:.3f}, {spread.source})"
        else:
            note = ("one seed cannot tell run-to-run noise from a real difference: no verdict (train a few "
                    "seeds, or compare with a seed spread measured elsewhere).")
            se = math.sqrt(sum(test_var(m) for _, m in sides))
            return Comparison(a, b, ma, mb, ma - mb, se, "one seed", math.nan, math.nan, lower_is_better,
                              note)
    se = math.sqrt(sum(v for v, _ in parts))
    den = sum(v * v / (k - 1) for v, k in parts if k > 1 and v > 0)   # Welch-Satterthwaite
    df = sum(v for v, _ in parts) ** 2 / den if den > 0 else math.inf
    if spread is not None:   # one estimate of the spread, however many sides it stands in for
        df = min(df, spread.runs - 1)
    if se == 0:
        note = "both sides' runs are identical and there is no test-set noise to weigh them by: no verdict."
        return Comparison(a, b, ma, mb, ma - mb, 0.0, method, df, math.nan, lower_is_better, note)
    t = (ma - mb) / se
    p = float(2 * sps.t.sf(abs(t), df)) if math.isfinite(df) else float(2 * sps.norm.sf(abs(t)))
    return Comparison(a, b, ma, mb, ma - mb, se, method, df, p, lower_is_better)


def compare_paired(a: str, scores_a, b: str, scores_b) -> Comparison:
    """Compare two ways of testing on the same images, by the images where they differ: per image
    1/0 for right/wrong (McNemar's exact test) or a score in [0, 1] (the sign test)."""
    sa, sb = np.asarray(_values(scores_a)), np.asarray(_values(scores_b))
    if sa.shape != sb.shape or sa.ndim != 1 or sa.size == 0:
        raise ValueError(f"paired scores need one value per test image, the same images on both sides "
                         f"(got {sa.shape} and {sb.shape})")
    d = sa - sb
    wins, losses = int((d > 0).sum()), int((d < 0).sum())
    binary = set(np.unique(sa)) <= {0.0, 1.0} and set(np.unique(sb)) <= {0.0, 1.0}
    p = float(sps.binomtest(wins, wins + losses, 0.5).pvalue) if wins + losses else 1.0
    se = float(d.std(ddof=1) / math.sqrt(d.size)) if d.size > 1 else 0.0
    means = (float(sa.mean()), float(sb.mean()), float(d.mean()), se)
    if not binary and wins != losses and (wins > losses) != (d.mean() > 0):
        note = (f"the images split {wins} for {a} to {losses} for {b}, while the means point the other way: "
                f"no verdict.")
        return Comparison(a, b, *means, "sign test", math.inf, math.nan, note=note, paired=True)
    test = "McNemar's exact test" if binary else "sign test"
    where = "disagree" if binary else "differ"
    method = (f"{test} on the {wins + losses} of {d.size} images where they {where}: "
              f"{wins} for {a}, {losses} for {b}")
    return Comparison(a, b, *means, method, math.inf, p, paired=True)
