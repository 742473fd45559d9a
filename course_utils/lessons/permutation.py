"""Notebook 02: a fixed pixel shuffle, ``permuted[..., i] = original[..., perm[i]]``, and the FC rewiring."""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn


def block_permutation(side: int = 28, block: int = 7, seed: int = 0) -> Tensor:
    """A permutation of a ``side`` x ``side`` image that shuffles pixels within each ``block`` x ``block``
    tile, the same way in every tile (``block=side``: the whole image)."""
    if block < 1 or side % block:
        raise ValueError(f"block must be a divisor of {side} (1, ..., {side}), got {block}")
    inner = torch.randperm(block * block, generator=torch.Generator().manual_seed(seed))
    t = side // block   # pixel index laid out as (tile row, row in tile, tile column, column in tile)
    tiles = torch.arange(side * side).view(t, block, t, block).permute(0, 2, 1, 3).reshape(t * t, -1)
    return tiles[:, inner].view(t, t, block, block).permute(0, 2, 1, 3).reshape(-1)


def check_permutation(perm: Tensor) -> Tensor:
    """``perm`` as an int64 tensor, after checking that it holds each of ``0..n-1`` once."""
    perm = torch.as_tensor(perm)
    if perm.dim() != 1 or perm.dtype.is_floating_point or perm.dtype == torch.bool:
        raise ValueError(f"a permutation is a 1-d integer tensor, got {perm.dtype} {tuple(perm.shape)}")
    if perm.numel() == 0 or not torch.equal(perm.long().sort().values.cpu(), torch.arange(perm.numel())):
        raise ValueError(f"not a permutation of 0..{perm.numel() - 1}: every index must appear exactly once")
    return perm.long()


def permute_pixels(x: Tensor, perm: Tensor) -> Tensor:
    """Shuffle the pixels of every image in ``x``, (..., H, W), by ``perm``."""
    n, perm = perm.numel(), perm.to(x.device, non_blocking=True)
    if x.dim() >= 2 and x.shape[-2] * x.shape[-1] == n:
        return x.flatten(-2).index_select(-1, perm).view(x.shape)
    raise ValueError(f"a permutation of {n} pixels does not fit images of shape {tuple(x.shape)}: "
                     f"need (..., H, W) with H*W == {n}")


class PixelPermutation:
    """A fixed pixel permutation (the same on every machine for one seed) as a loader's batch transform."""

    def __init__(self, n_pixels: int = 28 * 28, seed: int | None = 0, *, perm: Tensor | None = None) -> None:
        if perm is None and n_pixels < 1:
            raise ValueError(f"n_pixels must be positive, got {n_pixels}")
        self.perm = (check_permutation(perm) if perm is not None else
                     torch.randperm(n_pixels, generator=torch.Generator().manual_seed(seed)))
        self.seed = None if perm is not None else seed
        self._on = {self.perm.device: self.perm}   # a copy per device, made once

    def __repr__(self) -> str:
        return f"PixelPermutation(n_pixels={self.perm.numel()}, seed={self.seed})"

    def __call__(self, x: Tensor) -> Tensor:
        if x.device not in self._on:
            self._on[x.device] = self.perm.to(x.device)
        return permute_pixels(x, self._on[x.device])

    @property
    def inverse(self) -> PixelPermutation:
        return PixelPermutation(perm=self.perm.argsort())


@torch.no_grad()
def permute_fc_input(model: nn.Module, perm: Tensor) -> nn.Module:
    """A copy of the FC ``model`` whose first linear layer reads permuted images, ``W'[:, i] = W[:, perm[i]]``
    so ``W' @ x[perm] == W @ x``; ``TypeError`` for a net with a convolution."""
    perm = check_permutation(perm)
    converted = copy.deepcopy(model)
    for name, layer in converted.named_modules():
        if isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            raise TypeError(f"{type(model).__name__} starts with a convolution ({name}: "
                            f"{type(layer).__name__}); there is no weight permutation that makes it see "
                            "shuffled pixels as before: one small filter is shared by every position, and "
                            "the shuffle scatters each neighbourhood differently")
        if isinstance(layer, nn.Linear):
            if layer.in_features != perm.numel():
                raise ValueError(f"the first linear layer reads {layer.in_features} inputs, "
                                 f"the permutation has {perm.numel()}")
            layer.weight.copy_(layer.weight[:, perm.to(layer.weight.device)])
            return converted
    raise TypeError(f"{type(model).__name__} has no nn.Linear layer to rewire")
