"""Write the notebooks' cells tagged ``export`` into the package: one source for the models the
notebooks teach (like d2l's ``#@save`` cells).

A notebook that exports names its module in its metadata::

    "course": {"export": {"module": "course_utils/models/mnist.py", "doc": "One line."}}

and tags the cells to export with ``export``. The generated module is the doc line, a note saying
where it comes from, and the tagged cells in order, two blank lines apart::

    python -m course_utils.instructor.export           # write every generated module
    python -m course_utils.instructor.export --check   # write nothing; exit 1 if any differs

``--check`` (and ``tests/test_export.py``) names the notebook, the cell and the module that
disagree, with a unified diff excerpt.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

#: The repository root: ``notebooks/`` and ``course_utils/`` sit in it.
ROOT = Path(__file__).resolve().parents[2]
TAG = "export"
COMMAND = "python -m course_utils.instructor.export"
#: Lines of a unified diff shown per differing module.
EXCERPT = 30


class ExportError(ValueError):
    """A notebook's export metadata or tagged cells cannot give a module."""


@dataclass(frozen=True)
class Export:
    """What one notebook exports: its tagged cells (index in the notebook, source) and where."""

    notebook: Path
    module: str                      #: relative to the root, e.g. ``course_utils/models/mnist.py``
    doc: str
    cells: tuple[tuple[int, str], ...]


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _tagged(nb: dict) -> list[tuple[int, str]]:
    return [(i, _source(c)) for i, c in enumerate(nb.get("cells", []))
            if c.get("cell_type") == "code" and TAG in c.get("metadata", {}).get("tags", [])]


def _first_line(text: str) -> str:
    return next((line for line in text.strip().splitlines() if line.strip()), "")


def read_export(notebook_path: Path) -> Export | None:
    """The notebook's export (``None`` when it exports nothing); :class:`ExportError` for a tagged
    cell without ``course.export`` metadata, a module path outside ``course_utils/``, no tagged
    cell, or a tagged cell that is not plain Python."""
    notebook_path = Path(notebook_path)
    nb = json.loads(notebook_path.read_text(encoding="utf-8"))
    spec = nb.get("metadata", {}).get("course", {}).get("export")
    cells = _tagged(nb)
    name = notebook_path.name
    if spec is None:
        if cells:
            raise ExportError(f"{name}: cell {cells[0][0]} is tagged {TAG!r} but the notebook's metadata "
                              f"has no course.export (module and doc) saying where it goes")
        return None
    module, doc = spec.get("module"), spec.get("doc")
    path = PurePosixPath(module) if isinstance(module, str) else None
    if (path is None or path.is_absolute() or ".." in path.parts or path.parts[:1] != ("course_utils",)
            or path.suffix != ".py" or "\\" in module):
        raise ExportError(f"{name}: export module {module!r} is not a .py file inside course_utils/ "
                          f"(a relative path such as 'course_utils/models/mnist.py')")
    if not isinstance(doc, str) or not doc.strip() or "\n" in doc.strip() or '"""' in doc:
        raise ExportError(f"{name}: course.export.doc must be one line of text, got {doc!r}")
    if not cells:
        raise ExportError(f"{name}: exports to {module} but no code cell is tagged {TAG!r}")
    for index, text in cells:
        try:
            ast.parse(text)
        except SyntaxError as error:
            raise ExportError(f"{name}: cell {index} ({_first_line(text)!r}) tagged {TAG!r} is not "
                              f"plain Python: {error.msg} (line {error.lineno})") from None
    return Export(notebook_path, str(path), doc.strip(), tuple(cells))


def _header(export: Export) -> str:
    return (f'"""{export.doc}\n\nGenerated from notebooks/{export.notebook.stem}.ipynb (its cells '
            f"tagged ``{TAG}``) by\n``{COMMAND}``: change the notebook, then run that command.\n"
            '"""\n\n')


def module_text(export: Export) -> str:
    """The generated module's text, exactly as the shared format says."""
    return _header(export) + "\n\n\n".join(text.strip() for _, text in export.cells) + "\n"


def render(notebook_path: Path | str, root: Path | str = ROOT) -> tuple[Path, str] | None:
    """``(module path, text)`` that ``notebook_path`` exports, or ``None`` when it exports nothing."""
    export = read_export(Path(notebook_path))
    return None if export is None else (Path(root) / export.module, module_text(export))


def exports(root: Path | str = ROOT) -> list[Export]:
    """Every notebook's export under ``root/notebooks``; :class:`ExportError` when two notebooks
    export to the same module (or for any notebook's error, see :func:`read_export`)."""
    found: dict[str, Export] = {}
    for path in sorted((Path(root) / "notebooks").glob("*.ipynb")):
        export = read_export(path)
        if export is None:
            continue
        if export.module in found:
            raise ExportError(f"{found[export.module].notebook.name} and {path.name} both export to "
                              f"{export.module}: give each notebook its own module")
        found[export.module] = export
    return list(found.values())


def _cell_of(export: Export, line: int) -> int | None:
    """Index (in the notebook) of the exported cell that holds ``line`` of the generated text."""
    start = _header(export).count("\n")
    for index, text in export.cells:
        end = start + len(text.strip().splitlines())
        if line < end:
            return index if line >= start else None
        start = end + 2   # two blank lines between cells
    return None


def _describe(export: Export, old: str, new: str) -> str:
    old_lines, new_lines = old.splitlines(keepends=True), new.splitlines(keepends=True)
    cells: list[int] = []
    header = False
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        for j in range(j1, max(j2, j1 + 1)):
            cell = _cell_of(export, min(j, len(new_lines) - 1))
            if cell is None:
                header = True
            elif cell not in cells:
                cells.append(cell)
    source = dict(export.cells)
    where = [f"cell {i} ({_first_line(source[i])!r})" for i in cells] + (["the module's header"] if header else [])
    diff = list(difflib.unified_diff(old_lines, new_lines, fromfile=f"{export.module} (in the package)",
                                     tofile=f"notebooks/{export.notebook.name} (cells tagged {TAG})"))
    excerpt = "".join(diff[:EXCERPT]) + (f"... ({len(diff) - EXCERPT} more diff lines)\n" if len(diff) > EXCERPT else "")
    return (f"notebooks/{export.notebook.name}: {', '.join(where) or 'its exported cells'} differ from "
            f"{export.module}; run `{COMMAND}`\n{excerpt}")


def differences(root: Path | str = ROOT) -> list[str]:
    """One message per generated module that is missing or differs from its notebook's tagged
    cells (empty when all agree)."""
    out = []
    for export in exports(root):
        path = Path(root) / export.module
        new = module_text(export)
        if not path.exists():
            out.append(f"notebooks/{export.notebook.name}: exports to {export.module}, which does not "
                       f"exist; run `{COMMAND}`")
            continue
        old = path.read_text(encoding="utf-8")
        if old != new:
            out.append(_describe(export, old, new))
    return out


def write(root: Path | str = ROOT) -> list[Path]:
    """Write every generated module that differs from its notebook; return the paths written."""
    written = []
    for export in exports(root):
        path, text = Path(root) / export.module, module_text(export)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    """The command line: write the modules, or with ``--check`` compare them."""
    parser = argparse.ArgumentParser(prog=COMMAND, description=(
        "Write each notebook's cells tagged 'export' into the module its metadata names "
        "(course.export.module), or check that the package's modules equal them."))
    parser.add_argument("--check", action="store_true",
                        help="write nothing; print what differs and exit 1 when anything does")
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository root (default: this checkout)")
    args = parser.parse_args(argv)
    try:
        if args.check:
            found = differences(args.root)
            for message in found:
                print(message)
            if not found:
                print(f"every generated module agrees with its notebook ({len(exports(args.root))} checked)")
            return 1 if found else 0
        for path in write(args.root):
            print(f"wrote {path.relative_to(args.root)}")
    except ExportError as error:
        print(f"{COMMAND}: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
