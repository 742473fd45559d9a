import gzip

import pytest
import torch

from course_utils.data.errors import CorruptDataError, DataMissingError
from course_utils.data.mnist import MNIST_FILES, SMOKE_SIZES, load_mnist


def test_real_archives_are_verified_and_extracted(mnist_root):
    """torchvision's download path: md5s checked, archives extracted, no network needed."""
    test = load_mnist(False, root=mnist_root, smoke=False)
    assert test.images.shape == (10_000, 1, 28, 28) and test.images.dtype == torch.uint8
    assert test.labels.shape == (10_000,) and set(test.labels.tolist()) == set(range(10))
    assert not test.standin
    assert (mnist_root / "MNIST" / "raw" / "t10k-images-idx3-ubyte").exists()


def test_smoke_mode_takes_a_fixed_subset(mnist_root):
    a = load_mnist(True, root=mnist_root, smoke=True)
    b = load_mnist(True, root=mnist_root, smoke=True)
    assert len(a) == SMOKE_SIZES["train"] and torch.equal(a.labels, b.labels)
    assert len(set(a.labels.tolist())) == 10


@pytest.mark.parametrize("damage", ["truncate", "corrupt"])
def test_damaged_archive_is_named(mnist_root, damage):
    path = mnist_root / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else data[:100] + b"x" + data[101:])
    with pytest.raises(CorruptDataError, match="train-labels-idx1-ubyte.gz is corrupt or truncated"):
        load_mnist(True, root=mnist_root, smoke=False)


def test_missing_data_full_mode_says_which_files_where(tmp_path, capsys):
    with pytest.raises(DataMissingError) as info:
        load_mnist(True, root=tmp_path, smoke=False)
    msg = str(info.value)
    assert "MNIST" in msg and str(tmp_path / "MNIST" / "raw") in msg
    for name in MNIST_FILES:
        assert name in msg
    assert "Traceback" not in capsys.readouterr().out  # torchvision's mirror chatter is hidden
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_missing_data_smoke_mode_uses_loud_standin(tmp_path, capsys):
    data = load_mnist(True, root=tmp_path, smoke=True)
    assert data.standin and "stand-in" in data.name
    assert data.images.shape == (SMOKE_SIZES["train"], 1, 28, 28) and data.images.dtype == torch.uint8
    assert set(data.labels.tolist()) == set(range(10))
    assert "STAND-IN DATA" in capsys.readouterr().err


def test_partly_present_archives_name_only_the_missing(mnist_root):
    (mnist_root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataMissingError) as info:
        load_mnist(False, root=mnist_root, smoke=False)
    assert info.value.files == ["t10k-labels-idx1-ubyte.gz"]


def test_archives_are_real_gzip(mnist_root):
    with gzip.open(mnist_root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz") as f:
        assert int.from_bytes(f.read(4), "big") == 2049  # IDX magic for labels


def test_garbage_archive_is_named_without_real_data(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "t10k-images-idx3-ubyte.gz").write_bytes(b"<html>not found</html>")  # a bad mirror's page
    for smoke in (False, True):  # never replaced by a stand-in
        with pytest.raises(CorruptDataError, match="t10k-images-idx3-ubyte.gz is corrupt"):
            load_mnist(False, root=tmp_path, smoke=smoke)
