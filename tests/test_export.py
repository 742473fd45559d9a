"""One source for the models the notebooks teach: the package's generated modules are the
notebooks' cells tagged ``export`` (``python -m course_utils.instructor.export``)."""

import json
import shutil
from pathlib import Path

import pytest

from course_utils.instructor.export import ExportError, differences, main, render, write
from course_utils.settings import PACKAGE_PARENT

NB01 = "01_mnist_fc_vs_cnn.ipynb"


def test_the_package_modules_equal_the_notebooks_tagged_cells():
    found = differences(PACKAGE_PARENT)
    assert not found, "\n".join(found)


def test_notebook_01_exports_its_two_nets():
    module, text = render(PACKAGE_PARENT / "notebooks" / NB01, PACKAGE_PARENT)
    assert module == PACKAGE_PARENT / "course_utils" / "models" / "mnist.py"
    assert "class FC2Layer(nn.Module):" in text and "class CNN(nn.Module):" in text


def _notebook(cells, export=None) -> dict:
    meta = {"course": {"export": export}} if export is not None else {}
    return {"cells": [{"cell_type": kind, "id": f"c{i}", "metadata": {"tags": tags} if tags else {},
                       "source": source, **({"outputs": [], "execution_count": None} if kind == "code" else {})}
                      for i, (kind, source, tags) in enumerate(cells)],
            "metadata": meta, "nbformat": 4, "nbformat_minor": 5}


def _root(tmp_path: Path, notebooks: dict[str, dict]) -> Path:
    (tmp_path / "notebooks").mkdir(parents=True)
    (tmp_path / "course_utils").mkdir()
    for name, nb in notebooks.items():
        (tmp_path / "notebooks" / name).write_text(json.dumps(nb, indent=1))
    return tmp_path


EXPORT = {"module": "course_utils/models/toy.py", "doc": "A toy module."}


def test_the_generated_module_has_the_shared_format(tmp_path):
    nb = _notebook([("markdown", "# Toy", []), ("code", ["from torch import nn\n", "\n"], ["export"]),
                    ("code", "x = 1", []), ("code", "\nclass Toy(nn.Module):\n    pass\n\n", ["export"])], EXPORT)
    root = _root(tmp_path, {"05_toy.ipynb": nb})
    module, text = render(root / "notebooks" / "05_toy.ipynb", root)
    assert module == root / "course_utils" / "models" / "toy.py"
    assert text == ('"""A toy module.\n\nGenerated from notebooks/05_toy.ipynb (its cells tagged ``export``) by\n'
                    '``python -m course_utils.instructor.export``: change the notebook, then run that command.\n"""\n\n'
                    'from torch import nn\n\n\nclass Toy(nn.Module):\n    pass\n')
    assert differences(root) == ["notebooks/05_toy.ipynb: exports to course_utils/models/toy.py, which does not "
                                 "exist; run `python -m course_utils.instructor.export`"]
    assert write(root) == [module] and module.read_text() == text
    assert differences(root) == [] and write(root) == []


def test_a_changed_cell_fails_the_check_until_the_export_runs(tmp_path, capsys):
    """Copy notebook 01 and its package module, change one line of a tagged cell: the check
    fails, naming the notebook, the cell and the module; the export makes it pass again."""
    (tmp_path / "notebooks").mkdir()
    shutil.copy(PACKAGE_PARENT / "notebooks" / NB01, tmp_path / "notebooks" / NB01)
    (tmp_path / "course_utils" / "models").mkdir(parents=True)
    shutil.copy(PACKAGE_PARENT / "course_utils" / "models" / "mnist.py", tmp_path / "course_utils" / "models")
    assert differences(tmp_path) == [] and main(["--check", "--root", str(tmp_path)]) == 0

    path = tmp_path / "notebooks" / NB01
    nb = json.loads(path.read_text())
    index = next(i for i, c in enumerate(nb["cells"])
                 if "export" in c["metadata"].get("tags", []) and "class CNN" in "".join(c["source"]))
    source = "".join(nb["cells"][index]["source"])
    assert "nn.Linear(n_feature * 4 * 4, 50)" in source
    nb["cells"][index]["source"] = source.replace("nn.Linear(n_feature * 4 * 4, 50)", "nn.Linear(n_feature * 4 * 4, 64)")
    path.write_text(json.dumps(nb, indent=1))

    found = differences(tmp_path)
    assert len(found) == 1
    assert found[0].startswith(f"notebooks/{NB01}: cell {index} ('class CNN(nn.Module):') differ from "
                               f"course_utils/models/mnist.py")
    assert "-            nn.Linear(n_feature * 4 * 4, 50), nn.ReLU()," in found[0]
    assert "+            nn.Linear(n_feature * 4 * 4, 64), nn.ReLU()," in found[0]
    capsys.readouterr()
    assert main(["--check", "--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"notebooks/{NB01}: cell {index}" in out and "course_utils/models/mnist.py" in out

    assert main(["--root", str(tmp_path)]) == 0     # the export: writes the module
    assert "wrote course_utils/models/mnist.py" in capsys.readouterr().out
    assert differences(tmp_path) == [] and main(["--check", "--root", str(tmp_path)]) == 0
    assert "nn.Linear(n_feature * 4 * 4, 64)" in (tmp_path / "course_utils" / "models" / "mnist.py").read_text()


def test_refuses_two_notebooks_exporting_to_one_module(tmp_path, capsys):
    cells = [("code", "x = 1", ["export"])]
    root = _root(tmp_path, {"03_a.ipynb": _notebook(cells, EXPORT), "04_b.ipynb": _notebook(cells, EXPORT)})
    with pytest.raises(ExportError, match="03_a.ipynb and 04_b.ipynb both export to course_utils/models/toy.py"):
        differences(root)
    assert main(["--check", "--root", str(root)]) == 2
    assert "both export to" in capsys.readouterr().err
    assert not (root / "course_utils" / "models").exists()     # nothing written


def test_refuses_a_tagged_cell_without_export_metadata(tmp_path):
    root = _root(tmp_path, {"02_a.ipynb": _notebook([("markdown", "# A", []), ("code", "x = 1", ["export"])])})
    with pytest.raises(ExportError, match=r"02_a.ipynb: cell 1 is tagged 'export' but the notebook's metadata "
                                          r"has no course.export"):
        write(root)


@pytest.mark.parametrize("module", ["../evil.py", "/tmp/evil.py", "notebooks/evil.py", "course_utils/../evil.py",
                                    "course_utils/models/toy.txt", "course_utilsx/toy.py", None])
def test_refuses_a_module_outside_course_utils(tmp_path, module):
    root = _root(tmp_path, {"02_a.ipynb": _notebook([("code", "x = 1", ["export"])], {"module": module, "doc": "D."})})
    with pytest.raises(ExportError, match="is not a .py file inside course_utils/"):
        write(root)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["02_a.ipynb"]


def test_refuses_no_tagged_cell_a_bad_doc_and_a_cell_that_is_not_python(tmp_path):
    root = _root(tmp_path, {"02_a.ipynb": _notebook([("code", "x = 1", [])], EXPORT)})
    with pytest.raises(ExportError, match="no code cell is tagged 'export'"):
        differences(root)
    root = _root(tmp_path / "b", {"02_a.ipynb": _notebook([("code", "x = 1", ["export"])],
                                                          {"module": EXPORT["module"], "doc": "two\nlines"})})
    with pytest.raises(ExportError, match="doc must be one line"):
        differences(root)
    root = _root(tmp_path / "c", {"02_a.ipynb": _notebook([("code", "%matplotlib inline", ["export"])], EXPORT)})
    with pytest.raises(ExportError, match=r"cell 0 \('%matplotlib inline'\) tagged 'export' is not plain Python"):
        differences(root)
