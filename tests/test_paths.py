"""Where the course keeps things: checkout or per-user home, and every folder setting checked."""

import pytest

from course_utils import paths
from course_utils.paths import SettingError


def test_data_root_default_and_absolute_setting(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_DATA", raising=False)
    assert paths.data_root() == paths.PACKAGE_PARENT / "data"   # this checkout's data/
    monkeypatch.setenv("COURSE_DATA", str(tmp_path))
    assert paths.data_root() == tmp_path.resolve()
    assert f"data root: {tmp_path.resolve()} (from COURSE_DATA=" in paths.describe_data_root()


def test_relative_data_root_is_taken_from_the_launch_folder_not_the_kernels(monkeypatch, tmp_path):
    """A kernel runs in notebooks/, but a relative COURSE_DATA means the folder the user
    launched from, which the kernel inherits as PWD."""
    launched, kernel = tmp_path / "course", tmp_path / "course" / "notebooks"
    kernel.mkdir(parents=True)
    monkeypatch.chdir(kernel)
    monkeypatch.setenv("PWD", str(launched))
    monkeypatch.setenv("COURSE_DATA", "mydata")
    assert paths.data_root() == launched / "mydata"
    assert not (kernel / "mydata").exists()   # nothing created where the kernel runs


def test_relative_data_root_without_a_launch_folder_is_refused(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PWD", raising=False)
    monkeypatch.setenv("COURSE_DATA", "mydata")
    with pytest.raises(SettingError, match="COURSE_DATA='mydata' is a relative path.*absolute path"):
        paths.data_root()


@pytest.mark.parametrize("name, getter", [("COURSE_DATA", paths.data_root),
                                          ("COURSE_RESULTS", paths.results_root),
                                          ("COURSE_FIGURES", paths.figures_root)])
def test_a_folder_setting_that_names_a_file_is_one_clear_error(monkeypatch, tmp_path, name, getter):
    file = tmp_path / "notes.txt"
    file.write_text("not a folder")
    monkeypatch.setenv(name, str(file))
    with pytest.raises(SettingError, match=f"{name} points at {file}, which is a file, not a folder"):
        getter()


def test_every_loader_gives_the_same_message_for_a_data_root_that_is_a_file(monkeypatch, tmp_path):
    from course_utils.data.cifar import load_cifar10
    from course_utils.data.hotdog import load_hotdog
    from course_utils.data.mnist import load_mnist
    file = tmp_path / "data.zip"
    file.write_text("not a folder")
    monkeypatch.setenv("COURSE_DATA", str(file))
    for load, split in ((load_mnist, True), (load_cifar10, True), (load_hotdog, "train")):
        with pytest.raises(SettingError, match=f"COURSE_DATA points at {file}, which is a file, not a folder"):
            load(split)


def test_student_runs_go_to_build_not_the_committed_results(monkeypatch):
    monkeypatch.delenv("COURSE_RESULTS")
    monkeypatch.delenv("COURSE_FIGURES")
    monkeypatch.setenv("COURSE_SMOKE", "0")
    assert paths.results_root() == paths.PACKAGE_PARENT / "build" / "results"
    assert paths.figures_root() == paths.PACKAGE_PARENT / "build" / "figures"
    monkeypatch.setenv("COURSE_SMOKE", "1")
    assert paths.results_root() == paths.PACKAGE_PARENT / "build" / "smoke" / "results"
    assert paths.checkpoints_dir() == paths.PACKAGE_PARENT / "build" / "smoke" / "checkpoints"
    assert paths.committed_results_dir() == paths.PACKAGE_PARENT / "results"


def test_outside_a_checkout_the_per_user_home_is_used(monkeypatch, tmp_path):
    """As after ``pip install .`` (no -e): the package is not in a checkout, nor is the
    working directory."""
    monkeypatch.setattr(paths, "PACKAGE_PARENT", tmp_path / "site-packages")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PWD", str(tmp_path))
    monkeypatch.delenv("COURSE_DATA", raising=False)
    monkeypatch.delenv("COURSE_RESULTS")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert paths.checkout() is None
    assert paths.data_root() == tmp_path / "xdg" / "pytorch-course" / "data"
    assert paths.results_root().is_relative_to(tmp_path / "xdg" / "pytorch-course" / "build")
    monkeypatch.setenv("COURSE_HOME", str(tmp_path / "home"))
    assert paths.data_root() == tmp_path / "home" / "data"
    # ... and a working directory inside a checkout makes that checkout the home
    checkout = tmp_path / "course"
    (checkout / "course_utils").mkdir(parents=True)
    (checkout / "course_utils" / "__init__.py").write_text("")
    (checkout / "notebooks").mkdir()
    (checkout / "pyproject.toml").write_text("")
    monkeypatch.chdir(checkout / "notebooks")
    assert paths.checkout() == checkout and paths.data_root() == checkout / "data"


def test_writable_dir_falls_back_to_the_cache_once(tmp_path, read_only, monkeypatch, capsys):
    (tmp_path / "data").mkdir()
    ro = read_only(tmp_path / "data")
    assert not paths.is_writable(ro) and paths.is_writable(tmp_path)
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "cache"))
    paths._noted.discard("test things")
    first = paths.writable_dir(ro / "checkpoints", "test things")
    second = paths.writable_dir(ro / "checkpoints", "test things")
    assert first == second and first.is_relative_to(tmp_path / "cache") and first.is_dir()
    assert capsys.readouterr().err.count("is read-only; test things go to") == 1


def test_checkpoints_go_to_the_cache_when_build_is_read_only(tmp_path, read_only, monkeypatch):
    (tmp_path / "build").mkdir()
    ro = read_only(tmp_path / "build")
    monkeypatch.setattr(paths, "run_dir", lambda: ro)
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "cache"))
    folder = paths.checkpoints_dir()
    assert folder.is_relative_to(tmp_path / "cache") and paths.is_writable(folder)
