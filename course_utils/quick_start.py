"""Start-up time of the processes that read notebooks: one optional import left out.

jsonschema, which nbformat imports, imports ``rfc3987_syntax`` when it is installed (jupyterlab
brings it, through jupyter-events) to check strings of the "iri" format, and building that
module's grammar takes about a second: in every process that reads a notebook (the test run's
controller and each worker, every ``python -m course_utils.instructor``). Notebook schemas have no
"iri" strings, so these processes leave it out: importing this module marks it as absent, and
jsonschema goes on without that one check. pytest loads it first (``-p
course_utils.quick_start`` in pyproject.toml, before nbval imports nbformat; it imports nothing
else, torch least of all: the test workers set their thread count before torch starts); the
build imports it before nbformat.
"""

import sys

#: Modules marked absent (``sys.modules[name] = None`` makes ``import name`` fail quickly).
LEFT_OUT = ("rfc3987_syntax",)

for _name in LEFT_OUT:
    sys.modules.setdefault(_name, None)
