"""Repeated training runs for the lessons' experiments: the same recipe over several seeds and
input conditions (e.g. original vs pixel-permuted images), summarised as mean and std.

The recipe is notebook 01's: SGD (fused where available), learning rate 0.01, momentum 0.5,
batches of 64, one epoch. A model with convolutions is trained in the device's preferred
memory layout (:func:`course_utils.device.preferred_memory_format`).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

from course_utils.data.loader import ImageData, TensorLoader
from course_utils.optim import make_sgd
from course_utils.lessons.permutation import PixelPermutation, permute_fc_input
from course_utils.device import preferred_memory_format, set_seed
from course_utils.training import History, fit, predict

ModelFactory = Callable[[], nn.Module]
Transform = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class Recipe:
    """How each run trains: optimiser settings, batch sizes and epochs."""

    epochs: int = 1
    batch_size: int = 64
    test_batch_size: int = 1000
    lr: float = 0.01
    momentum: float = 0.5


def has_conv(model: nn.Module) -> bool:
    """True when ``model`` contains a convolution (its memory layout matters)."""
    return any(isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)) for m in model.modules())


def make_loaders(
    train: ImageData, test: ImageData, recipe: Recipe, seed: int, *,
    transform: Transform | None = None,
) -> tuple[TensorLoader, TensorLoader]:
    """The shuffled training loader (batch order fixed by ``seed``) and the test loader, both
    applying ``transform`` to whole batches."""
    return (train.loader(recipe.batch_size, shuffle=True, seed=seed, transform=transform),
            test.loader(recipe.test_batch_size, transform=transform))


def train_model(
    model: nn.Module | ModelFactory,
    train: ImageData,
    test: ImageData,
    seed: int,
    *,
    transform: Transform | None = None,
    recipe: Recipe = Recipe(),
    device: torch.device | str | None = None,
    progress: bool = False,
    desc: str = "train",
) -> tuple[nn.Module, History]:
    """Train one model with ``recipe`` and return it with its :func:`fit` history.

    ``model`` is a factory (called after seeding with ``seed``, so the seed fixes the initial
    weights) or a model to train as it is. ``seed`` also fixes the batch order, so two runs
    with the same seed see the same batches in the same order.
    """
    device = torch.device(device) if device is not None else train.images.device
    if not isinstance(model, nn.Module):
        set_seed(seed)
        model = model()
    layout = preferred_memory_format(device) if has_conv(model) else torch.contiguous_format
    model = model.to(device, memory_format=layout)
    train_loader, test_loader = make_loaders(train, test, recipe, seed, transform=transform)
    optimizer = make_sgd(model.parameters(), lr=recipe.lr, momentum=recipe.momentum)
    history = fit(model, train_loader, optimizer, recipe.epochs, test_loader=test_loader,
                  progress=progress, desc=desc)
    return model, history


@dataclass
class SeedRuns:
    """Test accuracies of every (model, condition, seed) run: ``acc[model][condition][i]`` is
    the run with ``seeds[i]`` (``histories`` and the trained ``models`` are laid out the same).
    ``train_seconds`` and ``eval_seconds`` add up the training and testing time of all runs."""

    seeds: list[int]
    acc: dict[str, dict[str, list[float]]]
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    histories: dict[str, dict[str, list[History]]] = field(default_factory=dict, repr=False)
    models: dict[str, dict[str, list[nn.Module]]] = field(default_factory=dict, repr=False)

    def mean(self, model: str, condition: str) -> float:
        return statistics.fmean(self.acc[model][condition])

    def std(self, model: str, condition: str) -> float:
        """Sample standard deviation over the seeds (nan for one seed)."""
        values = self.acc[model][condition]
        return statistics.stdev(values) if len(values) > 1 else math.nan

    def change(self, model: str, condition: str, baseline: str | None = None) -> float:
        """Mean accuracy under ``condition`` minus the mean under ``baseline`` (default: the
        first condition)."""
        baseline = baseline if baseline is not None else self.conditions()[0]
        return self.mean(model, condition) - self.mean(model, baseline)

    def conditions(self) -> list[str]:
        return list(dict.fromkeys(c for per_model in self.acc.values() for c in per_model))

    def table_rows(self) -> list[dict]:
        """One row per model: ``mean ± std`` per condition, and the change of the means."""
        conds = self.conditions()
        rows = []
        for model in self.acc:
            row: dict = {"model": model}
            for c in conds:
                row[c] = f"{self.mean(model, c):.3f} ± {self.std(model, c):.3f}"
            if len(conds) == 2:
                row["change"] = f"{self.change(model, conds[1]):+.3f}"
            rows.append(row)
        return rows

    def seed_rows(self) -> list[dict]:
        """One row per seed: the test accuracy of every (model, condition) run."""
        return [{"seed": s, **{f"{m} {c}": values[i] for m, per_model in self.acc.items()
                               for c, values in per_model.items()}}
                for i, s in enumerate(self.seeds)]

    def bar_values(self) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
        """``(means, stds)`` laid out for :func:`course_utils.plots.bar_chart`."""
        means = {m: {c: self.mean(m, c) for c in per_model} for m, per_model in self.acc.items()}
        stds = {m: {c: self.std(m, c) for c in per_model} for m, per_model in self.acc.items()}
        return means, stds

    def metrics(self) -> dict[str, float]:
        """Flat numbers for :func:`course_utils.results.record`:
        ``<model>_<condition>_mean``/``_std`` and ``<model>_<condition>_change`` (vs the first
        condition)."""
        out: dict[str, float] = {}
        conds = self.conditions()
        for model, per_model in self.acc.items():
            for c in per_model:
                key = f"{model.lower()}_{c.lower()}"
                out[f"{key}_mean"] = round(self.mean(model, c), 4)
                out[f"{key}_std"] = round(self.std(model, c), 4)
                if c != conds[0]:
                    out[f"{key}_change"] = round(self.change(model, c), 4)
        return out


def run_seeds(
    models: Mapping[str, ModelFactory],
    train: ImageData,
    test: ImageData,
    seeds: Sequence[int],
    conditions: Mapping[str, Transform | None] | None = None,
    *,
    recipe: Recipe = Recipe(),
    device: torch.device | str | None = None,
    progress: bool = True,
) -> SeedRuns:
    """Train every model under every condition (a batch transform, or ``None`` for the images as
    they are) once per seed and collect the test accuracies.

    For one seed, all conditions start from the same initial weights and see the same batch
    order, so the conditions differ only in what the images look like.
    """
    if not seeds:
        raise ValueError("run_seeds needs at least one seed")
    conditions = dict(conditions) if conditions is not None else {"original": None}
    def empty() -> dict[str, dict[str, list]]:
        return {m: {c: [] for c in conditions} for m in models}

    runs_out = SeedRuns(list(seeds), empty(), histories=empty(), models=empty())
    runs = [(m, c, s) for m in models for c in conditions for s in seeds]
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(runs), desc="runs", leave=False)
    for m, c, s in runs:
        model, history = train_model(models[m], train, test, s, transform=conditions[c],
                                     recipe=recipe, device=device)
        runs_out.acc[m][c].append(history["test_acc"][-1])
        runs_out.histories[m][c].append(history)
        runs_out.models[m][c].append(model)
        runs_out.train_seconds += sum(history["seconds"])
        runs_out.eval_seconds += sum(history["eval_seconds"])
        if bar is not None:
            bar.set_postfix_str(f"{m} {c} seed {s}: {history['test_acc'][-1]:.3f}")
            bar.update()
    if bar is not None:
        bar.close()
    return runs_out


def compare_predictions(model_a: nn.Module, loader_a, model_b: nn.Module, loader_b) -> dict[str, float]:
    """How far two models on two loaders (same examples, same order) agree: their accuracies
    (``acc_a``, ``acc_b``), the number of examples they classify differently
    (``different_predictions``, of ``n``), and the largest logit difference."""
    logits_a, pred_a, y_a = predict(model_a, loader_a)
    logits_b, pred_b, y_b = predict(model_b, loader_b)
    if not torch.equal(y_a, y_b):
        raise ValueError("the two loaders do not serve the same examples in the same order")
    n = int(y_a.numel())
    return {"acc_a": int((pred_a == y_a).sum()) / n,
            "acc_b": int((pred_b == y_b).sum()) / n,
            "different_predictions": int((pred_a != pred_b).sum()),
            "max_logit_difference": (logits_a - logits_b).abs().max().item(),
            "n": n}


def max_parameter_difference(model_a: nn.Module, model_b: nn.Module) -> float:
    """The largest absolute difference between corresponding parameters of two models."""
    pairs = list(zip(model_a.parameters(), model_b.parameters(), strict=True))
    return max((a.detach() - b.detach()).abs().max().item() for a, b in pairs)


@dataclass
class TwinRuns:
    """An FC net trained on the original images and its converted twin trained on the permuted
    images (see :func:`train_twins`)."""

    original: nn.Module
    permuted: nn.Module
    history_original: History
    history_permuted: History
    max_step_loss_difference: float  #: largest |loss difference| at the same training step
    max_weight_difference: float  #: largest |difference| between the converted original and the twin
    predictions: dict[str, float]  #: :func:`compare_predictions` of the two on the test set

    @property
    def train_seconds(self) -> float:
        """Training time of both runs."""
        return sum(self.history_original["seconds"]) + sum(self.history_permuted["seconds"])

    def metrics(self) -> dict[str, float]:
        """Flat numbers for :func:`course_utils.results.record`, prefixed ``twin_``."""
        return {"twin_steps": len(self.history_original["step_loss"]),
                "twin_max_step_loss_difference": self.max_step_loss_difference,
                "twin_max_weight_difference": self.max_weight_difference,
                "twin_different_predictions": self.predictions["different_predictions"],
                "twin_test_acc_original": self.predictions["acc_a"],
                "twin_test_acc_permuted": self.predictions["acc_b"]}


def train_twins(
    model_factory: ModelFactory,
    train: ImageData,
    test: ImageData,
    permutation: PixelPermutation,
    seed: int,
    *,
    recipe: Recipe = Recipe(),
    device: torch.device | str | None = None,
) -> TwinRuns:
    """Train an FC net on the original images, and its twin on the permuted images starting from
    the permuted initial weights (:func:`permute_fc_input`) with the same batch order.

    If the FC net is blind to where pixels are, the two runs are the same run: the same loss at
    every step and, at the end, the twin equals the converted original (up to float rounding).
    """
    set_seed(seed)
    start = model_factory()
    twin_start = permute_fc_input(start, permutation.perm)
    original, h_orig = train_model(start, train, test, seed, recipe=recipe, device=device,
                                   desc="original")
    permuted, h_perm = train_model(twin_start, train, test, seed, transform=permutation,
                                   recipe=recipe, device=device, desc="permuted")
    steps_a, steps_b = torch.tensor(h_orig["step_loss"]), torch.tensor(h_perm["step_loss"])
    loaders_a = make_loaders(train, test, recipe, seed)
    loaders_b = make_loaders(train, test, recipe, seed, transform=permutation)
    return TwinRuns(
        original, permuted, h_orig, h_perm,
        max_step_loss_difference=(steps_a - steps_b).abs().max().item(),
        max_weight_difference=max_parameter_difference(
            permute_fc_input(original, permutation.perm), permuted),
        predictions=compare_predictions(original, loaders_a[1], permuted, loaders_b[1]),
    )


__all__ = ["Recipe", "SeedRuns", "TwinRuns", "compare_predictions", "has_conv",
           "make_loaders", "max_parameter_difference", "run_seeds", "train_model", "train_twins"]
