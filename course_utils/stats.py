"""Honest comparisons of test results: what the test set and the seeds can tell apart, and
verdicts worded from the numbers of the run (never hard-coded prose).

Two sources of noise make a test accuracy uncertain: the finite test set (an accuracy ``p``
on ``n`` images has the binomial standard error ``sqrt(p (1 - p) / n)``) and the run itself
(seed, batch order: the spread over seeds). Three situations, three tests:

* **Runs over seeds** (:func:`compare` with two or more values a side): each mean's variance
  is the seeds' spread divided by their number plus the test set's binomial variance, and the
  difference is judged with **Welch's t test**. Its Welch-Satterthwaite degrees of freedom
  count each side's whole variance as estimated from its seeds (the test-set term included):
  conservative, since that term is known better than the seeds' spread, so a verdict errs
  towards "cannot tell". With 3 seeds a side that means 2.8 standard errors (equal
  uncertainties) up to 4.3 (one side's dominating), not the normal distribution's 2: a few
  seeds know their own spread only roughly. Each verdict prints its own threshold.
* Each verdict is one test at the 5 % level: a table of several verdicts will now and then
  call one difference real by chance (with 7 comparisons of nothing, about 30 % of the time).
  A p-value near 0.05 is a hint, not a finding.
* **One run a side** (:func:`compare` with a single value): one run cannot show how far
  another seed would move it. Unless a spread measured elsewhere is handed in
  (:class:`SeedSpread`, named in the verdict), the verdict says that one seed cannot tell
  run-to-run noise from a real difference.
* **The same model on the same test images** (with and without test-time augmentation or
  weight averaging, eval against train mode, each measured mistake): a **paired** test
  (:func:`compare_paired`) looks only at the images where the two disagree: McNemar's exact
  test for right/wrong per image, the sign test for a per-image share of right answers (over
  several measurements or seeds). It is correct and usually more sensitive; what it tells is
  about these trained nets on these images.

A difference is called real at the 95 % level (two-sided).
"""

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
    """Mean and sample standard deviation (divisor n - 1) of ``values``: the course's one rule
    for a spread over seeds or repeated measurements. A single value has no measured spread:
    its standard deviation is NaN (printed ``nan``), never 0, which would claim that runs agree
    exactly."""
    values = _values(values)
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else math.nan


@dataclass(frozen=True)
class SeedSpread:
    """A run-to-run standard deviation measured elsewhere, for verdicts on single runs:
    ``sd`` from ``runs`` seeds, and where it was measured (``source``, named in the verdict)."""

    sd: float
    runs: int
    source: str

    def __post_init__(self) -> None:
        if self.runs < 2 or not self.sd >= 0:
            raise ValueError(f"a seed spread needs a standard deviation >= 0 from at least two runs "
                             f"(got sd {self.sd}, {self.runs} run(s))")

    @classmethod
    def of(cls, values: Sequence[float], source: str) -> "SeedSpread":
        """The spread of ``values`` (at least two runs)."""
        values = _values(values)
        _, sd = mean_std(values)
        if math.isnan(sd):
            raise ValueError("a seed spread needs at least two runs")
        return cls(sd, len(values), source)


def _values(x: Sequence[float] | float) -> list[float]:
    x = x.tolist() if hasattr(x, "tolist") else x           # tensors and arrays, 0-d included
    values = [float(x)] if isinstance(x, (int, float, np.floating)) else [float(v) for v in x]
    if not values:
        raise ValueError("no values")
    return values


@dataclass
class Comparison:
    """The difference ``a - b`` of two means, its standard error, and the verdict.

    ``method`` says which test made it; ``df`` is the t distribution's degrees of freedom
    (``inf``: the normal distribution); ``p`` the two-sided p-value (``nan`` where one run a
    side cannot give one)."""

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
        """False for one run a side without a known seed spread: nothing can be concluded."""
        return not math.isnan(self.p)

    @property
    def real(self) -> bool:
        """The difference is significant at the 95 % level by this comparison's test."""
        return self.decidable and self.p < ALPHA

    @property
    def critical(self) -> float:
        """How many standard errors a real difference needs (t or normal quantile)."""
        return float(sps.t.ppf(1 - ALPHA / 2, self.df)) if math.isfinite(self.df) else float(sps.norm.ppf(1 - ALPHA / 2))

    @property
    def threshold(self) -> float:
        """The smallest difference this comparison calls real (in the values' units)."""
        return self.critical * self.se

    def _names(self) -> tuple[str, float, str, float]:
        pairs = sorted([(self.a, self.mean_a), (self.b, self.mean_b)], key=lambda t: t[1],
                       reverse=not self.lower_is_better)
        return pairs[0][0], pairs[0][1], pairs[1][0], pairs[1][1]

    def p_text(self) -> str:
        """The p-value as printed: 4 decimals below 0.1 (0.0496 and 0.0504 stay apart)."""
        return "p < 0.0001" if self.p < 1e-4 else f"p = {self.p:.4f}" if self.p < 0.1 else f"p = {self.p:.2f}"

    def sentence(self, unit: str = "points", scale: float = 100.0, digits: int = 3) -> str:
        """The verdict in words: the winner's number first, the test and its threshold."""
        d = scale * abs(self.difference)
        fmt = f".{digits}f"
        better, hi, worse, lo = self._names()
        dec = 1 if scale >= 10 else digits
        unit = f" {unit}" if unit else ""
        if not self.decidable:
            return (f"{self.a} ({self.mean_a:{fmt}}) and {self.b} ({self.mean_b:{fmt}}) differ by {d:.{dec}f}{unit}, "
                    f"but {self.note}")
        how = f"{self.method}; {self.p_text()}"
        if not self.paired:
            how = (f"{self.method}: the 95% threshold is {scale * self.threshold:.{dec}f}{unit}, "
                   f"{self.critical:.1f} standard errors; {self.p_text()}")
        if not self.real:
            return (f"{self.a} ({self.mean_a:{fmt}}) and {self.b} ({self.mean_b:{fmt}}) differ by {d:.{dec}f}{unit}, "
                    f"within the noise ({how}): these runs cannot tell them apart (which does not show "
                    f"that they are equal).")
        verb = "is lower than" if self.lower_is_better else "beats"
        scope = " for these trained nets on these test images" if self.paired else ""
        return (f"{better} ({hi:{fmt}}) {verb} {worse} ({lo:{fmt}}) by {d:.{dec}f}{unit} ({how}): "
                f"a real difference{scope} at the 5% level.")


def _welch_df(parts: list[tuple[float, int]]) -> float:
    """Welch-Satterthwaite degrees of freedom from (variance of a mean, its runs) pairs; a
    part from a single run with a known spread counts with that spread's own runs."""
    num = sum(v for v, _ in parts) ** 2
    den = sum(v * v / (k - 1) for v, k in parts if k > 1 and v > 0)
    return num / den if den > 0 else math.inf


def compare(a: str, acc_a: Sequence[float] | float, b: str, acc_b: Sequence[float] | float,
            n_test: int | None = None, *, spread: SeedSpread | None = None, fixed_b: bool = False,
            lower_is_better: bool = False) -> Comparison:
    """Compare ``a`` and ``b`` (one value, or one per seed), accuracies measured on ``n_test``
    test examples (``None``: not accuracies, e.g. training losses: no binomial term).

    * two or more values a side: Welch's t test on the means (each mean's variance: the seeds'
      spread / their number + the test set's binomial variance);
    * a side with one value: its run-to-run spread is unknown; with ``spread`` (measured
      elsewhere and named) that spread stands in for it, else no verdict is possible and the
      sentence says so;
    * ``fixed_b``: ``b`` is a fixed number (chance, a constant baseline), not a run: a one-sample
      t test of ``a`` against it."""
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
            return Comparison(a, b, ma, mb, ma - mb, se, "one seed", math.nan, math.nan, lower_is_better, note)
    se = math.sqrt(sum(v for v, _ in parts))
    df = _welch_df(parts)
    if spread is not None:
        # one estimate of the spread, however many sides it stands in for (and perhaps taken from
        # the other side's own runs): never more degrees of freedom than it has
        df = min(df, spread.runs - 1)
    if se == 0:
        note = "both sides' runs are identical and there is no test-set noise to weigh them by: no verdict."
        return Comparison(a, b, ma, mb, ma - mb, 0.0, method, df, math.nan, lower_is_better, note)
    t = (ma - mb) / se
    p = float(2 * sps.t.sf(abs(t), df)) if math.isfinite(df) else float(2 * sps.norm.sf(abs(t)))
    return Comparison(a, b, ma, mb, ma - mb, se, method, df, p, lower_is_better)


def compare_paired(a: str, scores_a, b: str, scores_b) -> Comparison:
    """Compare two ways of testing on the **same** test images, image by image.

    ``scores_*``: per image, 1/0 for right/wrong (a bool tensor or list), or a score in [0, 1]
    (right in a fraction of several measurements). Only images where the two differ count:
    how many favour ``a`` against how many favour ``b``, under the null hypothesis a fair coin
    (for right/wrong this is McNemar's exact test; for scores, the sign test)."""
    sa, sb = np.asarray(_values(scores_a)), np.asarray(_values(scores_b))
    if sa.shape != sb.shape or sa.ndim != 1 or sa.size == 0:
        raise ValueError(f"paired scores need one value per test image, the same images on both sides "
                         f"(got {sa.shape} and {sb.shape})")
    d = sa - sb
    wins, losses = int((d > 0).sum()), int((d < 0).sum())
    binary = set(np.unique(sa)) <= {0.0, 1.0} and set(np.unique(sb)) <= {0.0, 1.0}
    p = float(sps.binomtest(wins, wins + losses, 0.5).pvalue) if wins + losses else 1.0
    se = float(d.std(ddof=1) / math.sqrt(d.size)) if d.size > 1 else 0.0
    if not binary and wins != losses and (wins > losses) != (d.mean() > 0):
        note = (f"the images split {wins} for {a} to {losses} for {b}, while the means point the other way: "
                f"no verdict.")
        return Comparison(a, b, float(sa.mean()), float(sb.mean()), float(d.mean()), se, "sign test", math.inf,
                          math.nan, note=note, paired=True)
    method = (f"McNemar's exact test on the {wins + losses} of {d.size} images where they disagree: "
              f"{wins} for {a}, {losses} for {b}" if binary else
              f"sign test on the {wins + losses} of {d.size} images where they differ: {wins} for {a}, {losses} for {b}")
    return Comparison(a, b, float(sa.mean()), float(sb.mean()), float(d.mean()), se, method, math.inf, p,
                      paired=True)


__all__ = ["ALPHA", "Comparison", "SeedSpread", "binomial_se", "compare", "compare_paired", "mean_std"]
