"""Notebook 02's runs: notebook 01's recipe over seeds and conditions, and an FC net's rewired twin."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from course_utils.data.loader import ImageData
from course_utils.lessons.permutation import PixelPermutation, permute_fc_input
from course_utils.optim import make_sgd
from course_utils.device import set_seed
from course_utils.stats import mean_std
from course_utils.training import History, fit, predict

ModelFactory = Callable[[], nn.Module]
Transform = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class Recipe:
    """Notebook 01's: SGD with momentum, batches of 64, one epoch."""

    epochs: int = 1
    batch_size: int = 64
    test_batch_size: int = 1000
    lr: float = 0.01
    momentum: float = 0.5


def train_model(model: nn.Module, train: ImageData, test: ImageData, seed: int, *,
                transform: Transform | None = None, recipe: Recipe = Recipe(),
                device: torch.device | str | None = None, desc: str = "train") -> tuple[nn.Module, History]:
    """Train ``model`` with ``recipe``; ``seed`` fixes the batch order."""
    model = model.to(device if device is not None else train.images.device)
    history = fit(model, train.loader(recipe.batch_size, shuffle=True, seed=seed, transform=transform),
                  make_sgd(model.parameters(), lr=recipe.lr, momentum=recipe.momentum), recipe.epochs,
                  test_loader=test.loader(recipe.test_batch_size, transform=transform), progress=False,
                  desc=desc)
    return model, history


@dataclass
class SeedRuns:
    """``acc[model][condition][i]``: the test accuracy of the run with ``seeds[i]`` (``models`` alike)."""

    seeds: list[int]
    acc: dict[str, dict[str, list[float]]]
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    models: dict[str, dict[str, list[nn.Module]]] = field(default_factory=dict, repr=False)

    def mean(self, model: str, condition: str) -> float:
        return mean_std(self.acc[model][condition])[0]

    def std(self, model: str, condition: str) -> float:
        return mean_std(self.acc[model][condition])[1]

    def change(self, model: str, condition: str) -> float:
        return self.mean(model, condition) - self.mean(model, self.conditions()[0])

    def conditions(self) -> list[str]:
        return list(dict.fromkeys(c for per_model in self.acc.values() for c in per_model))

    def table_rows(self) -> list[dict]:
        conds = self.conditions()
        return [{"model": m, **{c: f"{self.mean(m, c):.3f} ± {self.std(m, c):.3f}" for c in conds},
                 **({"change": f"{self.change(m, conds[1]):+.3f}"} if len(conds) == 2 else {})}
                for m in self.acc]

    def seed_rows(self) -> list[dict]:
        return [{"seed": s, **{f"{m} {c}": values[i] for m, per_model in self.acc.items()
                               for c, values in per_model.items()}} for i, s in enumerate(self.seeds)]

    def bar_values(self) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
        return ({m: {c: self.mean(m, c) for c in per_model} for m, per_model in self.acc.items()},
                {m: {c: self.std(m, c) for c in per_model} for m, per_model in self.acc.items()})

    def metrics(self) -> dict[str, float]:
        """``<model>_<condition>_mean``/``_std``, and ``_change`` against the first condition."""
        out: dict[str, float] = {}
        for m, per_model in self.acc.items():
            for c in per_model:
                key = f"{m.lower()}_{c.lower()}"
                out[f"{key}_mean"], out[f"{key}_std"] = round(self.mean(m, c), 4), round(self.std(m, c), 4)
                if c != self.conditions()[0]:
                    out[f"{key}_change"] = round(self.change(m, c), 4)
        return out


def run_seeds(models: Mapping[str, ModelFactory], train: ImageData, test: ImageData, seeds: Sequence[int],
              conditions: Mapping[str, Transform | None], *, recipe: Recipe = Recipe(),
              device: torch.device | str | None = None, progress: bool = True) -> SeedRuns:
    """Train every model under every condition (a batch transform, or None) once per seed; one seed's
    conditions start from the same weights and see the same batch order."""
    if not seeds:
        raise ValueError("run_seeds needs at least one seed")
    runs = [(m, c, s) for m in models for c in conditions for s in seeds]

    def empty() -> dict[str, dict[str, list]]:
        return {m: {c: [] for c in conditions} for m in models}
    out = SeedRuns(list(seeds), empty(), models=empty())
    bar = tqdm(runs, desc="runs", leave=False, disable=not progress)
    for m, c, s in bar:
        set_seed(s)
        model, history = train_model(models[m](), train, test, s, transform=conditions[c], recipe=recipe,
                                     device=device)
        out.acc[m][c].append(history["test_acc"][-1])
        out.models[m][c].append(model)
        out.train_seconds += sum(history["seconds"])
        out.eval_seconds += sum(history["eval_seconds"])
        bar.set_postfix_str(f"{m} {c} seed {s}: {history['test_acc'][-1]:.3f}")
    return out


def compare_predictions(model_a: nn.Module, loader_a, model_b: nn.Module, loader_b) -> dict[str, float]:
    """Accuracies, different predictions and largest logit difference of two models on the same examples."""
    logits_a, pred_a, y_a = predict(model_a, loader_a)
    logits_b, pred_b, y_b = predict(model_b, loader_b)
    if not torch.equal(y_a, y_b):
        raise ValueError("the two loaders do not serve the same examples in the same order")
    n = int(y_a.numel())
    return {"acc_a": int((pred_a == y_a).sum()) / n, "acc_b": int((pred_b == y_b).sum()) / n,
            "different_predictions": int((pred_a != pred_b).sum()),
            "max_logit_difference": (logits_a - logits_b).abs().max().item(), "n": n}


@dataclass
class TwinRuns:
    """An FC net trained on the original images and its rewired twin on the permuted ones."""

    history_original: History
    history_permuted: History
    max_step_loss_difference: float  #: largest |loss difference| at the same training step
    max_weight_difference: float  #: largest |difference| between the rewired original and the twin
    predictions: dict[str, float]  #: :func:`compare_predictions` of the two on the test set

    @property
    def train_seconds(self) -> float:
        return sum(self.history_original["seconds"]) + sum(self.history_permuted["seconds"])

    def metrics(self) -> dict[str, float]:
        """Flat numbers for the record, prefixed ``twin_``."""
        return {"twin_steps": len(self.history_original["step_loss"]),
                "twin_max_step_loss_difference": self.max_step_loss_difference,
                "twin_max_weight_difference": self.max_weight_difference,
                "twin_different_predictions": self.predictions["different_predictions"],
                "twin_test_acc_original": self.predictions["acc_a"],
                "twin_test_acc_permuted": self.predictions["acc_b"]}


def train_twins(model_factory: ModelFactory, train: ImageData, test: ImageData, permutation: PixelPermutation,
                seed: int, *, recipe: Recipe = Recipe(),
                device: torch.device | str | None = None) -> TwinRuns:
    """Train an FC net on the original images and its twin from the rewired start on the permuted ones,
    with the same batch order: if the net is blind to where pixels are, both runs are one run."""
    set_seed(seed)
    start = model_factory()
    twin_start = permute_fc_input(start, permutation.perm)
    original, h_orig = train_model(start, train, test, seed, recipe=recipe, device=device, desc="original")
    permuted, h_perm = train_model(twin_start, train, test, seed, transform=permutation, recipe=recipe,
                                   device=device, desc="permuted")
    rewired = permute_fc_input(original, permutation.perm)
    pairs = zip(h_orig["step_loss"], h_perm["step_loss"], strict=True)
    weights = zip(rewired.parameters(), permuted.parameters(), strict=True)
    return TwinRuns(h_orig, h_perm, max(abs(a - b) for a, b in pairs),
                    max((a - b).abs().max().item() for a, b in weights),
                    compare_predictions(original, test.loader(recipe.test_batch_size), permuted,
                                        test.loader(recipe.test_batch_size, transform=permutation)))
