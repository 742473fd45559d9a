import torch
from torch import nn

from course_utils.data.loader import TensorLoader
from course_utils.estimate import estimate_fit, fork_loader
from course_utils.training import fit


def setup(seed=0):
    torch.manual_seed(seed)
    images = torch.randint(0, 256, (96, 1, 8, 8), dtype=torch.uint8)
    labels = torch.arange(96) % 3
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
    loader = TensorLoader(images, labels, 16, shuffle=True, seed=5,
                          augment=lambda x, g: x + torch.rand(x.shape, generator=g, device=x.device))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return model, loader, opt


def test_estimate_scales_measured_steps_to_the_run():
    model, loader, opt = setup()
    est = estimate_fit(model, loader, opt, epochs=3, test_loader=loader, measure_steps=3,
                       name="toy", shorten="EPOCHS")
    assert est.steps == 3 * len(loader) == 18 and est.measured_steps == 3
    assert est.seconds >= est.step_seconds * est.steps > 0 and est.eval_seconds > 0
    assert est.describe().startswith("toy: about ") and "lower EPOCHS" in est.describe()


def test_estimating_changes_nothing_of_the_run_that_follows():
    model, loader, opt = setup()
    estimate_fit(model, loader, opt, epochs=2, measure_steps=3)
    after = fit(model, loader, opt, 2, progress=False)["step_loss"]
    model, loader, opt = setup()
    untouched = fit(model, loader, opt, 2, progress=False)["step_loss"]
    assert after == untouched


def test_forked_loader_draws_the_same_batches_without_advancing_the_original():
    _, loader, _ = setup()
    twin = fork_loader(loader)
    a = [y for _, y in twin]
    b = [y for _, y in loader]
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_smoke_mode_measures_one_step_full_mode_four(monkeypatch):
    model, loader, opt = setup()
    monkeypatch.setenv("COURSE_SMOKE", "1")
    assert estimate_fit(model, loader, opt, epochs=1).measured_steps == 1
    monkeypatch.setenv("COURSE_SMOKE", "0")
    assert estimate_fit(model, loader, opt, epochs=1).measured_steps == 4
