"""Photo folders a student points at: any class names, any common image format, strict checks."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from course_utils.data.download import DataMissingError
from course_utils.data.folders import FolderLayoutError, NotAnImageError, list_split, open_rgb, to_rgb
from course_utils.data.photos import load_photo_folder, small_images_note


def image_files(folder: Path) -> dict[str, Path]:
    """One file of each kind the course promises to read, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rgb = np.zeros((40, 60, 3), np.uint8)
    rgb[:, :30] = (200, 30, 10)
    made = {}

    def put(name, image, **kw):
        image.save(folder / name, **kw)
        made[name] = folder / name

    put("photo.jpg", Image.fromarray(rgb))
    put("photo.webp", Image.fromarray(rgb))
    put("photo.bmp", Image.fromarray(rgb))
    put("photo.tiff", Image.fromarray(rgb))
    put("gray.png", Image.fromarray(rgb[..., 0]))
    put("deep.png", Image.fromarray((np.arange(40 * 60).reshape(40, 60) * 27).astype(np.uint16)))
    put("palette.png", Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=4))
    alpha = np.dstack([rgb, np.full((40, 60), 128, np.uint8)])
    put("alpha.png", Image.fromarray(alpha))
    put("cmyk.jpg", Image.fromarray(rgb).convert("CMYK"))
    return made


def test_every_common_format_decodes_to_rgb_uint8(tmp_path):
    for name, path in image_files(tmp_path).items():
        img = open_rgb(path)
        assert img.dtype == torch.uint8 and img.shape == (3, 40, 60), name


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path):
    path = tmp_path / "deep.png"
    Image.fromarray(np.full((4, 4), 65535, np.uint16)).save(path)
    assert open_rgb(path).min() == 255
    Image.fromarray(np.full((4, 4), 32768, np.uint16)).save(path)
    assert open_rgb(path).max() == 128            # half-way stays half-way (clipping would say 255)


def test_transparency_is_flattened_onto_white():
    clear = Image.fromarray(np.zeros((2, 2, 4), np.uint8))   # fully transparent black
    assert np.asarray(to_rgb(clear)).min() == 255


def test_unreadable_and_non_image_files_are_named(tmp_path):
    good = image_files(tmp_path / "train" / "cats")
    image_files(tmp_path / "train" / "dogs")
    (tmp_path / "train" / "dogs" / ".DS_Store").write_bytes(b"system file")   # skipped quietly
    classes, files, _ = list_split(tmp_path / "train")
    assert classes == ["cats", "dogs"] and len(files) == 2 * len(good)
    (tmp_path / "train" / "dogs" / "notes.txt").write_text("my notes")
    with pytest.raises(NotAnImageError, match="notes.txt is corrupt or truncated \\(not an image file"):
        list_split(tmp_path / "train")
    (tmp_path / "train" / "dogs" / "notes.txt").unlink()
    broken = tmp_path / "train" / "dogs" / "broken.png"
    broken.write_bytes(good["alpha.png"].read_bytes()[:60])
    with pytest.raises(NotAnImageError, match="broken.png is corrupt or truncated.*Fix or convert"):
        load_photo_folder(tmp_path, "train")


def test_any_class_names_two_or_more_and_the_same_in_test(tmp_path):
    for split in ("train", "test"):
        for name in ("tabby cat", "Ölfarbe", "z-last"):
            image_files(tmp_path / split / name)
    train = load_photo_folder(tmp_path, "train")
    test = load_photo_folder(tmp_path, "test")
    assert train.classes == test.classes == ["tabby cat", "z-last", "Ölfarbe"]
    assert len(train) == 27 and train.labels.bincount().tolist() == [9, 9, 9]
    (tmp_path / "test" / "extra").mkdir()
    image_files(tmp_path / "test" / "extra")
    with pytest.raises(DataMissingError, match="class folders the training split does not have \\(extra\\)"):
        load_photo_folder(tmp_path, "test")


def test_one_class_or_none_is_refused(tmp_path):
    image_files(tmp_path / "train" / "only")
    with pytest.raises(DataMissingError, match="needs at least 2 class folders.*it has 1 \\(only\\)"):
        load_photo_folder(tmp_path, "train")
    with pytest.raises(DataMissingError, match="does not exist"):
        load_photo_folder(tmp_path / "nowhere", "train")


def test_empty_class_folder_in_your_own_photos_is_refused_by_name(tmp_path):
    image_files(tmp_path / "train" / "cats")
    (tmp_path / "train" / "dogs").mkdir()
    with pytest.raises(DataMissingError, match="dogs"):
        load_photo_folder(tmp_path, "train")


def test_pointed_at_folder_is_never_replaced_by_a_download(tmp_path, monkeypatch):
    import course_utils.data.download as download
    monkeypatch.setattr(download, "download", lambda *a, **k: pytest.fail("tried to download"))
    image_files(tmp_path / "train" / "a")
    with pytest.raises(DataMissingError):
        load_photo_folder(tmp_path, "train")   # one class: an error, not the d2l set


def test_small_photos_get_a_note(tmp_path, capsys):
    for name in ("a", "b"):
        image_files(tmp_path / "train" / name)
    data = load_photo_folder(tmp_path, "train")
    assert "smaller than 112 px" in capsys.readouterr().err
    note = small_images_note(data, 224)
    assert note.startswith("note: 18 of 18") and "the smallest: 40 px" in note
    assert small_images_note(data, 64) is None


# ---------------------------------------------------------------- what a listing must not skip
def two_classes(root: Path) -> Path:
    for name in ("hotdog", "not-hotdog"):
        image_files(root / "train" / name)
    return root / "train" / "hotdog"


def test_a_symbolic_link_loop_is_named_not_a_raw_oserror(tmp_path):
    folder = two_classes(tmp_path)
    (folder / "self.jpg").symlink_to("self.jpg")          # ln -s self.jpg train/hotdog/self.jpg
    with pytest.raises(FolderLayoutError, match="self.jpg is a symbolic link that cannot be followed.*itself"):
        list_split(tmp_path / "train")


def test_a_symbolic_link_loop_in_the_cifar_export_is_named(tmp_path):
    from course_utils.data.cifar import load_cifar10
    from test_cifar import write_export
    write_export(tmp_path, "train")
    (tmp_path / "cifar10" / "train" / "cat" / "loop.png").symlink_to("loop.png")
    with pytest.raises(FolderLayoutError, match="loop.png is a symbolic link"):
        load_cifar10(True, root=tmp_path, smoke=False, download=False)


def test_a_dangling_symbolic_link_is_named(tmp_path):
    folder = two_classes(tmp_path)
    (folder / "gone.jpg").symlink_to(tmp_path / "moved-away.jpg")
    with pytest.raises(FolderLayoutError, match="gone.jpg is a symbolic link to .*moved-away.jpg, which does not exist"):
        list_split(tmp_path / "train")


def test_photos_in_a_sub_folder_of_a_class_folder_are_named(tmp_path):
    folder = two_classes(tmp_path)
    image_files(folder / "more" / "deeper")                # 9 photos that would be ignored
    with pytest.raises(FolderLayoutError, match=r"hotdog/more is a folder inside the class folder .*holding 9 image\(s\)"):
        list_split(tmp_path / "train")


def test_a_class_folder_with_only_sub_folders_says_so(tmp_path):
    two_classes(tmp_path)
    image_files(tmp_path / "train" / "pizza" / "2024")
    with pytest.raises(FolderLayoutError, match="pizza/2024 is a folder inside.*this one has none besides it"):
        load_photo_folder(tmp_path, "train")


def test_images_over_the_pixel_cap_are_refused_or_reduced_while_decoding(tmp_path, monkeypatch, capsys):
    """Folders had no cap (uploads had 40 megapixels): a 10000x10000 PNG cost about 1 GB of
    peak memory. Here the cap is made small to test it on small files."""
    from course_utils.data import folders
    monkeypatch.setattr(folders, "MAX_PIXELS", 10_000)
    monkeypatch.setattr(folders, "_noted", set())
    pixels = np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "huge.png")
    with pytest.raises(NotAnImageError, match=r"huge.png is .*\(400x300 pixels, over the 10,000 pixels"):
        open_rgb(tmp_path / "huge.png")
    Image.fromarray(pixels).save(tmp_path / "huge.jpg")
    small = open_rgb(tmp_path / "huge.jpg")
    assert small.shape[1] * small.shape[2] <= 10_000 and abs(small.shape[2] / small.shape[1] - 4 / 3) < 0.05
    assert "huge.jpg is 400x300 pixels; images over 10,000 pixels are reduced" in capsys.readouterr().err
    assert open_rgb(tmp_path / "huge.jpg").shape == small.shape and capsys.readouterr().err == ""  # said once
