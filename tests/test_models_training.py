import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.data.loader import TensorLoader
from course_utils.models import count_parameters
from course_utils.models.mnist import CNN, FC2Layer
from course_utils.optim import make_adam, make_sgd
from course_utils.device import set_seed
from course_utils.training import evaluate, fit


def test_equal_parameter_budgets():
    assert count_parameters(FC2Layer(n_hidden=8)) == 6_442
    assert count_parameters(CNN(n_feature=6)) == 6_422


def test_count_trainable_only():
    model = FC2Layer()
    model.net[1].requires_grad_(False)
    assert count_parameters(model, trainable_only=True) == 6_442 - (784 * 8 + 8)


@pytest.mark.parametrize("model", [FC2Layer(), CNN()])
def test_output_shape(model):
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_wrong_image_size_is_named():
    with pytest.raises(ValueError, match=r"CNN expects images of shape \(N, 1, 28, 28\)"):
        CNN()(torch.zeros(2, 1, 32, 32))
    with pytest.raises(ValueError, match="784 pixels"):
        FC2Layer()(torch.zeros(2, 3, 28, 28))


def toy_problem(n=512, seed=0):
    """Two classes told apart by the brightness of the left half of an 8x8 image."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=g)
    images = torch.randint(0, 100, (n, 1, 8, 8), generator=g, dtype=torch.uint8)
    images[labels == 1, :, :, :4] += 120
    return images, labels


def test_fit_learns_and_returns_history():
    set_seed(0)
    images, labels = toy_problem()
    train = TensorLoader(images, labels, 32, shuffle=True, mean=[0.3], std=[0.25], seed=0)
    test_images, test_labels = toy_problem(seed=1)
    test = TensorLoader(test_images, test_labels, 128, mean=[0.3], std=[0.25])
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 2))
    before = evaluate(model, test)
    history = fit(model, train, make_sgd(model.parameters(), lr=0.05, momentum=0.9), 3,
                  test_loader=test, progress=False)
    assert history["epoch"] == [1, 2, 3]
    assert len(history["step_loss"]) == len(history["step_acc"]) == 3 * len(train)
    assert len(history["test_acc"]) == len(history["seconds"]) == 3
    assert history["test_acc"][-1] > 0.95 > before["acc"]
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history["test_acc"][-1] == evaluate(model, test)["acc"]
    assert model.training  # evaluate restores the mode


def test_scheduler_steps_per_batch():
    images, labels = toy_problem(64)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 / (step + 1))
    fit(model, TensorLoader(images, labels, 16), opt, 1, scheduler=sched, scheduler_interval="batch",
        progress=False)
    assert sched.last_epoch == 4


def test_evaluate_rejects_empty_loader():
    with pytest.raises(ValueError, match="empty"):
        evaluate(nn.Linear(2, 2), [])


@pytest.mark.parametrize("make, plain", [
    (lambda p: make_sgd(p, 0.1, 0.5), lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.5)),
    (lambda p: make_adam(p, 0.01), lambda p: torch.optim.Adam(p, lr=0.01)),
])
def test_fused_optimizers_match_plain_ones(make, plain):
    set_seed(0)
    a = nn.Linear(5, 3)
    b = nn.Linear(5, 3)
    b.load_state_dict(a.state_dict())
    start = a.weight.detach().clone()
    x, y = torch.randn(8, 5), torch.randint(0, 3, (8,))
    for model, opt in [(a, make(a.parameters())), (b, plain(b.parameters()))]:
        for _ in range(3):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    assert not torch.equal(a.weight, start)   # the steps did something
    torch.testing.assert_close(a.weight, b.weight)


def test_predict_confusion_and_per_class_accuracy():
    from course_utils.training import confusion_matrix, per_class_accuracy, predict
    model = nn.Linear(2, 3)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 0], [0, 1], [-1, -1]]))
        model.bias.zero_()
    x = torch.tensor([[2.0, 0], [0, 2], [-1, -1], [3, 0]])
    y = torch.tensor([0, 1, 2, 1])
    model.train()
    logits, guess, labels = predict(model, [(x[:2], y[:2]), (x[2:], y[2:])])
    assert model.training and logits.shape == (4, 3)
    assert guess.tolist() == [0, 1, 2, 0] and labels.tolist() == y.tolist()
    cm = confusion_matrix(labels, guess, 3)
    assert cm.tolist() == [[1, 0, 0], [1, 1, 0], [0, 0, 1]]
    assert per_class_accuracy(cm).tolist() == [1.0, 0.5, 1.0]
    with pytest.raises(ValueError, match="empty loader"):
        predict(model, [])
    with pytest.raises(ValueError, match="differ in shape"):
        confusion_matrix(labels, guess[:2], 3)


def test_flip_tta_averages_the_mirror_image():
    from course_utils.training import evaluate, predict
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))   # sees left and right differently
    x, y = torch.randn(5, 1, 3, 4), torch.tensor([0, 1, 2, 0, 1])
    plain, _, _ = predict(model, [(x, y)])
    both, _, _ = predict(model, [(x, y)], tta="flip")
    torch.testing.assert_close(both, (model(x) + model(x.flip(3))).detach() / 2)
    assert not torch.allclose(both, plain)
    result = evaluate(model, [(x, y)], tta="flip")
    assert result["acc"] == (both.argmax(1) == y).sum().item() / 5


def test_amp_on_cpu_follows_mixed_precision_dtype(monkeypatch):
    import course_utils.training as training
    seen = []
    model = nn.Linear(4, 2)
    hook = model.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    x, y = torch.randn(8, 4), torch.randint(0, 2, (8,))
    for dtype in (None, torch.bfloat16):
        monkeypatch.setattr(training, "mixed_precision_dtype", lambda device, d=dtype: d)
        training.evaluate(model, [(x, y)], amp=True)
    hook.remove()
    assert seen == [torch.float32, torch.bfloat16]


def test_translate_tta_views_and_weights():
    from course_utils.training import tta_views
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).view(2, 1, 4, 4)
    views = tta_views(x, "flip-translate")
    assert len(views) == 6 and abs(sum(w for w, _ in views) - 1) < 1e-9
    assert all(v.shape == x.shape for _, v in views)
    up_left = views[2][1]   # shifted by one pixel: row r of the view is row r-1 of the image
    assert torch.equal(up_left[:, :, 1:, 1:], x[:, :, :-1, :-1])
    with pytest.raises(ValueError, match="tta must be one of"):
        tta_views(x, "rotate")


def test_scheduler_stepped_per_batch_or_per_epoch():
    from course_utils.training import fit
    x, y = torch.randn(40, 4), torch.randint(0, 2, (40,))
    batches = [(x[i:i + 10], y[i:i + 10]) for i in range(0, 40, 10)]   # 4 batches an epoch
    model = nn.Linear(4, 2)

    def run(interval):
        opt = torch.optim.SGD(model.parameters(), lr=1.0)
        step = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.1)
        return fit(model, batches, opt, 3, scheduler=step, scheduler_interval=interval, progress=False)["lr"]

    # the seed's meaning: decay every 2 epochs
    assert [round(v, 6) for v in run("epoch")] == [1.0, 0.1, 0.1]
    # per batch, 4 steps an epoch: 2 decays per epoch
    assert [round(v, 8) for v in run("batch")] == [0.01, 0.0001, 0.000001]
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    with pytest.raises(ValueError, match="StepLR.*scheduler_interval='epoch'"):
        fit(model, batches, opt, 1, scheduler=torch.optim.lr_scheduler.StepLR(opt, 10), progress=False)
    one_cycle = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=8)
    fit(model, batches, opt, 1, scheduler=one_cycle, progress=False)  # per batch by nature
    assert one_cycle.last_epoch == 4
    cyclic = torch.optim.lr_scheduler.CyclicLR(opt, base_lr=0.1, max_lr=1.0, step_size_up=2)
    fit(model, batches, opt, 1, scheduler=cyclic, progress=False)  # counted in steps: per batch too
    assert cyclic.last_epoch == 4


def test_reduce_on_plateau_watches_the_test_loss_once_an_epoch():
    x, y = torch.randn(40, 4), torch.randint(0, 2, (40,))
    batches = [(x[i:i + 10], y[i:i + 10]) for i in range(0, 40, 10)]
    model = nn.Linear(4, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)   # no learning: the loss never improves
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    opt.param_groups[0]["lr"] = 0.0
    history = fit(model, batches, opt, 3, test_loader=batches, scheduler=plateau, progress=False)
    assert plateau.last_epoch == 3 and plateau.best == history["test_loss"][0]
    with pytest.raises(ValueError, match="ReduceLROnPlateau watches a per-epoch metric"):
        fit(model, batches, opt, 1, scheduler=plateau, scheduler_interval="batch", progress=False)


def test_ema_follows_the_weights_and_is_evaluated():
    from course_utils.training import ema_model, fit
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.BatchNorm1d(8), nn.Linear(8, 2))
    x, y = torch.randn(64, 4), (torch.randn(64) > 0).long()
    batches = [(x[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)]
    start = [p.detach().clone() for p in model.parameters()]
    average = ema_model(model, decay=0.5)
    history = fit(model, batches, torch.optim.SGD(model.parameters(), lr=0.5), 2, ema=average,
                  test_loader=batches, progress=False)
    assert len(history["ema_test_acc"]) == 2
    for p, a, s in zip(model.parameters(), average.module.parameters(), start):
        assert not torch.equal(a, s) and not torch.equal(a, p)   # moved, but lags the weights
    assert average.n_averaged.item() == 8
    # the running statistics are averaged too (use_buffers)
    assert not torch.equal(average.module[2].running_mean, torch.zeros(8))
    with pytest.raises(ValueError, match="decay"):
        ema_model(model, decay=1.0)


def test_float16_with_grad_scaler_on_cpu_and_a_skipped_overflow(monkeypatch):
    """The T4 path (float16 autocast + GradScaler), run on the CPU; the third step's loss
    overflows, so the scaler skips that step and lowers its scale."""
    import course_utils.training as training
    monkeypatch.setattr(training, "mixed_precision_dtype", lambda device: torch.float16)
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    seen = []
    model.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    x, y = torch.randn(40, 4), torch.randint(0, 2, (40,))
    batches = [(x[i:i + 10], y[i:i + 10]) for i in range(0, 40, 10)]
    calls = {"n": 0}
    weights = []

    def loss_fn(logits, target):
        calls["n"] += 1
        weights.append(model.weight.detach().clone())
        loss = F.cross_entropy(logits, target)
        return loss * float("inf") if calls["n"] == 3 else loss

    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    history = fit(model, batches, opt, 1, loss_fn=loss_fn, amp=True, progress=False)
    assert set(seen) == {torch.float16}
    assert history["skipped_steps"] == [1]
    assert torch.equal(weights[3], weights[2])        # step 3 changed nothing
    assert not torch.equal(weights[2], weights[1])    # the others did


def test_fit_evaluate_predict_choose_the_layout_once_where_model_meets_batch(monkeypatch):
    """A convnet and its batches go channels-last where the device prefers it (the CPU), an
    MLP stays contiguous; the loader's batches are contiguous, the model sees the chosen layout;
    the precision is asked once per call, not once per batch."""
    import course_utils.training as training
    from course_utils.training import evaluate, fit, predict
    torch.manual_seed(0)
    conv = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(2))
    conv(torch.zeros(1, 3, 6, 6))
    seen = []
    conv[0].register_forward_pre_hook(lambda m, i: seen.append(i[0].is_contiguous(memory_format=torch.channels_last)))
    x, y = torch.randn(12, 3, 6, 6), torch.randint(0, 2, (12,))
    batches = [(x[i:i + 4], y[i:i + 4]) for i in range(0, 12, 4)]
    asked = []
    monkeypatch.setattr(training, "mixed_precision_dtype", lambda device: asked.append(device) or None)
    fit(conv, batches, torch.optim.SGD(conv.parameters(), lr=0.1), 2, test_loader=batches, amp=True,
        progress=False)
    assert len(asked) == 1 and all(seen) and len(seen) == 12
    assert conv[0].weight.is_contiguous(memory_format=torch.channels_last)
    monkeypatch.setattr(training, "preferred_memory_format", lambda device, amp=False: torch.contiguous_format)
    seen.clear()
    evaluate(conv, batches)
    predict(conv, batches)
    assert seen and not any(seen) and conv[0].weight.is_contiguous()   # e.g. Apple's MPS
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(108, 2))
    monkeypatch.undo()
    fit(mlp, batches, torch.optim.SGD(mlp.parameters(), lr=0.1), 1, progress=False)
    assert training.place(mlp).layout == torch.contiguous_format


def test_eval_mode_puts_the_model_back():
    from course_utils.models import eval_mode
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout())
    with eval_mode(model):
        assert not model.training
    assert model.training
    model.eval()
    with pytest.raises(RuntimeError), eval_mode(model):
        raise RuntimeError
    assert not model.training
