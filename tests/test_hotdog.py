import shutil

import pytest
import torch

import course_utils.data.hotdog as hotdog
from course_utils.data.download import CorruptDataError, DataMissingError
from course_utils.data.hotdog import CLASSES, SMOKE_SIZES, load_hotdog
from course_utils.data.photos import AugmentedLoader, make_loaders
from course_utils.settings import data_root
from tests.conftest import SHARED_DATA


def find_hotdog():
    for folder in (data_root() / "hotdog", SHARED_DATA / "hotdog"):
        if (folder / "train" / "hotdog").is_dir():
            return folder
    return None


@pytest.fixture
def hotdog_root(tmp_path):
    """A data root with a small real hot dog folder (4 images per class and split)."""
    src = find_hotdog()
    if src is None:
        pytest.skip("no real hot dog images here")
    for split in ("train", "test"):
        for c in CLASSES:
            dest = tmp_path / "hotdog" / split / c
            dest.mkdir(parents=True)
            for f in sorted((src / split / c).glob("*.jpg"))[:4]:
                shutil.copy(f, dest / f.name)
    return tmp_path


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setattr(hotdog, "URL", "http://127.0.0.1:9/hotdog.zip")


def test_folder_is_used_as_is(hotdog_root):
    data = load_hotdog("train", root=hotdog_root, smoke=False)
    assert len(data) == 8 and data.labels.tolist() == [0] * 4 + [1] * 4 and not data.standin
    assert all(img.dtype == torch.uint8 and img.shape[0] == 3 for img in data.images)


def test_loaders_give_normalised_224_batches(hotdog_root):
    train = load_hotdog("train", root=hotdog_root, smoke=False)
    test = load_hotdog("test", root=hotdog_root, smoke=False)
    tl, te = make_loaders(train, test, 3, mean=(0.5,) * 3, std=(0.5,) * 3)
    x, y = next(iter(tl))
    assert x.shape == (3, 3, 224, 224) and x.dtype == torch.float32 and y.shape == (3,)
    assert -1.0 - 1e-5 <= x.min() and x.max() <= 1.0 + 1e-5
    assert x.is_contiguous()   # the layout is fit's to choose
    assert sum(len(b[1]) for b in tl) == 8
    a, b = next(iter(te))[0], next(iter(te))[0]
    assert a.shape == (3, 3, 224, 224) and torch.equal(a, b)  # test view is fixed
    first = torch.cat([b for b, _ in AugmentedLoader(train, 8, mean=(0,) * 3, std=(1,) * 3, shuffle=False)])
    second = torch.cat([b for b, _ in AugmentedLoader(train, 8, mean=(0,) * 3, std=(1,) * 3, shuffle=False)])
    assert not torch.equal(first, second)  # fresh random crops and flips


def test_missing_data_full_mode_names_folder(tmp_path, offline):
    with pytest.raises(DataMissingError) as info:
        load_hotdog("train", root=tmp_path, smoke=False)
    msg = str(info.value)
    assert str(tmp_path / "hotdog") in msg and "train/hotdog/*.jpg" in msg and "hotdog.zip" in msg
    assert list(tmp_path.iterdir()) == []  # no partial download kept


def test_missing_data_smoke_mode_is_loud(tmp_path, offline, capsys):
    data = load_hotdog("test", root=tmp_path, smoke=True)
    assert data.standin and len(data) == SMOKE_SIZES["test"] and set(data.labels.tolist()) == {0, 1}
    assert "STAND-IN DATA" in capsys.readouterr().err


@pytest.mark.parametrize("smoke", [False, True])
def test_read_only_root_without_data_says_missing_not_errno(tmp_path, read_only, smoke, capsys):
    root = read_only(tmp_path)
    if smoke:
        assert load_hotdog("train", root=root, smoke=True).standin
    else:
        with pytest.raises(DataMissingError, match="read-only, so it cannot be downloaded"):
            load_hotdog("train", root=root, smoke=False)


def test_read_only_root_with_the_archive_extracts_into_the_cache(hotdog_root, tmp_path, read_only,
                                                                 monkeypatch):
    zip_root = tmp_path / "zipped"
    zip_root.mkdir()
    shutil.make_archive(str(zip_root / "hotdog"), "zip", hotdog_root, "hotdog")
    from course_utils.data.download import file_hash
    monkeypatch.setattr(hotdog, "SHA1", file_hash(zip_root / "hotdog.zip"))
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "cache"))
    root = read_only(zip_root)
    data = load_hotdog("test", root=root, smoke=False)
    assert len(data) == 8 and (tmp_path / "cache").is_dir()


def test_partial_folder_is_an_error_in_smoke_mode_too(hotdog_root, capsys):
    shutil.rmtree(hotdog_root / "hotdog" / "test" / "not-hotdog")
    with pytest.raises(DataMissingError, match="class folder\\(s\\) are missing"):
        load_hotdog("test", root=hotdog_root, smoke=True)
    assert "STAND-IN" not in capsys.readouterr().err


def test_empty_class_folder_is_refused_by_name(hotdog_root):
    folder = hotdog_root / "hotdog" / "train" / "not-hotdog"
    for f in folder.iterdir():
        f.unlink()
    with pytest.raises(DataMissingError, match=f"empty class folder: {folder} holds no images"):
        load_hotdog("train", root=hotdog_root, smoke=False)


def test_bad_archive_is_refused(tmp_path, offline):
    (tmp_path / "hotdog.zip").write_bytes(b"not a zip")
    with pytest.raises(CorruptDataError, match="hotdog.zip is corrupt"):
        load_hotdog("train", root=tmp_path, smoke=False)


def test_undecodable_image_is_named(hotdog_root):
    bad = hotdog_root / "hotdog" / "test" / "hotdog" / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really")
    with pytest.raises(CorruptDataError, match="broken.jpg is corrupt"):
        load_hotdog("test", root=hotdog_root, smoke=False)


def test_smoke_subset_is_balanced_and_fixed(hotdog_root):
    a = load_hotdog("train", root=hotdog_root, smoke=False).subset(4, seed=0)
    b = load_hotdog("train", root=hotdog_root, smoke=False).subset(4, seed=0)
    assert a.labels.tolist() == [0, 0, 1, 1] and all(torch.equal(x, y) for x, y in zip(a.images, b.images))


def test_a_failed_download_says_why_not_no_internet(tmp_path, serve, monkeypatch):
    monkeypatch.setattr(hotdog, "URL", serve({"hotdog.zip": 503}) + "/hotdog.zip")
    with pytest.raises(DataMissingError) as info:
        load_hotdog("train", root=tmp_path, smoke=False)
    assert "could not be downloaded: the server answered HTTP 503 Service Unavailable" in str(info.value)
    assert "no internet?" not in str(info.value) and list(tmp_path.iterdir()) == []
