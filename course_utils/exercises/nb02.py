"""Notebook 02's code exercise: the pixel shuffle, written by the student and checked."""

from __future__ import annotations

import torch

from course_utils.exercises.code import Problem, attempt, pending, unfinished, verdict

HINT = ("flatten the last two dimensions (images.flatten(-2)), pick positions with [..., perm], "
        "and give the result the images' shape back (.view(images.shape))")


def _shape(t) -> str:
    return str(tuple(t.shape)) if isinstance(t, torch.Tensor) else type(t).__name__


def _shuffled(fn, images: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    before = images.clone()
    out = attempt(f"shuffle_pixels(images of shape {tuple(images.shape)}, perm)", fn, images, perm)
    if out is None:
        raise Problem("shuffle_pixels returned None: return the shuffled batch")
    if not isinstance(out, torch.Tensor):
        raise Problem(f"shuffle_pixels returned a {type(out).__name__}, not a tensor")
    if not torch.equal(images, before):
        raise Problem("shuffle_pixels changed the images it was given: return a new tensor, leave the input as it is")
    if out.shape != images.shape:
        raise Problem(f"images of shape {tuple(images.shape)} came back as {_shape(out)}: the shape must "
                      f"stay the same (unflatten, or .view(images.shape), after shuffling)")
    if out.dtype != images.dtype:
        raise Problem(f"{images.dtype} images came back as {out.dtype}: keep the dtype")
    return out


def check_shuffle(fn) -> str:
    """``fn(images, perm)`` shuffles the pixels of every image in an (N, C, H, W) batch by ``perm``:
    pixel ``i`` of each shuffled image is pixel ``perm[i]`` of the original."""
    if unfinished(fn):
        return pending("02.3")
    g = torch.Generator().manual_seed(2)
    images = torch.arange(4 * 1 * 28 * 28, dtype=torch.float32).view(4, 1, 28, 28)   # every pixel unique
    perm = torch.randperm(28 * 28, generator=g)
    if callable(fn):
        try:
            if fn(images.clone(), perm) is Ellipsis:   # the skeleton's `return ...`
                return pending("02.3")
        except Exception:
            pass   # run() says what went wrong

    def run() -> str:
        if not callable(fn):
            raise Problem(f"the answer is the function shuffle_pixels, got a {type(fn).__name__}")
        out = _shuffled(fn, images, perm)
        flat, got = images.flatten(-2), out.flatten(-2)
        if not torch.equal(got.sort(-1).values, flat.sort(-1).values):
            raise Problem("the shuffled images are not made of their own pixels: each image's pixel values "
                          "must all be there, once each, only in other places (no values changed, lost, "
                          "or taken from another image)")
        if torch.equal(got, flat):
            raise Problem("the images come back unchanged: apply perm")
        want = flat[..., perm]
        if not torch.equal(got, want):
            if torch.equal(got, flat[..., torch.argsort(perm)]):
                raise Problem("you applied the inverse shuffle: pixel i must be pixel perm[i] of the original "
                              "(read with images[..., perm]), not be sent to position perm[i]")
            if torch.equal(got[0], want[0]):
                raise Problem("the first image is right but not the others: use the same perm for every image")
            raise Problem("pixel i of a shuffled image must be pixel perm[i] of the original; yours are elsewhere")
        colour = torch.rand(3, 3, 8, 8, generator=g)
        small = torch.randperm(64, generator=g)
        out = _shuffled(fn, colour, small)
        if not torch.equal(out.flatten(-2), colour.flatten(-2)[..., small]):
            raise Problem("right on 1-channel 28x28 digits, but not on a batch of 3-channel 8x8 images: "
                          "shuffle every channel of every image by the same perm, whatever the size")
        back = _shuffled(fn, out, torch.argsort(small))
        if not torch.equal(back, colour):
            raise Problem("shuffling with the inverse permutation (torch.argsort(perm)) does not restore the images")
        return ("Every image keeps its shape and its own pixels, all shuffled by the same perm, and "
                "shuffle_pixels(shuffled, torch.argsort(perm)) gives the originals back: nothing is lost.")
    return verdict("02.3", run, HINT)


CHECKS = {"02.3": check_shuffle}
