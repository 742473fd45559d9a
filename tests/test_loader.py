import pytest
import torch

from course_utils.data.loader import ImageData, TensorLoader


def make(n=100, c=1, hw=8):
    images = torch.randint(0, 256, (n, c, hw, hw), dtype=torch.uint8)
    labels = torch.arange(n) % 10
    return images, labels


def test_batches_cover_every_example_once():
    images, labels = make(100)
    loader = TensorLoader(images, labels, 32, shuffle=True, seed=0)
    batches = list(loader)
    assert len(loader) == len(batches) == 4
    assert [len(y) for _, y in batches] == [32, 32, 32, 4]
    x, y = batches[0]
    assert x.dtype == torch.float32 and x.shape == (32, 1, 8, 8) and y.dtype == torch.long
    seen = torch.cat([y for _, y in batches])
    assert sorted(seen.tolist()) == sorted(labels.tolist())


def test_drop_last():
    images, labels = make(100)
    loader = TensorLoader(images, labels, 32, drop_last=True)
    assert len(loader) == 3 and all(len(y) == 32 for _, y in loader)


def test_shuffle_changes_each_epoch_and_repeats_with_seed():
    images, labels = make(200)
    images[:, 0, 0, 0] = torch.arange(200, dtype=torch.uint8)  # tag each image
    loader = TensorLoader(images, torch.arange(200), 50, shuffle=True, seed=7)
    first = torch.cat([y for _, y in loader])
    second = torch.cat([y for _, y in loader])
    assert not torch.equal(first, second)
    assert not torch.equal(first, torch.arange(200))
    again = torch.cat([y for _, y in TensorLoader(images, torch.arange(200), 50, shuffle=True, seed=7)])
    assert torch.equal(first, again)
    # images stay paired with their labels
    for x, y in TensorLoader(images, torch.arange(200), 50, shuffle=True, seed=3):
        assert torch.equal(x[:, 0, 0, 0].mul(255).round().long(), y % 256)   # no mean/std: u8 / 255


def test_no_shuffle_keeps_order():
    images, labels = make(50)
    y = torch.cat([y for _, y in TensorLoader(images, labels, 16)])
    assert torch.equal(y, labels)


def test_normalisation_matches_torchvision_normalize():
    from torchvision.transforms import v2

    images, labels = make(64, c=3)
    mean, std = (0.4914, 0.4822, 0.4465), (0.247, 0.243, 0.261)
    x, _ = next(iter(TensorLoader(images, labels, 64, mean=mean, std=std)))
    ref = v2.Normalize(mean, std)(images.float() / 255)
    torch.testing.assert_close(x, ref, atol=1e-5, rtol=1e-5)


def test_normalised_batches_have_zero_mean_unit_std():
    images = (torch.rand(2000, 1, 10, 10) * 255).to(torch.uint8)
    u = images.float() / 255
    mean, std = u.mean().item(), u.std().item()
    x, _ = next(iter(TensorLoader(images, torch.zeros(2000, dtype=torch.long), 2000, mean=[mean], std=[std])))
    assert abs(x.mean().item()) < 1e-3 and abs(x.std().item() - 1) < 1e-3


def test_augment_and_transform_are_applied_per_batch():
    images, labels = make(10)
    calls = []

    def augment(x, g):
        calls.append(x.shape)
        return x + 1

    loader = TensorLoader(images, labels, 5, augment=augment, transform=lambda x: x * 0)
    out = list(loader)
    assert len(calls) == 2 and all(torch.all(x == 0) for x, _ in out)


def test_the_loader_leaves_the_memory_layout_to_fit():
    images, labels = make(8, c=3)
    x, _ = next(iter(TensorLoader(images, labels, 8)))
    assert x.is_contiguous()   # fit / evaluate / predict put it in the model's layout


@pytest.mark.parametrize("bad", [torch.zeros(4, 8, 8, dtype=torch.uint8), torch.zeros(4, 1, 8, 8)])
def test_bad_images_rejected(bad):
    with pytest.raises(ValueError, match="uint8 tensor of shape"):
        TensorLoader(bad, torch.zeros(4, dtype=torch.long), 2)


def test_bad_labels_and_stats_rejected():
    images, labels = make(4)
    with pytest.raises(ValueError, match="labels"):
        TensorLoader(images, labels[:3], 2)
    with pytest.raises(ValueError, match="one per channel"):
        TensorLoader(images, labels, 2, mean=[0.5, 0.5], std=[0.2, 0.2])


def test_imagedata_subset_and_loader():
    images, labels = make(100)
    data = ImageData(images, labels, [str(i) for i in range(10)], (0.5,), (0.25,))
    sub = data.subset(30, seed=1)
    assert len(sub) == 30 and sub.subset(30) is sub
    assert torch.equal(sub.images, data.subset(30, seed=1).images)
    x, _ = next(iter(sub.loader(30)))
    torch.testing.assert_close(x, (sub.images.float() / 255 - 0.5) / 0.25)
