import gzip
import hashlib
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from course_utils.data.download import CorruptDataError, DataMissingError
from course_utils.data.mnist import DATASETS, MNIST_FILES, SMOKE_SIZES, load_mnist, read_idx


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Downloads go to 127.0.0.1:9, where nothing listens: the tests never reach the internet."""
    for spec in DATASETS.values():
        monkeypatch.setattr(spec.tv_class, "mirrors", ["http://127.0.0.1:9/"])


def test_real_archives_are_verified_and_read_without_writing(mnist_root):
    before = sorted(p.name for p in (mnist_root / "MNIST" / "raw").iterdir())
    test = load_mnist(False, root=mnist_root, smoke=False)
    assert test.images.shape == (10_000, 1, 28, 28) and test.images.dtype == torch.uint8
    assert test.labels.shape == (10_000,) and set(test.labels.tolist()) == set(range(10))
    assert not test.standin and test.classes == [str(d) for d in range(10)]
    assert sorted(p.name for p in (mnist_root / "MNIST" / "raw").iterdir()) == before  # no extraction


def test_mnist_statistics_are_the_training_splits(mnist_root):
    train = load_mnist(True, root=mnist_root, smoke=False)
    pixels = train.images.float() / 255
    assert round(pixels.mean().item(), 4) == DATASETS["MNIST"].mean[0]
    assert round(pixels.std().item(), 4) == DATASETS["MNIST"].std[0]


def test_read_only_data_root_with_good_archives_works(mnist_root, read_only):
    root = read_only(mnist_root)
    data = load_mnist(True, root=root, smoke=False)
    assert len(data) == 60_000 and not data.standin


def test_read_only_data_root_without_data_says_missing_not_errno(tmp_path, read_only):
    root = read_only(tmp_path)
    with pytest.raises(DataMissingError, match="read-only, so it cannot be downloaded into it"):
        load_mnist(True, root=root, smoke=False)


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
    with pytest.raises(CorruptDataError, match="train-labels-idx1-ubyte.gz is corrupt or truncated") as info:
        load_mnist(True, root=mnist_root, smoke=False)
    assert info.value.path == path   # one file named, never the folder of good archives


def test_truncated_extracted_file_beside_good_archives_is_ignored(mnist_root):
    """What an older torchvision extracted: a cut copy must not make good archives look bad."""
    raw = mnist_root / "MNIST" / "raw"
    (raw / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 100)
    data = load_mnist(True, root=mnist_root, smoke=False)
    assert data.images.shape == (60_000, 1, 28, 28)


def test_truncated_extracted_file_alone_is_named(mnist_root):
    raw = mnist_root / "MNIST" / "raw"
    with gzip.open(raw / "t10k-images-idx3-ubyte.gz") as f:
        (raw / "t10k-images-idx3-ubyte").write_bytes(f.read()[:5000])
    (raw / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(CorruptDataError) as info:
        load_mnist(False, root=mnist_root, smoke=False)
    assert info.value.path == raw / "t10k-images-idx3-ubyte"
    assert "header promises 7,840,000 values, the file holds 4,984" in str(info.value)


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


@pytest.mark.parametrize("smoke", [False, True])
def test_partly_present_archives_are_an_error_naming_only_the_missing(mnist_root, smoke, capsys):
    (mnist_root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").unlink()
    for train in (True, False):   # both splits: no stand-in for either
        with pytest.raises(DataMissingError, match="MNIST is only partly there") as info:
            load_mnist(train, root=mnist_root, smoke=smoke)
        assert info.value.files == ["t10k-labels-idx1-ubyte.gz"]
    assert "STAND-IN" not in capsys.readouterr().err


def test_archives_are_real_gzip(mnist_root):
    with gzip.open(mnist_root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz") as f:
        assert int.from_bytes(f.read(4), "big") == 2049  # IDX magic for labels


def test_garbage_archive_is_named_without_real_data(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in MNIST_FILES:
        (raw / name).write_bytes(b"<html>not found</html>")  # a bad mirror's page
    for smoke in (False, True):  # never replaced by a stand-in
        with pytest.raises(CorruptDataError, match="-ubyte.gz is corrupt"):
            load_mnist(False, root=tmp_path, smoke=smoke)


# ---------------------------------------------------------------- the other data sets
def write_idx(path: Path, array: torch.Tensor) -> str:
    """An IDX file of ``array`` (uint8), gzip-compressed; returns its md5."""
    header = bytes([0, 0, 8, array.dim()]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.numpy().tobytes())
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def generated(tmp_path, monkeypatch):
    """``make(name)``: small generated archives in the torchvision layout for data set ``name``,
    with the spec's md5s set to theirs (the real ones are not here)."""
    def make(name: str, n: int = 30) -> Path:
        spec = DATASETS[name]
        raw = tmp_path / spec.name / "raw"
        raw.mkdir(parents=True)
        g = torch.Generator().manual_seed(0)
        md5s = {}
        for prefix, count in (("train", n), ("t10k", n // 2)):
            images = torch.randint(0, 256, (count, 28, 28), dtype=torch.uint8, generator=g)
            labels = torch.arange(count, dtype=torch.uint8) % 10
            md5s[f"{prefix}-images-idx3-ubyte.gz"] = write_idx(raw / f"{prefix}-images-idx3-ubyte.gz", images)
            md5s[f"{prefix}-labels-idx1-ubyte.gz"] = write_idx(raw / f"{prefix}-labels-idx1-ubyte.gz", labels)
        fake_tv = type(spec.tv_class.__name__, (), {"resources": list(md5s.items())})
        monkeypatch.setitem(DATASETS, name, replace(spec, tv_class=fake_tv))
        return tmp_path
    return make


@pytest.mark.parametrize("name, classes", [("FashionMNIST", ["T-shirt", "trouser"]),
                                           ("KMNIST", ["o", "ki"])])
def test_other_grayscale_sets_load_with_their_own_statistics_and_names(generated, name, classes):
    root = generated(name)
    train = load_mnist(True, dataset=name, root=root, smoke=False)
    test = load_mnist(False, dataset=name.lower().replace("mnist", "-mnist"), root=root, smoke=False)
    assert len(train) == 30 and len(test) == 15 and train.images.shape[1:] == (1, 28, 28)
    assert train.classes[:2] == classes and train.name == f"{name} train"
    assert train.mean == DATASETS[name].mean and train.mean != DATASETS["MNIST"].mean


@pytest.mark.parametrize("name", ["FashionMNIST", "KMNIST"])
def test_other_sets_offline_name_their_files_and_folder(tmp_path, name):
    with pytest.raises(DataMissingError) as info:
        load_mnist(True, dataset=name, root=tmp_path, smoke=False)
    assert str(tmp_path / name / "raw") in str(info.value)
    assert "train-images-idx3-ubyte.gz" in str(info.value) and f"datasets.{name}" in str(info.value)


def test_unknown_dataset_lists_the_choices():
    with pytest.raises(ValueError, match="choose one of MNIST, FashionMNIST, KMNIST"):
        load_mnist(True, dataset="EMNIST")


def test_read_idx_rejects_wrong_headers(tmp_path):
    path = tmp_path / "x-idx1-ubyte"
    path.write_bytes(b"\x00\x00\x0d\x01" + (3).to_bytes(4, "big") + b"\x00" * 12)  # floats
    with pytest.raises(CorruptDataError, match="not an IDX file of bytes"):
        read_idx(path)
    path.write_bytes(b"\x00\x00\x08\x01" + (3).to_bytes(4, "big") + b"\x01\x02\x03")
    assert read_idx(path).tolist() == [1, 2, 3]


def test_standin_splits_share_their_classes(tmp_path):
    """A model that learns the stand-in training split must do as well on its test split."""
    from course_utils.data.standin import make_standin
    a = make_standin("X", 200, (1, 8, 8), list("abcd"), (0.5,), (0.25,), seed=0)
    b = make_standin("X", 200, (1, 8, 8), list("abcd"), (0.5,), (0.25,), seed=1)
    mean_a = torch.stack([a.images[a.labels == k].float().mean(0) for k in range(4)])
    mean_b = torch.stack([b.images[b.labels == k].float().mean(0) for k in range(4)])
    assert (mean_a - mean_b).abs().mean() < 15           # the same class templates...
    assert (mean_a[0] - mean_a[1]).abs().mean() > 30     # ...which differ between classes
    assert not torch.equal(a.images, b.images)           # other noise


@pytest.fixture
def mirror(mnist_root, monkeypatch, serve):
    """A local MNIST mirror (127.0.0.1, conftest's ``serve``) serving the real archives;
    ``mirror.cut = {names}`` serves those truncated, with an honest Content-Length.
    Downloads go to it as to torchvision's own mirrors."""
    from torchvision import datasets

    archives = {p.name: p.read_bytes() for p in (mnist_root / "MNIST" / "raw").glob("*.gz")}
    served = dict(archives)          # looked up at every request

    class Mirror:
        def _cut(self, names: set[str]) -> None:
            served.update({n: body[: len(body) // 3] if n in names else body for n, body in archives.items()})

        cut = property(fset=_cut)

    monkeypatch.setattr(datasets.MNIST, "mirrors", [f"{serve(served)}/mnist/"])
    return Mirror()


def test_download_failing_its_md5_leaves_nothing_and_the_next_run_downloads_again(mirror, tmp_path, capsys):
    """Before: the short .gz stayed; every later run said 'only partly there' (never naming
    it, never downloading again) and smoke mode got neither data nor a stand-in."""
    mirror.cut = {"t10k-images-idx3-ubyte.gz"}   # the third of four: two good ones come first
    root = tmp_path / "data"
    with pytest.raises(DataMissingError, match="MNIST is not in the data root"):
        load_mnist(False, root=root, smoke=False)
    assert [p.name for p in (root / "MNIST" / "raw").iterdir()] == []   # nothing kept
    assert load_mnist(False, root=root, smoke=True).standin              # smoke: the stand-in
    assert "STAND-IN" in capsys.readouterr().err
    mirror.cut = set()                                                    # the network recovers
    data = load_mnist(False, root=root, smoke=False)
    assert not data.standin and data.images.shape == (10_000, 1, 28, 28)


def test_a_bad_archive_beside_missing_ones_is_named_as_bad(mnist_root):
    raw = mnist_root / "MNIST" / "raw"
    bad = raw / "train-labels-idx1-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:500])
    (raw / "t10k-labels-idx1-ubyte.gz").unlink()
    for smoke in (False, True):
        with pytest.raises(CorruptDataError, match="train-labels-idx1-ubyte.gz is corrupt") as info:
            load_mnist(False, root=mnist_root, smoke=smoke)
        assert info.value.path == bad and "md5 does not match" in str(info.value)


def test_download_tries_each_mirror_and_names_each_ones_failure(tmp_path, serve, capsys):
    from course_utils.data import mnist
    archives = {f"{p}-{k}-idx{d}-ubyte.gz": gzip.compress(bytes([0, 0, 8, d, 0, 0, 0, 2]) + bytes(2 * 784 ** (d == 3)))
                for p in ("train", "t10k") for k, d in (("images", 3), ("labels", 1))}
    good = serve(archives)
    broken = serve({name: 503 for name in archives})

    class Mirrored:
        mirrors = [f"{broken}/", f"{good}/"]
        resources = [(name, hashlib.md5(data).hexdigest()) for name, data in archives.items()]
    spec = replace(DATASETS["MNIST"], name="Tiny", tv_class=Mirrored)
    raw = tmp_path / "Tiny" / "raw"
    mnist._download(spec, raw, timeout=5)          # the first mirror fails, the second serves
    assert sorted(p.name for p in raw.iterdir()) == sorted(archives)
    out = capsys.readouterr()
    assert f"Downloading Tiny: train-images-idx3-ubyte.gz from {good}/train-images-idx3-ubyte.gz" in out.out
    assert "100%" in out.err
    Mirrored.mirrors = [f"{broken}/", "http://127.0.0.1:9/"]
    with pytest.raises(DataMissingError) as info:
        mnist._download(spec, tmp_path / "other" / "Tiny" / "raw", timeout=5)
    msg = str(info.value)
    assert "Every mirror failed:" in msg and "no internet?" not in msg
    assert f"{broken}/train-images-idx3-ubyte.gz: the server answered HTTP 503 Service Unavailable" in msg
    assert "http://127.0.0.1:9/train-images-idx3-ubyte.gz: 127.0.0.1 refused the connection" in msg
