"""Every verdict flag in a committed record must be what the course's own test says about the
numbers in that same record: no committed run claims a real difference that its test would
not (README, "How the verdicts decide"). A flag that could not be re-derived is withdrawn
(``null``), never left standing."""

import json
import math
from pathlib import Path

import pytest

from course_utils.stats import binomial_se, compare

ROOT = Path(__file__).resolve().parents[1]
RECORDS = [p for folder in (ROOT / "results", ROOT / "results" / "h200") for p in sorted(folder.glob("*.json"))
           if not p.name.endswith(".runs.json")]   # records, not saved runs
MNIST_TEST_IMAGES = 10_000   # MNIST, Fashion-MNIST and KMNIST alike


def _metrics(stem: str) -> list[tuple[Path, dict]]:
    out = [(p, json.loads(p.read_text())) for p in RECORDS if p.name == f"{stem}.json"]
    assert out, f"no committed record of {stem}"
    return [(p, r["metrics"]) for p, r in out if r["mode"] == "full"]


def test_notebook_01_verdict_follows_its_seeds():
    for path, m in _metrics("01_mnist_fc_vs_cnn"):
        if m["cnn_beats_fc"] is None:             # withdrawn (results/h200/README.md says why)
            continue
        assert "cnn_runs" in m and len(m["cnn_runs"]) >= 2, f"{path}: a verdict from fewer than two seeds"
        c = compare("the CNN", m["cnn_runs"], "the FC net", m["fc_runs"], n_test=MNIST_TEST_IMAGES)
        assert m["cnn_beats_fc"] == (c.real and c.difference > 0), path


def test_notebook_02_verdicts_follow_the_recorded_means_and_spreads():
    for path, m in _metrics("02_pixel_permutation"):
        k = m["seeds"]
        assert k >= 2
        for net in ("fc", "cnn"):
            a, b = m[f"{net}_original_mean"], m[f"{net}_permuted_mean"]
            va = m[f"{net}_original_std"] ** 2 / k + binomial_se(a, MNIST_TEST_IMAGES) ** 2
            vb = m[f"{net}_permuted_std"] ** 2 / k + binomial_se(b, MNIST_TEST_IMAGES) ** 2
            df = (va + vb) ** 2 / (va ** 2 / (k - 1) + vb ** 2 / (k - 1))
            from scipy import stats as sps
            p = 2 * sps.t.sf(abs(a - b) / math.sqrt(va + vb), df)
            assert m[f"{net}_shuffle_matters"] == (p < 0.05), (path, net, p)


def test_notebook_06_verdicts_follow_its_seeds():
    for path, m in _metrics("06_residual_connections"):
        if m["degradation"] is None and m["shortcut_helped"] is None:   # withdrawn
            continue
        assert "plain32_train_loss_runs" in m, f"{path}: verdicts without the runs they came from"
        deg = compare("plain-32", m["plain32_train_loss_runs"], "plain-8", m["plain8_train_loss_runs"],
                      lower_is_better=True)
        helped = compare("residual-32", m["residual32_train_loss_runs"], "plain-32", m["plain32_train_loss_runs"],
                         lower_is_better=True)
        assert m["degradation"] == (deg.real and deg.difference > 0), path
        assert m["shortcut_helped"] == (helped.real and helped.difference < 0), path


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: str(p.relative_to(ROOT)))
def test_flags_are_booleans_or_withdrawn(path):
    metrics = json.loads(path.read_text())["metrics"]
    for key in ("cnn_beats_fc", "degradation", "shortcut_helped", "cnn_shuffle_matters", "fc_shuffle_matters"):
        if key in metrics:
            assert metrics[key] in (True, False, None), (path, key)
