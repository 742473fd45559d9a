"""CIFAR-10 data: torchvision's verified archive, the image-folder export and its cache,
the error rules of full and smoke mode."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from course_utils.data import cifar
from course_utils.data.cifar import (
    ARCHIVE, CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, SMOKE_SIZES, cache_path, load_cifar10,
)
from course_utils.data.download import CorruptDataError, DataMissingError
from course_utils.settings import PACKAGE_PARENT, data_root

PER_CLASS = 3


def save(image: torch.Tensor, path: Path) -> None:
    """Write a (3, H, W) uint8 image as PNG or JPEG (by the file's suffix)."""
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(path, quality=95)


def write_export(root: Path, split: str = "train", fmt: str = "png", per_class: int = PER_CLASS) -> torch.Tensor:
    """A small image-folder export ``root/cifar10/<split>/<class>/NNNN.<fmt>``; returns the
    images written (N, 3, 32, 32) in class order."""
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (10 * per_class, 3, 32, 32), dtype=torch.uint8, generator=g)
    for i, image in enumerate(images):
        folder = root / "cifar10" / split / CIFAR10_CLASSES[i // per_class]
        folder.mkdir(parents=True, exist_ok=True)
        save(image, folder / f"{i % per_class:04d}.{fmt}")
    return images


def find_real_export() -> Path | None:
    for root in (data_root(), PACKAGE_PARENT.parent / "shared" / "data"):
        if (root / "cifar10" / "test" / "truck").is_dir():
            return root
    return None


def test_image_folder_is_decoded_in_class_order(tmp_path):
    written = write_export(tmp_path, "train", "png")
    data = load_cifar10(True, root=tmp_path, smoke=False, download=False)
    assert data.images.shape == (10 * PER_CLASS, 3, 32, 32) and data.images.dtype == torch.uint8
    assert torch.equal(data.images, written)  # PNG is lossless: exactly the pixels written
    assert data.labels.tolist() == [i // PER_CLASS for i in range(10 * PER_CLASS)]
    assert data.classes == CIFAR10_CLASSES and not data.standin
    assert data.mean == CIFAR10_MEAN and data.std == CIFAR10_STD


def test_jpeg_folder_decodes_close_to_the_original(tmp_path):
    written = write_export(tmp_path, "test", "jpg")
    data = load_cifar10(False, root=tmp_path, smoke=False, download=False)
    assert data.images.shape == written.shape
    smooth = torch.full_like(written, 128)  # random noise is JPEG's worst case: compare loosely
    assert (data.images.float() - written.float()).abs().mean() < (smooth.float() - written.float()).abs().mean()


def test_cache_is_written_then_used(tmp_path, monkeypatch):
    write_export(tmp_path, "train", "png")
    first = load_cifar10(True, root=tmp_path, smoke=False, download=False)
    path = cache_path(tmp_path, "train")
    assert path.exists() and not list(tmp_path.glob("*.tmp*"))  # written atomically

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again although the cache exists")

    monkeypatch.setattr(cifar, "decode_files", no_decoding)
    second = load_cifar10(True, root=tmp_path, smoke=False, download=False)
    assert torch.equal(first.images, second.images) and torch.equal(first.labels, second.labels)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_cache_is_rebuilt_loudly(tmp_path, capsys, damage):
    written = write_export(tmp_path, "train", "png")
    load_cifar10(True, root=tmp_path, smoke=False, download=False)
    path = cache_path(tmp_path, "train")
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2] if damage == "truncate" else b"not a tensor file")
    data = load_cifar10(True, root=tmp_path, smoke=False, download=False)
    assert torch.equal(data.images, written)
    assert f"cache {path} is invalid" in capsys.readouterr().err
    assert torch.equal(torch.load(path, weights_only=True)["images"], written)  # rebuilt


def test_stale_cache_is_rebuilt(tmp_path, capsys):
    write_export(tmp_path, "train", "png")
    load_cifar10(True, root=tmp_path, smoke=False, download=False)
    extra = tmp_path / "cifar10" / "train" / "truck" / "0099.png"
    save(torch.zeros(3, 32, 32, dtype=torch.uint8), extra)
    data = load_cifar10(True, root=tmp_path, smoke=False, download=False)
    assert len(data) == 10 * PER_CLASS + 1 and data.labels[-1] == 9
    assert "holds 30 images, the folder has 31" in capsys.readouterr().err


def test_cache_with_other_labels_is_rebuilt(tmp_path, capsys):
    """Same number of files, but one moved to another class folder."""
    write_export(tmp_path, "train", "png")
    load_cifar10(True, root=tmp_path, smoke=False, download=False)
    folder = tmp_path / "cifar10" / "train"
    (folder / "cat" / "0000.png").rename(folder / "dog" / "0099.png")
    data = load_cifar10(True, root=tmp_path, smoke=False, download=False)
    assert data.labels.bincount().tolist()[3:6] == [PER_CLASS - 1, PER_CLASS, PER_CLASS + 1]
    assert "built from other files" in capsys.readouterr().err


def test_replaced_image_rebuilds_the_cache_with_its_new_pixels(tmp_path, capsys):
    """Same files, same labels, one image replaced: the cache must not keep the old pixels."""
    written = write_export(tmp_path, "train", "png")
    load_cifar10(True, root=tmp_path, smoke=False, download=False)
    path = tmp_path / "cifar10" / "train" / "bird" / "0001.png"
    new = torch.full((3, 32, 32), 7, dtype=torch.uint8)
    save(new, path)
    os_times = path.stat()
    import os
    os.utime(path, ns=(os_times.st_atime_ns, os_times.st_mtime_ns + 1_000_000_000))  # a later edit
    data = load_cifar10(True, root=tmp_path, smoke=False, download=False)
    index = 2 * PER_CLASS + 1
    assert torch.equal(data.images[index], new) and not torch.equal(data.images[index], written[index])
    assert "an image was added, removed, moved or replaced since" in capsys.readouterr().err
    again = load_cifar10(True, root=tmp_path, smoke=False, download=False)   # rebuilt: used now
    assert torch.equal(again.images, data.images) and "invalid" not in capsys.readouterr().err


def test_read_only_data_root_caches_in_the_user_cache(tmp_path, read_only, monkeypatch, capsys):
    write_export(tmp_path / "root", "train", "png")
    root = read_only(tmp_path / "root")
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "cache"))
    first = load_cifar10(True, root=root, smoke=False, download=False)
    cached = list((tmp_path / "cache").rglob("cifar10-train.pt"))
    assert len(cached) == 1 and "is read-only" in capsys.readouterr().err
    monkeypatch.setattr(cifar, "decode_files", lambda *a, **k: pytest.fail("decoded again"))
    assert torch.equal(load_cifar10(True, root=root, smoke=False, download=False).images, first.images)


@pytest.mark.parametrize("smoke", [False, True])
def test_partial_export_is_an_error_in_both_modes_never_a_mix(tmp_path, smoke, capsys):
    write_export(tmp_path, "train", "png")
    write_export(tmp_path, "test", "png")
    folder = tmp_path / "cifar10" / "train" / "horse"
    for f in folder.iterdir():
        f.unlink()
    folder.rmdir()
    with pytest.raises(DataMissingError, match=r"1 class folder\(s\) are missing") as info:
        load_cifar10(True, root=tmp_path, smoke=smoke, download=False)
    assert info.value.files == ["horse/"]
    test = load_cifar10(False, root=tmp_path, smoke=smoke, download=False)   # complete: real, not a stand-in
    assert "STAND-IN" not in capsys.readouterr().err and not test.standin


def test_read_only_data_root_without_cifar_says_missing_not_errno(tmp_path, read_only):
    (tmp_path / "root").mkdir()
    root = read_only(tmp_path / "root")
    with pytest.raises(DataMissingError, match="read-only"):   # not OSError: [Errno 30]
        load_cifar10(True, root=root, smoke=False, download=True)


def test_empty_class_folder_is_refused_by_name(tmp_path):
    write_export(tmp_path, "train", "png")
    folder = tmp_path / "cifar10" / "train" / "ship"
    for f in folder.iterdir():
        f.unlink()
    with pytest.raises(DataMissingError, match=f"empty class folder: {folder} holds no images"):
        load_cifar10(True, root=tmp_path, smoke=False, download=False)


def test_archive_is_read_without_extracting(tmp_path, monkeypatch, read_only):
    """torchvision's tar.gz, read straight from a read-only data root."""
    import io
    import pickle
    import tarfile
    import numpy as np

    archive = tmp_path / "root" / ARCHIVE
    archive.parent.mkdir()
    g = np.random.default_rng(0)
    batches = {f"data_batch_{i}": 4 for i in range(1, 6)} | {"test_batch": 3}
    with tarfile.open(archive, "w:gz") as tar:
        for name, n in batches.items():
            blob = pickle.dumps({"data": g.integers(0, 256, (n, 3072), dtype=np.uint8),
                                 "labels": list(range(n))})
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    from course_utils.data.download import file_hash
    monkeypatch.setattr(cifar, "ARCHIVE_MD5", file_hash(archive, "md5"))
    root = read_only(archive.parent)
    train = load_cifar10(True, root=root, smoke=False)
    test = load_cifar10(False, root=root, smoke=False)
    assert train.images.shape == (20, 3, 32, 32) and test.images.shape == (3, 3, 32, 32)
    assert train.name == "CIFAR-10 train" and list(root.iterdir()) == [root / ARCHIVE]


def test_corrupt_image_is_named(tmp_path):
    write_export(tmp_path, "train", "jpg")
    bad = tmp_path / "cifar10" / "train" / "dog" / "0001.jpg"
    bad.write_bytes(bad.read_bytes()[:40])
    with pytest.raises(CorruptDataError, match=str(bad)):
        load_cifar10(True, root=tmp_path, smoke=False, download=False)
    assert not cache_path(tmp_path, "train").exists()


def test_wrong_image_size_is_named(tmp_path):
    write_export(tmp_path, "train", "png")
    bad = tmp_path / "cifar10" / "train" / "cat" / "0000.png"
    save(torch.zeros(3, 28, 28, dtype=torch.uint8), bad)
    with pytest.raises(CorruptDataError, match=r"0000.png .*32x32 RGB"):
        load_cifar10(True, root=tmp_path, smoke=False, download=False)


def test_missing_class_folder_is_named(tmp_path):
    write_export(tmp_path, "train", "png")
    for f in (tmp_path / "cifar10" / "train" / "frog").iterdir():
        f.unlink()
    (tmp_path / "cifar10" / "train" / "frog").rmdir()
    with pytest.raises(DataMissingError) as info:
        load_cifar10(True, root=tmp_path, smoke=False, download=False)
    assert str(tmp_path / "cifar10" / "train" / "frog") in str(info.value)
    assert "cat" not in info.value.files


def test_missing_data_full_mode_says_what_to_put_where(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cifar, "URL", f"http://127.0.0.1:9/{ARCHIVE}")     # nothing listens there
    with pytest.raises(DataMissingError) as info:
        load_cifar10(True, root=tmp_path, smoke=False)  # tries the download: refused
    msg = str(info.value)
    assert ARCHIVE in msg and str(tmp_path / "cifar10") in msg and "airplane" in msg
    assert "could not be downloaded: 127.0.0.1 refused the connection" in msg
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    assert info.value.__cause__ is None


def test_corrupt_archive_is_refused(tmp_path):
    """torchvision's archive is md5-checked before anything is extracted from it."""
    (tmp_path / ARCHIVE).write_bytes(b"\x1f\x8b" + b"x" * 1000)
    with pytest.raises(CorruptDataError, match=f"{ARCHIVE} is corrupt"):
        load_cifar10(True, root=tmp_path, smoke=False)


def test_missing_data_smoke_mode_uses_loud_standin(tmp_path, capsys):
    data = load_cifar10(False, root=tmp_path, smoke=True, download=False)
    assert data.standin and "stand-in" in data.name
    assert data.images.shape == (SMOKE_SIZES["test"], 3, 32, 32) and data.images.dtype == torch.uint8
    assert set(data.labels.tolist()) == set(range(10))
    assert "STAND-IN DATA" in capsys.readouterr().err


def test_smoke_mode_decodes_only_a_subset_and_writes_no_cache(tmp_path, monkeypatch):
    write_export(tmp_path, "train", "png", per_class=5)
    monkeypatch.setitem(SMOKE_SIZES, "train", 20)
    a = load_cifar10(True, root=tmp_path, smoke=True, download=False)
    b = load_cifar10(True, root=tmp_path, smoke=True, download=False)
    assert len(a) == 20 and torch.equal(a.images, b.images) and not a.standin
    assert not cache_path(tmp_path, "train").exists()


@pytest.fixture(scope="module")
def real_test_split():
    root = find_real_export()
    if root is None:
        pytest.skip("the CIFAR-10 image-folder export is not available")
    # decoded without the cache: the tests write nothing into the data root
    images, labels = cifar.load_folder(root, "test", cache=False)
    return cifar.ImageData(images, labels, CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, name="test")


def test_real_export_shapes_classes_and_statistics(real_test_split):
    data = real_test_split
    assert data.images.shape == (10_000, 3, 32, 32) and data.images.dtype == torch.uint8
    assert data.labels.bincount().tolist() == [1000] * 10
    mean = data.images.float().div(255).mean((0, 2, 3))
    torch.testing.assert_close(mean, torch.tensor(CIFAR10_MEAN), atol=0.01, rtol=0)


def test_real_batches_are_normalised(real_test_split):
    x, y = next(iter(real_test_split.loader(5000, shuffle=True, seed=0)))
    assert x.dtype == torch.float32 and x.shape == (5000, 3, 32, 32) and y.shape == (5000,)
    per_channel_mean, per_channel_std = x.mean((0, 2, 3)), x.std((0, 2, 3))
    assert per_channel_mean.abs().max() < 0.05
    assert (per_channel_std - 1).abs().max() < 0.05


@pytest.mark.parametrize("smoke", [False, True])
def test_a_failed_download_gives_its_real_cause(tmp_path, serve, monkeypatch, smoke, capsys):
    base = serve({})                                    # every name: 404
    monkeypatch.setattr(cifar, "URL", f"{base}/{ARCHIVE}")
    if smoke:
        assert load_cifar10(False, root=tmp_path, smoke=True).standin
        assert "the download failed: the server answered HTTP 404 Not Found" in capsys.readouterr().err
    else:
        with pytest.raises(DataMissingError, match="could not be downloaded: the server answered HTTP 404 Not Found"):
            load_cifar10(True, root=tmp_path, smoke=False)
        assert f"Downloading CIFAR-10: {ARCHIVE} from {base}/{ARCHIVE} into {tmp_path}" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []
