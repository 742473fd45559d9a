"""Layer arithmetic (notebook 04): formulas against real layers, the layer table against real
forward passes and FlopCounterMode, and clear errors for inputs too small for a model."""

from __future__ import annotations

import re

import functools
import itertools

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_utils.lessons import arithmetic as ar
from course_utils.lessons.arithmetic import (FormulaMismatchError, InputSizeError, calculate_layer,
                                     conv_output_size, conv_params, format_layer_table, layer_table,
                                     linear_params, min_input_size, side_by_side)
from course_utils.models import cifar
from torchvision.models import resnet18

from course_utils.models.alexnet import AlexNet2012, AlexNetPadding1, torchvision_alexnet


# ------------------------------------------------------------------- the formulas


def test_formula_worked_examples():
    assert conv_output_size(224, 11, 4, 2) == 55      # torchvision's conv1
    assert conv_output_size(224, 11, 4, 0) == 54      # the paper's conv1 on 224: not 55
    assert conv_output_size(227, 11, 4, 0) == 55
    assert conv_output_size(224, 11, 4, 1) == 54      # the padding-1 variant
    assert conv_output_size(13, 3, 2) == 6            # pool5
    assert conv_output_size(13, 3, 1, 1) == 13        # conv3-5 keep the size
    assert conv_output_size(5, 3, 2, ceil_mode=True) == 2 and conv_output_size(6, 3, 2, ceil_mode=True) == 3


@pytest.mark.parametrize("ceil_mode", [False, True])
def test_output_size_matches_torch_pooling(ceil_mode):
    for size, k, s, p, d in itertools.product([5, 6, 7, 13, 14], [2, 3], [1, 2, 3], [0, 1], [1, 2]):
        if p > k // 2:
            continue
        pool = nn.MaxPool2d(k, s, p, dilation=d, ceil_mode=ceil_mode)
        x = torch.zeros(1, 1, size, size)
        try:
            real = pool(x).shape[-1]
        except RuntimeError:
            with pytest.raises(ValueError, match="too small"):
                conv_output_size(size, k, s, p, d, ceil_mode)
            continue
        assert conv_output_size(size, k, s, p, d, ceil_mode) == real, (size, k, s, p, d)


def test_output_size_matches_torch_conv_and_min_size():
    for size, k, s, p, d in itertools.product([3, 8, 11, 12], [1, 3, 5], [1, 2, 4], [0, 1, 2], [1, 2]):
        conv = nn.Conv2d(1, 1, k, s, p, dilation=d)
        smallest = min_input_size(k, s, p, d)
        assert conv(torch.zeros(1, 1, smallest, smallest)).shape[-1] >= 1
        if smallest > 1:
            with pytest.raises(RuntimeError):
                conv(torch.zeros(1, 1, smallest - 1, smallest - 1))
        if size >= smallest:
            assert conv_output_size(size, k, s, p, d) == conv(torch.zeros(1, 1, size, size)).shape[-1]


def test_output_size_rejects_bad_arguments():
    with pytest.raises(ValueError, match="smallest input is 11"):
        conv_output_size(10, 11, 4)
    with pytest.raises(ValueError, match="stride"):
        conv_output_size(224, 11, 0)
    with pytest.raises(ValueError, match="padding"):
        conv_output_size(224, 3, 1, -1)


def test_parameter_formulas_match_modules():
    for cin, cout, k, g, bias in [(3, 96, 11, 1, True), (96, 256, 5, 2, True), (64, 128, 1, 1, False),
                                  (32, 32, 3, 32, True)]:
        conv = nn.Conv2d(cin, cout, k, groups=g, bias=bias)
        assert conv_params(cin, cout, k, g, bias) == sum(p.numel() for p in conv.parameters())
    assert linear_params(9216, 4096) == sum(p.numel() for p in nn.Linear(9216, 4096).parameters())
    assert conv_params(96, 256, 5, groups=2) * 2 - 256 == conv_params(96, 256, 5)  # groups halve weights
    with pytest.raises(ValueError, match="groups"):
        conv_params(96, 256, 5, groups=5)


# ---------------------------------------------------------------- the layer table


def _real_forward_shapes(model: nn.Module, shape) -> tuple[list, torch.Size, float]:
    """(name, output shape) per leaf call, final output shape and conv+linear FLOPs, measured
    here independently of the module under test."""
    calls = []
    handles = [m.register_forward_hook(lambda mod, a, out, n=n: calls.append((n, tuple(out.shape[1:]))))
               for n, m in model.named_modules() if not list(m.children())]
    counter = FlopCounterMode(display=False)
    model.eval()
    with torch.no_grad(), counter:
        out = model(torch.randn(1, *shape))
    for h in handles:
        h.remove()
    return calls, out.shape, counter.get_total_flops()


MODELS = {
    "LeNet": (lambda: cifar.LeNet(), (3, 32, 32)),
    "VGG": (lambda: cifar.VGG(cifar.VGG_CFG), (3, 32, 32)),
    "AlexNet2012": (AlexNet2012, (3, 227, 227)),
    "AlexNet2012-p2": (lambda: AlexNet2012(conv1_padding=2), (3, 224, 224)),
    "torchvision AlexNet": (torchvision_alexnet, (3, 224, 224)),
    "AlexNetPadding1": (AlexNetPadding1, (3, 224, 224)),
    "ResNet-18": (resnet18, (3, 224, 224)),
}


@functools.lru_cache(maxsize=None)
def built(key: str) -> nn.Module:
    """One instance per model for the whole module (the AlexNets take a second each to build)."""
    torch.manual_seed(0)
    return MODELS[key][0]()


@pytest.mark.parametrize("key", list(MODELS))
def test_table_matches_forward_pass_and_flop_counter(key):
    shape = MODELS[key][1]
    model = built(key).train()
    first = next(iter(model.children()))
    first.eval()  # a mixed train/eval state, which the table's eval-mode pass must leave as it was
    table = layer_table(model, shape)
    assert model.training and not first.training
    calls, out_shape, flops = _real_forward_shapes(model, shape)
    assert [(r.name, r.output_shape) for r in table.rows] == calls
    assert table.rows[-1].output_shape == tuple(out_shape[1:])
    assert all(r.checked for r in table.rows)  # every layer type here has a formula
    assert table.total_params == sum(p.numel() for p in model.parameters())
    assert 2 * table.total_macs == flops   # and per layer, or layer_table would have raised
    for r in table.rows:
        assert (r.macs > 0) == (r.type in ("Conv2d", "Linear"))


def test_the_three_alexnets_numbers():
    tv = layer_table(built("torchvision AlexNet"), (3, 224, 224))
    paper = layer_table(built("AlexNet2012"), (3, 227, 227))
    pad1 = layer_table(built("AlexNetPadding1"), (3, 224, 224))
    assert tv.total_params == 61_100_840 and paper.total_params == 60_965_224
    assert [paper.row(f"conv{i}").output_shape[0] for i in range(1, 6)] == [96, 256, 384, 384, 256]
    assert [tv.row(f"conv{i}").output_shape[0] for i in range(1, 6)] == [64, 192, 384, 256, 256]
    sizes = [pad1.row(k).output_shape[-1] for k in ("conv1", "pool1", "pool2", "conv3", "conv5", "pool5")]
    assert sizes == [54, 26, 12, 12, 12, 5] and pad1.row("flatten").output_shape == (6400,)
    # conv5 keeps 13x13 with stride 1; the max-pool after it gives 6x6
    assert tv.row("conv5").output_shape == (256, 13, 13) and "/" not in tv.row("conv5").config
    assert tv.row("pool5").output_shape == (256, 6, 6)
    assert paper.row("fc6").output_shape == (4096,)  # 2 x 2048, one half per GPU
    shares = tv.share_by_type()
    assert 0.955 < shares["Linear"]["params"] < 0.965 and shares["Conv2d"]["macs"] > 0.9
    rows = side_by_side({"paper": paper, "tv": tv, "pad1": pad1})
    flatten = next(r for r in rows if r["layer"] == "flatten")
    assert flatten == {"layer": "flatten", "paper": "9216", "tv": "9216", "pad1": "6400"}
    text = format_layer_table(tv)
    assert "61,100,840" in text and "features.10" in text and "ReLU" not in text.split("\n")[2]


def test_resnet18_shortcut_row():
    table = layer_table(built("ResNet-18"), (3, 224, 224))
    row = table.row("layer2.0.downsample.0")
    assert (row.config, row.input_shape, row.output_shape) == ("64->128 1x1/2", (64, 56, 56), (128, 28, 28))
    assert row.params == 64 * 128 and row.macs == 64 * 128 * 28 * 28
    assert table.row("layer2.0.conv2").output_shape == row.output_shape  # the two branches add up
    assert table.total_params == 11_689_512


def test_shape_disagreeing_with_formula_is_caught():
    class CroppingConv(nn.Conv2d):
        def forward(self, x):
            return super().forward(x)[..., :-1]

    with pytest.raises(FormulaMismatchError, match=r"0 \(CroppingConv.*formula gives 4x8x8.*gave 4x8x7"):
        layer_table(nn.Sequential(CroppingConv(3, 4, 3, padding=1)), (3, 8, 8))


def test_macs_disagreeing_with_flop_counter_is_caught(monkeypatch):
    real = ar.table.layer_macs
    monkeypatch.setattr(ar.table, "layer_macs", lambda m, o: real(m, o) + isinstance(m, nn.Linear))
    with pytest.raises(FormulaMismatchError, match="FlopCounterMode counted"):
        layer_table(nn.Sequential(nn.Flatten(), nn.Linear(12, 5)), (3, 2, 2))


# ------------------------------------------------------------- inputs too small


def test_alexnet_fed_28x28_names_layer_and_smallest_size():
    model = built("torchvision AlexNet")
    with pytest.raises(InputSizeError, match=r"features\.5 \(MaxPool2d 3x3/2\).*192x2x2.*3x63x63"):
        layer_table(model, (3, 28, 28))
    model.eval()
    with torch.no_grad():
        model(torch.randn(1, 3, 63, 63))
        # torchvision's own forward says only "Output size is too small"; ours names the layer
        with pytest.raises(InputSizeError, match=r"AlexNet cannot take a 3x62x62 input: layer "
                                                 r"features\.12 .*smallest input that works is 3x63x63"):
            model(torch.randn(1, 3, 62, 62))


def test_fixed_size_alexnets_explain_wrong_sizes_in_forward():
    paper = built("AlexNet2012").eval()
    with pytest.raises(InputSizeError, match=r"classifier\.2 \(Linear 9216->4096\).*6,400.*3x227x227"):
        paper(torch.randn(1, 3, 224, 224))
    with pytest.raises(InputSizeError, match="227 to 258"):
        paper(torch.randn(1, 3, 28, 28))
    with pytest.raises(InputSizeError, match="expects 3 input channels but gets 1") as info:
        paper(torch.randn(1, 1, 227, 227))
    assert "smallest" not in str(info.value)
    with torch.no_grad():
        assert paper(torch.randn(1, 3, 258, 258)).shape == (1, 1000)
        with pytest.raises(InputSizeError):
            paper(torch.randn(1, 3, 259, 259))
    layer_table(built("AlexNet2012-p2"), (3, 224, 224))  # padding 2 makes 224 work
    with pytest.raises(InputSizeError, match="3x193x193"):
        layer_table(built("AlexNetPadding1"), (3, 28, 28))


# ------------------------------------------------------------- the layer calculator


def test_layer_calculator_agrees_with_real_layers():
    r = calculate_layer()   # torchvision AlexNet's conv1
    assert (r.output, r.params, r.macs) == ("64x55x55", 23_296, 70_276_800) and r.error is None
    assert "the formulas agree" in r.checked
    for args in [dict(kind="maxpool", size=55, in_channels=64, kernel=3, stride=2, padding=0),
                 dict(size=13, in_channels=192, out_channels=384, kernel=3, stride=1, padding=1),
                 dict(size=30, in_channels=8, out_channels=16, kernel=3, stride=2, padding=2, dilation=2, groups=4)]:
        r = calculate_layer(**args)
        assert r.error is None and "the formulas agree" in r.checked, r.lines()


@pytest.mark.parametrize("args, message", [
    (dict(size=5, kernel=11, padding=0), "the window spans 11 pixels .* the padded input has only 5"),
    (dict(size=5, kernel=3, dilation=4, padding=0), "the window spans 9 pixels"),
    (dict(in_channels=3, groups=2), "groups=2 must divide both channel counts"),
    (dict(kind="maxpool", kernel=3, padding=2), "a pool may pad at most half its window"),
    (dict(stride=0), "every setting must be at least 1"),
])
def test_layer_calculator_says_when_settings_give_no_output(args, message):
    r = calculate_layer(**args)
    assert r.output is None and re.search(message, r.error)
    assert r.lines()[-1].startswith("no valid output: ")


def test_table_covers_other_layer_options():
    """'same' padding, dilation, ceil_mode, groups without bias, adaptive pools with None,
    1-d layers: every shape agrees with its formula, every total with the module."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding="same", dilation=2), nn.BatchNorm2d(8), nn.GELU(),
        nn.AvgPool2d(3, 2, ceil_mode=True), nn.MaxPool2d(2, 2, padding=1, ceil_mode=True),
        nn.Conv2d(8, 16, 3, stride=2, groups=4, bias=False), nn.AdaptiveAvgPool2d((1, None)),
        nn.Flatten(), nn.Linear(32, 5))
    table = layer_table(model, (3, 17, 17))
    assert [r.output_shape for r in table.rows] == [(8, 17, 17)] * 3 + [(8, 8, 8), (8, 5, 5), (16, 2, 2),
                                                                          (16, 1, 2), (32,), (5,)]
    assert all(r.checked for r in table.rows) and table.total_params == count_params(model)
    assert table.row("conv2").params == 16 * 2 * 9 and table.row("conv2").config == "8->16 3x3/2 g4"
    with pytest.raises(InputSizeError, match=r"layer 5 .*needs at least 3x3.*3x16x16 \(square sizes 16 to 23"):
        layer_table(model, (3, 5, 5))
    one_d = nn.Sequential(nn.Conv1d(2, 4, 5, stride=2), nn.MaxPool1d(2), nn.Flatten(), nn.Linear(12, 1))
    table = layer_table(one_d, (2, 15))
    assert [r.output_shape for r in table.rows] == [(4, 6), (4, 3), (12,), (1,)]
    assert table.total_macs == 4 * 6 * 2 * 5 + 12


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
