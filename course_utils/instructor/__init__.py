"""Run the course's notebooks headless: ``python -m course_utils.instructor [--smoke] [NOTEBOOK ...]``.

Executes every numbered notebook in ``notebooks/`` in order (or the ones named: a file stem, a
unique prefix such as ``02``, or a path) in a local Jupyter kernel with nbclient, cell by cell,
printing progress. The mode comes from ``--smoke``/``--full`` or ``COURSE_SMOKE`` (a
contradiction is refused) and is said in the first line. Figures land in
``figures/<notebook>/``, the executed notebooks in ``build/notebooks/``, each notebook's
headline numbers in ``results/<notebook>.json`` and all of them in ``RESULTS.md``, but only
when every notebook ran: a failed or interrupted build leaves them as they were. Smoke mode
keeps everything apart, in ``build/smoke/``. The source notebooks are never written. Exit
status: 0 when every notebook ran, 1 when one failed, 2 for a usage or settings error, 130
when interrupted.
"""

from course_utils.instructor.cli import BuildError, main, resolve_mode, select_notebooks
from course_utils.instructor.execute import NOTEBOOK_NAME, CellFailure, Outcome, find_notebooks, first_line

__all__ = ["NOTEBOOK_NAME", "BuildError", "CellFailure", "Outcome", "find_notebooks", "first_line",
           "main", "resolve_mode", "select_notebooks"]
