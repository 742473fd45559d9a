"""The code exercises' checkers: each runs the student's code and says what is wrong in plain words."""

from __future__ import annotations

import traceback
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

CHECKS: dict[str, Callable[[object], str]] = {}   #: every code exercise's checker, by key


class Problem(Exception):
    """What is wrong with a student's answer, in plain words."""


class Pending(Exception):
    """A ``...`` still stands where the student's code goes."""


def need(condition: object, problem: str) -> None:
    """Raise ``problem`` (what is wrong) unless ``condition`` holds."""
    if not condition:
        raise Problem(problem)


def attempt(what: str, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``: an error is a Problem naming ``what``; a ``...`` left in the code is Pending."""
    try:
        result = fn(*args)
    except Exception as error:  # the student's code: any error is the answer's problem
        if "ellipsis" in str(error):
            raise Pending from None
        last = traceback.format_exception_only(type(error), error)[-1].strip()
        raise Problem(f"{what} raised {last}") from None
    if result is Ellipsis:
        raise Pending
    return result


def tensor(what: str, fn: Callable[..., Any], *args: Any) -> Tensor:
    """:func:`attempt`, whose result must be a tensor."""
    out = attempt(what, fn, *args)
    need(isinstance(out, Tensor), f"{what} returned {'None' if out is None else 'a ' + type(out).__name__}, "
                                  f"not a tensor")
    return out


def exercise(key: str, hint: str) -> Callable[[Callable[[Any], str]], Callable[[object], str]]:
    """Registers ``run(answer)``, which says what a right answer did or raises, as the checker of ``key``."""
    def register(run: Callable[[Any], str]) -> Callable[[object], str]:
        def check(answer: object) -> str:
            try:
                if answer is Ellipsis or answer is None:
                    raise Pending
                return f"Exercise {key}: right. {run(answer)}"
            except Pending:
                return f"Exercise {key}: not done yet; write your code in place of the ... and run it again."
            except Problem as problem:
                return f"Exercise {key}: not yet: {problem}. Hint: {hint}"
        CHECKS[key] = check
        return check
    return register


def _toy() -> tuple[nn.Module, torch.optim.Optimizer, Tensor, Tensor]:
    """A small net, its SGD, and 8x8 images labelled by whether their left half is the brighter."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 2))
    images = torch.randn(64, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    labels = (images[:, 0, :, :4].mean((1, 2)) > images[:, 0, :, 4:].mean((1, 2))).long()
    return model, torch.optim.SGD(model.parameters(), lr=0.1), images, labels


def _weights(model: nn.Module) -> Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def _same(a: Tensor, b: Tensor) -> bool:
    return torch.allclose(a, b, rtol=1e-5, atol=1e-6)


def _reference(zero_grad: bool) -> Tensor:
    """The toy net's weights after 5 right steps, or 5 that forget zero_grad (a common slip)."""
    model, optimizer, images, labels = _toy()
    for _ in range(5):
        if zero_grad:
            optimizer.zero_grad()
        F.cross_entropy(model(images), labels).backward()
        optimizer.step()
    return _weights(model)


def _step(train_step: Callable[..., Any], *args: Any) -> float:
    result = attempt("train_step(model, images, labels, optimizer)", train_step, *args)
    need(isinstance(result, (int, float)) or isinstance(result, Tensor) and result.numel() == 1,
         f"train_step returned {'None' if result is None else 'a ' + type(result).__name__}: end it with "
         f"`return loss.item()` (the batch's loss, one number)")
    return float(result)


@exercise("01.4", "zero_grad, forward, F.cross_entropy, backward, step; then return loss.item()")
def check_train_step(train_step: object) -> str:
    """``train_step(model, images, labels, optimizer) -> float``, one training step."""
    need(callable(train_step), f"the answer is {train_step!r}, not a function: pass train_step itself")
    model, optimizer, images, labels = _toy()
    before = _weights(model)
    expected = F.cross_entropy(model(images), labels).item()
    try:
        loss = _step(train_step, model, images, labels, optimizer)
    except Pending:
        need(_same(before, _weights(model)), "train_step returns ... : end it with `return loss.item()`")
        raise
    if _same(before, _weights(model)):
        need(any(p.grad is not None for p in model.parameters()), "the weights did not change and have no "
             "gradients: call loss.backward() and then optimizer.step()")
        raise Problem("the weights did not change although gradients were computed: call optimizer.step() "
                      "after loss.backward()")
    need(not abs(loss - expected) > 1e-4 * max(1.0, abs(expected)),
         f"it returned the loss {loss:.4f}, but the cross-entropy of the model's outputs on this batch, "
         f"before the step, is {expected:.4f}: return F.cross_entropy(model(images), labels).item()")
    for _ in range(4):   # 5 steps with the first
        _step(train_step, model, images, labels, optimizer)
    mine = _weights(model)
    need(not _same(mine, _reference(zero_grad=False)),
         "the gradients pile up from step to step: call optimizer.zero_grad() at the start of each step")
    losses = [_step(train_step, model, images, labels, optimizer) for _ in range(30)]
    need(losses[-1] < losses[0], f"the loss did not fall over 30 steps ({losses[0]:.3f} -> "
                                 f"{losses[-1]:.3f}): the step should move the weights against the gradient")
    need(_same(mine, _reference(zero_grad=True)), "after 5 steps the weights differ from those of a right "
                                                  "step (zero_grad, forward, cross-entropy, backward, step)")
    return (f"Your step gives the same weights as a right one, and the toy net's loss falls from "
            f"{expected:.3f} to {losses[-1]:.3f} in 35 steps.")


@exercise("01.5", "F.max_pool2d(F.relu(self.conv1(x)), 2), same with conv2, x.flatten(1), fc1, ReLU, fc2")
def check_cnn_forward(cnn: object) -> str:
    """A CNN class whose ``forward`` the student wrote (layers conv1, conv2, fc1, fc2)."""
    need(isinstance(cnn, type) and issubclass(cnn, nn.Module),
         f"pass the class itself (check('01.5', MyCNN)), not a {type(cnn).__name__}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = attempt("MyCNN()", cnn)
    missing = [n for n in ("conv1", "conv2", "fc1", "fc2") if not hasattr(model, n)]
    need(not missing, f"the model has no layer {', '.join(missing)}: keep the __init__ of the skeleton")
    n = sum(p.numel() for p in model.parameters())
    need(n == 6_422, f"the model has {n:,} parameters, the CNN of this notebook 6,422: keep its __init__")
    x = torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        try:
            out = attempt("model(x)", model, x)
        except Problem as problem:
            need("shapes cannot be multiplied" not in str(problem), "fc1 got the wrong number of inputs "
                 "per image: after conv1+pool and conv2+pool each image is 6 maps of 4x4; flatten them to "
                 "96 numbers per image with x.flatten(1) (or x.view(x.shape[0], -1))")
            raise
        if out is None:   # the skeleton's forward
            raise Pending
        need(isinstance(out, Tensor), f"forward returned a {type(out).__name__}, not a tensor of scores")
        need(tuple(out.shape) == (3, 10), f"wrong output shape: got {tuple(out.shape)} for a batch of 3 "
             f"images, expected (3, 10): one score per class per image, the batch kept first")
        x = F.max_pool2d(F.relu(model.conv2(F.max_pool2d(F.relu(model.conv1(x)), 2))), 2)
        need(torch.allclose(out, model.fc2(F.relu(model.fc1(x.flatten(1)))), atol=1e-5),
             "the shape is right but the scores are not those of conv1 -> ReLU -> 2x2 max-pool -> conv2 -> "
             "ReLU -> pool -> flatten -> fc1 -> ReLU -> fc2: is a ReLU or a pool missing, or out of order?")
    return "Your forward gives the CNN's scores, shape (batch, 10)."


def _shuffled(fn: Callable[..., Any], images: Tensor, perm: Tensor) -> Tensor:
    before = images.clone()
    out = tensor(f"shuffle_pixels(images of shape {tuple(images.shape)}, perm)", fn, images, perm)
    need(torch.equal(images, before), "shuffle_pixels changed the images it got: return a new tensor instead")
    need(out.shape == images.shape, f"images of shape {tuple(images.shape)} came back as {tuple(out.shape)}: "
         f"the shape must stay the same (unflatten, or .view(images.shape), after shuffling)")
    need(out.dtype == images.dtype, f"{images.dtype} images came back as {out.dtype}: keep the dtype")
    return out


@exercise("02.3", "flatten the last two dimensions (images.flatten(-2)), pick positions with [..., perm], "
                  "and give the result the images' shape back (.view(images.shape))")
def check_shuffle(fn: object) -> str:
    """``fn(images, perm)``: pixel ``i`` of each shuffled image is pixel ``perm[i]`` of the original."""
    need(callable(fn), f"the answer is the function shuffle_pixels, got a {type(fn).__name__}")
    g = torch.Generator().manual_seed(2)
    images = torch.arange(4 * 1 * 28 * 28, dtype=torch.float32).view(4, 1, 28, 28)   # every pixel unique
    perm = torch.randperm(28 * 28, generator=g)
    flat, got = images.flatten(-2), _shuffled(fn, images, perm).flatten(-2)
    need(torch.equal(got.sort(-1).values, flat.sort(-1).values), "the shuffled images are not made of "
         "their own pixels: each image's pixel values must all be there, once each, only in other places "
         "(no values changed, lost, or taken from another image)")
    need(not torch.equal(got, flat), "the images come back unchanged: apply perm")
    want = flat[..., perm]
    if not torch.equal(got, want):
        need(not torch.equal(got, flat[..., torch.argsort(perm)]), "you applied the inverse shuffle: pixel "
             "i must be pixel perm[i] of the original (images[..., perm]), not be sent to position perm[i]")
        need(not torch.equal(got[0], want[0]),
             "the first image is right but not the others: use the same perm for every image")
        raise Problem("pixel i of a shuffled image must be the original's pixel perm[i]; yours are elsewhere")
    colour = torch.rand(3, 3, 8, 8, generator=g)
    small = torch.randperm(64, generator=g)
    out = _shuffled(fn, colour, small)
    need(torch.equal(out.flatten(-2), colour.flatten(-2)[..., small]), "right on 1-channel 28x28 digits, "
         "but not on 3-channel 8x8 images: shuffle every channel of every image by the same perm, any size")
    need(torch.equal(_shuffled(fn, out, torch.argsort(small)), colour),
         "shuffling with the inverse permutation (torch.argsort(perm)) does not restore the images")
    return ("Every image keeps its shape and its own pixels, all shuffled by the same perm, and "
            "shuffle_pixels(shuffled, torch.argsort(perm)) gives the originals back: nothing is lost.")


def _why_count(block: nn.Module, cin: int, cout: int, convs: int) -> str:
    found = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in block.modules() if isinstance(m, nn.BatchNorm2d)]
    if len(found) != convs:
        return f"it has {len(found)} convolutions, vgg_block({cin}, {cout}, {convs}) needs {convs}"
    if any(m.kernel_size != (3, 3) for m in found):
        return "its convolutions should be 3x3 (kernel_size=3)"
    if any(m.bias is not None for m in found):
        return "its convolutions have biases: give them bias=False, the batch norm's shift does that job"
    if len(norms) != convs:
        return f"it has {len(norms)} batch norms: each of the {convs} convolutions needs one after it"
    return "check each layer's channels"


def _why_shape(got: tuple, expected: tuple, size: int) -> str:
    if got[1] != expected[1]:
        return "the last convolution should give out_channels maps"
    if got[-1] == size:
        return "the 2x2 max-pool (nn.MaxPool2d(2)) at the end is missing"
    if got[-1] < expected[-1]:
        return ("the maps shrank too much: each 3x3 convolution needs padding=1 to keep the size, "
                "and there is one pool per block, at its end")
    return "one 2x2 max-pool at the end halves the size"


@exercise("03.4", "for each convolution nn.Conv2d(channels, out_channels, 3, padding=1, bias=False), "
                  "nn.BatchNorm2d(out_channels) and nn.ReLU(); after them one nn.MaxPool2d(2); "
                  "return nn.Sequential(*layers)")
def check_vgg_block(fn: object) -> str:
    """``vgg_block(in_channels, out_channels, convs)``: ``convs`` conv-BN-ReLU layers and a pool."""
    need(callable(fn) and not isinstance(fn, nn.Module),
         'pass the function itself, not what it returns: check("03.4", vgg_block)')
    for cin, cout, convs, size in ((3, 16, 2, 32), (16, 32, 1, 16), (8, 8, 3, 8)):
        call = f"vgg_block({cin}, {cout}, {convs})"
        block = attempt(call, fn, cin, cout, convs)
        need(isinstance(block, nn.Module),
             f"{call} returned a {type(block).__name__}, not a module: return nn.Sequential(*layers)")
        x = torch.randn(4, cin, size, size, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            y = tensor(f"{call} on a batch of shape {tuple(x.shape)}", block.train(), x)
        got, expected = tuple(y.shape), (4, cout, size // 2, size // 2)
        need(got == expected, f"wrong output shape for {call} on a batch of shape {tuple(x.shape)}: got "
                              f"{got}, expected {expected} ({_why_shape(got, expected, size)})")
        n = sum(p.numel() for p in block.parameters())
        right = 9 * cin * cout + 9 * cout * cout * (convs - 1) + 2 * cout * convs   # 3x3 weights, BN's 2
        need(n == right, f"wrong parameter count for {call}: got {n:,}, expected {right:,} "
                         f"({_why_count(block, cin, cout, convs)})")
        need(not (y < 0).any(), f"{call} gives negative outputs: each batch norm needs a ReLU after it")
        need(not float(y.std()) < 1e-6,
             f"{call} gives the same number everywhere: check the order conv, batch norm, ReLU")
    return ("Every block has the right output shape and parameter count: VGG_CFG is vgg_block(3, 64, 1), "
            "vgg_block(64, 128, 1), vgg_block(128, 256, 2), vgg_block(256, 512, 2), vgg_block(512, 512, 2).")


def _scores(head: nn.Module, side: int) -> None:
    x = torch.randn(2, 256, side, side, generator=torch.Generator().manual_seed(side))
    with torch.no_grad():
        out = tensor(f"your head on a batch of 2 maps of 256x{side}x{side}", head.eval(), x)
    flat = out.dim() > 2 and out.shape[0] == 2 and out[0].numel() == 1000
    need(tuple(out.shape) == (2, 1000), f"on a batch of 2 maps of 256x{side}x{side} the output has shape "
         f"{tuple(out.shape)}, expected (2, 1000): "
         + ("the right number of scores in the wrong shape: flatten them (nn.Flatten())" if flat
            else "one row of 1000 class scores per image"))


@exercise("04.6", "average each of the 256 maps over its positions (nn.AdaptiveAvgPool2d(1)), flatten, "
                  "then one nn.Linear(256, 1000)")
def check_head(head: object) -> str:
    """``head``: AlexNet's 256x6x6 pool5 map (or a 13x13 one) to 1000 scores, with few parameters."""
    need(isinstance(head, nn.Module),
         f"the answer is a layer (an nn.Module, e.g. nn.Sequential(...)), got a {type(head).__name__}")
    _scores(head, 6)
    n, fc = sum(p.numel() for p in head.parameters()), 58_631_144   # torchvision AlexNet's fc6, fc7 and fc8
    need(n <= 300_000, f"right shape, but {n:,} parameters, more than the 300,000 allowed (fc6-fc8 have "
                       f"{fc:,}): a linear layer on all 9,216 numbers of the map is what makes them big")
    _scores(head, 13)
    return (f"(2, 1000) scores from 256x6x6 and from 256x13x13 maps, with {n:,} parameters: {n / fc:.2%} "
            f"of fc6-fc8's {fc:,}. Global average pooling, as in Network in Network, GoogLeNet and ResNet.")


@exercise("05.3", "freeze first with net.requires_grad_(False), then net.fc = nn.Linear(net.fc.in_features, "
                  "num_classes): a new layer trains by default")
def check_head_swap(swap_head: object) -> str:
    """``swap_head(net, num_classes)``: d2l's ResNet-18 recipe, the body frozen, a new last layer trains."""
    from torchvision.models import resnet18

    for classes in (2, 5):
        torch.manual_seed(0)
        net = resnet18(weights=None)   # random weights: the checker needs its shape only
        features = net.fc.in_features
        net = attempt(f"swap_head(net, {classes})", swap_head, net, classes)
        need(isinstance(net, nn.Module), f"swap_head returned a {type(net).__name__}: return the net")
        x = torch.randn(2, 3, 64, 64)
        out = tensor("the net's forward on a batch of shape (2, 3, 64, 64) (the new layer takes "
                     f"net.fc.in_features = {features} inputs)", net.train(), x)
        need(tuple(out.shape) == (2, classes), f"wrong output shape with num_classes={classes}: got "
             f"{tuple(out.shape)}, expected (2, {classes}), one score per class"
             + (": the old 1000-class ImageNet layer is still there" if out.shape[-1] == 1000 else ""))
        head = list(net.fc.parameters())
        need(head and all(p.requires_grad for p in head), "no gradient reaches the new head (its "
             "requires_grad is False): freeze the body first, then put in the new layer")
        net.zero_grad()
        attempt("backward through the net",
                lambda: F.cross_entropy(net(x), torch.zeros(2, dtype=torch.long)).backward())
        reached = sum(p.numel() for p in net.parameters()
                      if p.grad is not None and all(p is not h for h in head))
        need(not reached, f"gradients reach the frozen body: {reached:,} of its parameters got a gradient "
                          f"(they still have requires_grad=True); freeze the pretrained net with "
                          f"net.requires_grad_(False) before putting in the new layer")
        trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
        right = features * classes + classes
        need(trainable == right, f"wrong number of trainable parameters with num_classes={classes}: got "
             f"{trainable:,}, expected {right:,} (the new layer's {features} x {classes} weights and "
             f"{classes} biases)")
    return ("the output has one score per class, no gradient reaches the frozen body, and only the new "
            f"layer's {features * 2 + 2:,} parameters train (for 2 classes)")


def _convs(block: nn.Module, one_by_one: bool) -> list[nn.Conv2d]:
    return [m for m in block.modules()
            if isinstance(m, nn.Conv2d) and (m.kernel_size == (1, 1)) == one_by_one]


@exercise("06.3", "the shape changes when stride != 1 or in_channels != out_channels; then the shortcut is "
                  "nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False) with batch norm, else "
                  "nn.Identity(), and forward returns relu(body(x) + shortcut(x))")
def check_projection_block(make_block: object) -> str:
    """``ProjectionBlock(in_channels, out_channels, stride)``, a residual block."""
    torch.manual_seed(0)
    block = attempt("ProjectionBlock(16, 32, stride=2)", make_block, 16, 32, 2)
    x = torch.randn(2, 16, 14, 14)
    out = tensor("its forward on a batch of shape (2, 16, 14, 14) (the body gives (2, 32, 7, 7): the "
                 "shortcut must give the same shape)", block, x)
    need(tuple(out.shape) == (2, 32, 7, 7), f"wrong output shape for ProjectionBlock(16, 32, stride=2): "
         f"got {tuple(out.shape)}, expected (2, 32, 7, 7) (stride 2 halves 14x14 to 7x7; 32 channels)")
    projections = _convs(block, one_by_one=True)
    wide = [f"{m.kernel_size[0]}x{m.kernel_size[1]}" for m in block.modules()
            if isinstance(m, nn.Conv2d) and (m.in_channels, m.out_channels) == (16, 32)]
    need(projections, "the block has no 1x1 convolution: when the shape changes, the shortcut must project "
         "16 channels to 32 with a 1x1 convolution of stride 2"
         + (f" (it has {len(wide)} convolutions from 16 to 32 channels, {', '.join(wide)}: the body's is "
            f"3x3, the shortcut's 1x1)" if len(wide) > 1 else ""))
    proj = projections[0]
    need((proj.in_channels, proj.out_channels) == (16, 32), f"the 1x1 shortcut maps {proj.in_channels} to "
         f"{proj.out_channels} channels; it must map the block's input (16) to its output (32)")
    need(proj.stride == (2, 2), f"the 1x1 shortcut has stride {proj.stride[0]}; it must have the block's "
                                f"stride (2) so that it halves the height and width as the body does")
    block.zero_grad()
    attempt("backward through the block", lambda: block(x).pow(2).mean().backward())
    need(proj.weight.grad is not None and proj.weight.grad.abs().sum() != 0, "no gradient reaches the 1x1 "
         "shortcut: it is built but forward does not use it (add shortcut(x) to the body's output)")
    body = _convs(block, one_by_one=False)
    need(body and all(m.weight.grad is not None and m.weight.grad.abs().sum() != 0 for m in body),
         "no gradient reaches the body's 3x3 convolutions: forward must add body(x) and shortcut(x)")
    need(not (out < 0).any(), "the output has negative values: apply the ReLU after the addition")
    same = attempt("ProjectionBlock(16, 16, stride=1)", make_block, 16, 16, 1)
    y = tensor("its forward on a batch of shape (2, 16, 14, 14)", same, x)
    need(tuple(y.shape) == (2, 16, 14, 14), f"wrong output shape for ProjectionBlock(16, 16, stride=1): got "
                                            f"{tuple(y.shape)}, expected (2, 16, 14, 14)")
    need(not _convs(same, one_by_one=True), "ProjectionBlock(16, 16, stride=1) has a 1x1 convolution: when "
         "the shape stays the same the shortcut is the identity (nn.Identity()), which adds no parameters")
    return ("stride 2 and 16 -> 32 channels give (2, 32, 7, 7) through a 1x1 stride-2 projection, the "
            "gradient reaches both paths, and a block that keeps its shape keeps the identity shortcut")
