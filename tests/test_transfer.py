import urllib.error

import pytest
import torch
import torch.nn.functional as F

from course_utils.models import count_parameters
from course_utils.lessons.finetune import cosine_decay
from course_utils.models.heads import build, freeze_body, make_run, param_groups
from course_utils.models.transfer import BACKBONES, OFFLINE_BACKBONE, WeightsUnavailableError, backbone_table


def final_linear(head: torch.nn.Module) -> torch.nn.Linear:
    return [m for m in head.modules() if isinstance(m, torch.nn.Linear)][-1]


@pytest.mark.parametrize("backbone", BACKBONES)
def test_head_swap_gives_two_outputs(backbone):
    model = build(backbone, pretrained=False).eval()
    assert model(torch.zeros(2, 3, 224, 224)).shape == (2, 2)


def test_offline_backbone_loads_imagenet_weights():
    a, b = build(OFFLINE_BACKBONE), build(OFFLINE_BACKBONE, pretrained=False)
    assert a.mean == (0.5, 0.5, 0.5)
    assert not torch.equal(a.body._conv_stem.weight, b.body._conv_stem.weight)


def test_wrong_image_size_is_named():
    with pytest.raises(ValueError, match=r"expects images of shape \(N, 3, 224, 224\)"):
        build(OFFLINE_BACKBONE, pretrained=False)(torch.zeros(1, 3, 32, 32))


def test_unreachable_weights_name_the_offline_backbone(monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    import torchvision.models._api as api
    monkeypatch.setattr(api, "load_state_dict_from_url", offline)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(WeightsUnavailableError, match=f"resnet18-f37072fd.pth.*'{OFFLINE_BACKBONE}'") as info:
        build("resnet18")
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_frozen_step_changes_only_the_head():
    torch.manual_seed(0)
    model, opt = make_run("frozen", lr=0.01)
    model.train()
    assert not model.body.training and model.head.training  # BN statistics stay put
    body = {k: v.clone() for k, v in model.body.state_dict().items()}
    head = {k: v.clone() for k, v in model.head.state_dict().items()}
    loss = F.cross_entropy(model(torch.randn(4, 3, 224, 224)), torch.tensor([0, 1, 0, 1]))
    opt.zero_grad()
    loss.backward()
    opt.step()
    for k, v in model.body.state_dict().items():  # weights AND running statistics
        assert torch.equal(v, body[k]), k
    assert any(not torch.equal(v, head[k]) for k, v in model.head.state_dict().items())
    assert count_parameters(model, trainable_only=True) == count_parameters(model.head)


def test_param_groups_carry_two_learning_rates():
    model, opt = make_run("fine-tune", lr=0.002)
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    assert lrs == pytest.approx({"body": 0.002, "head": 0.02})
    head_ids = {id(p) for p in model.head.parameters()}
    assert {id(p) for p in next(g for g in opt.param_groups if g["name"] == "head")["params"]} == head_ids
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.parameters()))
    frozen = freeze_body(build(OFFLINE_BACKBONE, pretrained=False))
    assert [g["name"] for g in param_groups(frozen, 0.1)] == ["head"]


def test_scratch_is_random_and_trains_everything():
    model, opt = make_run("scratch", lr=0.002)
    assert not model.pretrained and not model.frozen_parts
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.002, 0.002])


def test_backbone_table_from_metadata():
    rows = {r["model"]: r for r in backbone_table()}
    assert {"resnet18", "alexnet", "vgg11_bn", "squeezenet1_0", "densenet121", "inception_v3"} <= set(rows)
    assert rows["resnet18"]["params (M)"] == pytest.approx(11.69, abs=0.01)
    assert rows["alexnet"]["ImageNet top-1 %"] == pytest.approx(56.522)
    assert rows["inception_v3"]["input"] == 299
    assert 4.0 < rows[OFFLINE_BACKBONE]["params (M)"] < 5.0


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="unknown backbone"):
        build("vgg")
    with pytest.raises(ValueError, match="unknown strategy"):
        make_run("half", lr=0.1)


def test_cosine_decay_keeps_the_ratio():

    _, opt = make_run("fine-tune", lr=0.01)
    sched = cosine_decay(opt, 10)
    for _ in range(10):
        opt.step()
        sched.step()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.001, 0.01])


def test_partial_freezing_keeps_the_lower_half_frozen_and_in_eval_mode():
    from course_utils.models.transfer import body_stages
    model, opt = make_run("partial", lr=0.002)
    stages = body_stages(model.body)
    assert len(stages) == 18                                  # stem, 16 blocks, head conv
    frozen = [all(not p.requires_grad for p in s.parameters()) for s in stages]
    assert frozen == [True] * 9 + [False] * 9
    model.train()
    assert not stages[3].training and stages[12].training and model.head.training
    trainable_ids = {id(p) for g in opt.param_groups for p in g["params"]}
    assert all(id(p) not in trainable_ids for p in stages[0].parameters())


def test_head_from_imagenet_hotdog_row():
    from course_utils.models.transfer import IMAGENET_HOTDOG, head_from_imagenet_class, imagenet_classifier
    imagenet = imagenet_classifier()
    model = head_from_imagenet_class(build(pretrained=True), imagenet)
    head = final_linear(model.head)
    assert torch.equal(head.weight[0], imagenet.weight[IMAGENET_HOTDOG])
    others = torch.cat([imagenet.weight[:IMAGENET_HOTDOG], imagenet.weight[IMAGENET_HOTDOG + 1:]])
    torch.testing.assert_close(head.weight[1], others.mean(0))


def test_new_heads_start_xavier_uniform_with_zero_bias():
    head = final_linear(build(pretrained=False).head)
    limit = (6 / (head.in_features + head.out_features)) ** 0.5
    assert head.bias.abs().max() == 0 and head.weight.abs().max() <= limit


def test_mistakes_are_measured_on_copies():
    from course_utils.data.photos import ImageList, make_loaders
    from course_utils.lessons.mistakes import random_crop_right, right_at_size, right_in_train_mode
    torch.manual_seed(0)
    photos = ImageList([torch.randint(0, 256, (3, 80, 100), dtype=torch.uint8) for _ in range(6)],
                       torch.tensor([0, 1] * 3), ["a", "b"])
    model = build(pretrained=False).eval()
    model.image_size = 64
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _, test_loader = make_loaders(photos, photos, 3, mean=(0.5,) * 3, std=(0.5,) * 3, size=64, resize=72)
    in_train_mode = right_in_train_mode(model, test_loader)
    assert in_train_mode.shape == (6,) and 0 <= in_train_mode.float().mean() <= 1
    right = random_crop_right(model, photos, mean=(0.5,) * 3, std=(0.5,) * 3, repeats=2, batch_size=3)
    assert right.shape == (2, 6) and right.dtype == torch.bool
    at_size = right_at_size(model, photos, 48, 56, mean=(0.5,) * 3, std=(0.5,) * 3)
    assert at_size.shape == (6,) and 0 <= at_size.float().mean() <= 1
    assert model.image_size == 64 and not model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())   # BN stats untouched


def test_testing_in_training_mode_puts_a_frozen_body_s_batch_norm_in_training_mode():
    """The mistake is a missing ``model.eval()``: batch norm then normalises with the test
    batch's own statistics. A frozen TransferNet keeps its body in eval mode whenever
    ``train()`` is called, so measuring the mistake with ``.train()`` measured only the
    head's dropout. Every batch norm of the body must run in training mode."""
    from torch import nn

    from course_utils.data.photos import ImageList, make_loaders
    from course_utils.lessons.mistakes import right_in_train_mode
    torch.manual_seed(0)
    photos = ImageList([torch.randint(0, 256, (3, 70, 90), dtype=torch.uint8) for _ in range(4)],
                       torch.tensor([0, 1] * 2), ["a", "b"])
    model = freeze_body(build(pretrained=False)).eval()
    model.image_size = 64
    seen = []
    norms = [m for m in model.body.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.register_forward_pre_hook(lambda module, args: seen.append(module.training))
    _, test_loader = make_loaders(photos, photos, 4, mean=(0.5,) * 3, std=(0.5,) * 3, size=64, resize=72)
    right = right_in_train_mode(model, test_loader)
    assert right.shape == (4,) and seen and all(seen), "the frozen body's batch norm ran in eval mode"
    assert not model.training and not any(m.training for m in norms)     # the model itself untouched


def test_a_failure_without_weights_is_raised_as_it_is(monkeypatch):
    import torchvision.models

    from course_utils.models import transfer

    def broken(weights=None):
        raise RuntimeError("out of memory building the net")
    monkeypatch.setattr(torchvision.models, "resnet18", broken)
    with pytest.raises(RuntimeError, match="out of memory"):
        transfer._torchvision_net("resnet18", pretrained=False)
