"""Where the course keeps things: checkout or per-user home, and every folder setting checked."""

import pytest

from course_utils import settings
from course_utils.settings import SettingError


def test_data_root_default_and_absolute_setting(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_DATA", raising=False)
    assert settings.data_root() == settings.PACKAGE_PARENT / "data"   # this checkout's data/
    monkeypatch.setenv("COURSE_DATA", str(tmp_path))
    assert settings.data_root() == tmp_path.resolve()
    assert f"data root: {tmp_path.resolve()} (from COURSE_DATA=" in settings.describe_data_root()


def test_relative_data_root_is_taken_from_the_launch_folder_not_the_kernels(monkeypatch, tmp_path):
    """A kernel runs in notebooks/, but a relative COURSE_DATA means the folder the user
    launched from, which the kernel inherits as PWD."""
    launched, kernel = tmp_path / "course", tmp_path / "course" / "notebooks"
    kernel.mkdir(parents=True)
    monkeypatch.chdir(kernel)
    monkeypatch.setenv("PWD", str(launched))
    monkeypatch.setenv("COURSE_DATA", "mydata")
    assert settings.data_root() == launched / "mydata"
    assert not (kernel / "mydata").exists()   # nothing created where the kernel runs


def test_relative_data_root_without_a_launch_folder_is_refused(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PWD", raising=False)
    monkeypatch.setenv("COURSE_DATA", "mydata")
    with pytest.raises(SettingError, match="COURSE_DATA='mydata' is a relative path.*absolute path"):
        settings.data_root()


@pytest.mark.parametrize("name, getter", [("COURSE_DATA", settings.data_root),
                                          ("COURSE_RESULTS", settings.results_root),
                                          ("COURSE_FIGURES", settings.figures_root)])
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
    assert settings.results_root() == settings.PACKAGE_PARENT / "build" / "results"
    assert settings.figures_root() == settings.PACKAGE_PARENT / "build" / "figures"
    monkeypatch.setenv("COURSE_SMOKE", "1")
    assert settings.results_root() == settings.PACKAGE_PARENT / "build" / "smoke" / "results"
    assert settings.checkpoints_dir() == settings.PACKAGE_PARENT / "build" / "smoke" / "checkpoints"


def test_outside_a_checkout_the_per_user_home_is_used(monkeypatch, tmp_path):
    """As after ``pip install .`` (no -e): the package is not in a checkout, nor is the
    working directory."""
    monkeypatch.setattr(settings, "PACKAGE_PARENT", tmp_path / "site-packages")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PWD", str(tmp_path))
    monkeypatch.delenv("COURSE_DATA", raising=False)
    monkeypatch.delenv("COURSE_RESULTS")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert settings.checkout() is None
    assert settings.data_root() == tmp_path / "xdg" / "pytorch-course" / "data"
    assert settings.results_root().is_relative_to(tmp_path / "xdg" / "pytorch-course" / "build")
    monkeypatch.setenv("COURSE_HOME", str(tmp_path / "home"))
    assert settings.data_root() == tmp_path / "home" / "data"
    # ... and a working directory inside a checkout makes that checkout the home
    checkout = tmp_path / "course"
    (checkout / "course_utils").mkdir(parents=True)
    (checkout / "course_utils" / "__init__.py").write_text("")
    (checkout / "notebooks").mkdir()
    (checkout / "pyproject.toml").write_text("")
    monkeypatch.chdir(checkout / "notebooks")
    assert settings.checkout() == checkout and settings.data_root() == checkout / "data"


def test_writable_dir_falls_back_to_the_cache_once(tmp_path, read_only, monkeypatch, capsys):
    (tmp_path / "data").mkdir()
    ro = read_only(tmp_path / "data")
    assert not settings.is_writable(ro) and settings.is_writable(tmp_path)
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "cache"))
    settings._noted.discard("test things")
    first = settings.writable_dir(ro / "checkpoints", "test things")
    second = settings.writable_dir(ro / "checkpoints", "test things")
    assert first == second and first.is_relative_to(tmp_path / "cache") and first.is_dir()
    assert capsys.readouterr().err.count("is read-only; test things go to") == 1


def test_checkpoints_go_to_the_cache_when_build_is_read_only(tmp_path, read_only, monkeypatch):
    (tmp_path / "build").mkdir()
    ro = read_only(tmp_path / "build")
    monkeypatch.setattr(settings, "run_dir", lambda: ro)
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "cache"))
    folder = settings.checkpoints_dir()
    assert folder.is_relative_to(tmp_path / "cache") and settings.is_writable(folder)


def test_only_settings_reads_the_course_settings():
    """Every ``COURSE_*`` variable is read in course_utils/settings.py and nowhere else in the
    package (writes, such as the runner's environment for its kernels, are not reads)."""
    import ast

    def reads(tree):
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("COURSE_"):
                parent = getattr(node, "parent", None)
                call = parent if isinstance(parent, ast.Call) else None
                if call is not None and isinstance(call.func, ast.Attribute) and call.func.attr in ("get", "getenv"):
                    yield node.lineno
                sub = parent if isinstance(parent, ast.Subscript) else None
                if sub is not None and isinstance(sub.ctx, ast.Load) and "environ" in ast.unparse(sub.value):
                    yield node.lineno

    package = settings.PACKAGE_PARENT / "course_utils"
    found = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                child.parent = node
        if path.name == "settings.py" and path.parent == package:
            assert list(reads(tree))   # the check sees reads where they are
            continue
        found += [f"{path.relative_to(package)}:{line}" for line in reads(tree)]
        text = path.read_text()
        assert "environ.get(\"COURSE_" not in text and "getenv(\"COURSE_" not in text, path
    assert not found, f"COURSE_* read outside settings.py: {found}"
    documented = settings.__doc__
    assert all(f"``{name}``" in documented for name in settings.NAMES)
