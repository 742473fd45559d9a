"""A fixed shuffle of an image's pixels, its inverse, and the exact rewiring of a
fully-connected net that makes it blind to the shuffle (notebook 02).

Convention: ``permuted[..., i] = original[..., perm[i]]``, i.e. pixel ``i`` of a permuted
image is pixel ``perm[i]`` of the original. The same ``perm`` is applied to every image.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn


def make_permutation(n_pixels: int = 28 * 28, seed: int = 0) -> Tensor:
    """A random permutation of ``range(n_pixels)`` (int64, CPU), the same for the same seed
    on every machine (drawn with a CPU generator)."""
    if n_pixels < 1:
        raise ValueError(f"n_pixels must be positive, got {n_pixels}")
    return torch.randperm(n_pixels, generator=torch.Generator().manual_seed(seed))


def block_permutation(side: int = 28, block: int = 7, seed: int = 0) -> Tensor:
    """A permutation of a ``side`` x ``side`` image's pixels that shuffles them only within each
    ``block`` x ``block`` tile (the same shuffle in every tile): ``block=1`` changes nothing,
    ``block=side`` is a shuffle of the whole image. ``block`` must divide ``side``."""
    if block < 1 or side % block:
        raise ValueError(f"block must be a divisor of {side} (1, ..., {side}), got {block}")
    g = torch.Generator().manual_seed(seed)
    inner = torch.randperm(block * block, generator=g)          # where each pixel of a tile goes
    dy, dx = inner // block, inner % block
    tiles = side // block
    rows = (torch.arange(tiles)[:, None, None, None] * block + dy.view(1, 1, block, block))
    cols = (torch.arange(tiles)[None, :, None, None] * block + dx.view(1, 1, block, block))
    # position (tile_r, tile_c, r, c) of the output reads input pixel (rows, cols)
    source = (rows * side + cols).permute(0, 2, 1, 3).reshape(side * side)
    return check_permutation(source)


def check_permutation(perm: Tensor) -> Tensor:
    """Return ``perm`` as an int64 tensor after checking it holds each of ``0..n-1`` once."""
    perm = torch.as_tensor(perm)
    if perm.dim() != 1 or perm.dtype.is_floating_point or perm.dtype == torch.bool:
        raise ValueError(f"a permutation is a 1-d integer tensor, got {perm.dtype} {tuple(perm.shape)}")
    perm = perm.long()
    n = perm.numel()
    if n == 0 or not torch.equal(perm.sort().values.cpu(), torch.arange(n)):
        raise ValueError(f"not a permutation of 0..{n - 1}: every index must appear exactly once")
    return perm


def inverse_permutation(perm: Tensor) -> Tensor:
    """The permutation that undoes ``perm``: ``permute_pixels(permute_pixels(x, p), inverse) == x``."""
    perm = check_permutation(perm)
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(perm.numel(), device=perm.device)
    return inverse


def permute_pixels(x: Tensor, perm: Tensor) -> Tensor:
    """Shuffle the pixels of every image in ``x`` by ``perm``, with one indexing op.

    ``x`` is a batch of images (..., H, W) with ``H * W == len(perm)`` (e.g. (N, C, 28, 28):
    each channel shuffled the same way), or of flat images (..., H * W). Works on any device and
    dtype; ``perm`` is moved to ``x``'s device (keep it there to avoid the copy).
    """
    n = perm.numel()
    perm = perm.to(x.device, non_blocking=True)
    if x.dim() >= 1 and x.shape[-1] == n:
        return x.index_select(-1, perm)
    if x.dim() >= 2 and x.shape[-2] * x.shape[-1] == n:
        return x.flatten(-2).index_select(-1, perm).unflatten(-1, x.shape[-2:])
    raise ValueError(f"a permutation of {n} pixels does not fit images of shape {tuple(x.shape)}: "
                     f"need (..., H, W) with H*W == {n}, or (..., {n})")


class PixelPermutation:
    """A fixed pixel permutation as a callable batch transform.

    ``PixelPermutation(784, seed=0)`` draws the permutation; calling it on a batch shuffles
    every image, so it can be passed as ``TensorLoader(..., transform=...)`` (or
    ``ImageData.loader(..., transform=...)``) and runs on the whole batch on the loader's device.
    """

    def __init__(self, n_pixels: int = 28 * 28, seed: int = 0, *, perm: Tensor | None = None) -> None:
        self.perm = check_permutation(perm) if perm is not None else make_permutation(n_pixels, seed)
        self.seed = None if perm is not None else seed
        self._on_device: dict[torch.device, Tensor] = {self.perm.device: self.perm}

    def __len__(self) -> int:
        return self.perm.numel()

    def __repr__(self) -> str:
        return f"PixelPermutation(n_pixels={len(self)}, seed={self.seed})"

    def _perm_on(self, device: torch.device) -> Tensor:
        if device not in self._on_device:
            self._on_device[device] = self.perm.to(device)
        return self._on_device[device]

    def __call__(self, x: Tensor) -> Tensor:
        return permute_pixels(x, self._perm_on(x.device))

    @property
    def inverse(self) -> "PixelPermutation":
        """The permutation that restores the original images."""
        return PixelPermutation(perm=inverse_permutation(self.perm))


def first_linear(model: nn.Module) -> nn.Linear:
    """The first ``nn.Linear`` registered in ``model`` (the input layer of a sequential FC net);
    raises ``TypeError`` when a convolution is registered before it."""
    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            raise TypeError(
                f"{type(model).__name__} starts with a convolution ({name}: {type(module).__name__}); "
                "there is no weight permutation that makes it see shuffled pixels as before: one "
                "small filter is shared by every position, and the shuffle scatters each "
                "neighbourhood differently")
        if isinstance(module, nn.Linear):
            return module
    raise TypeError(f"{type(model).__name__} has no nn.Linear layer to rewire")


@torch.no_grad()
def permute_fc_input(model: nn.Module, perm: Tensor) -> nn.Module:
    """A copy of the fully-connected ``model`` whose first linear layer reads permuted images.

    Its weight's columns are permuted by ``perm``: ``W'[:, i] = W[:, perm[i]]``, so
    ``W' @ x[perm] == W @ x`` for every image ``x``, and the converted net on permuted images
    computes the same function as ``model`` on the original images (the same products summed in
    another order, so equal up to float rounding). Raises ``TypeError`` for a net that starts
    with a convolution.
    """
    perm = check_permutation(perm)
    converted = copy.deepcopy(model)
    layer = first_linear(converted)
    if layer.in_features != perm.numel():
        raise ValueError(f"the first linear layer reads {layer.in_features} inputs, "
                         f"the permutation has {perm.numel()}")
    layer.weight.copy_(layer.weight[:, perm.to(layer.weight.device)])
    return converted


def neighbour_distance(perm: Tensor, width: int = 28) -> float:
    """Mean distance (in pixels) in the permuted image between pixels that were horizontal
    neighbours in the original: 1.0 for the identity, about half the image width for a
    random shuffle (about 14.6 for 28x28)."""
    perm = check_permutation(perm)
    n = perm.numel()
    if n % width:
        raise ValueError(f"{n} pixels do not make rows of {width}")
    where = inverse_permutation(perm)  # where[j]: position of original pixel j after the shuffle
    grid = torch.arange(n).view(-1, width)
    left, right = grid[:, :-1].reshape(-1), grid[:, 1:].reshape(-1)
    pos = torch.stack([where // width, where % width], 1).float()
    return float((pos[left] - pos[right]).norm(dim=1).mean())
