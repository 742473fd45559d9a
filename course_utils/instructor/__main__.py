"""``python -m course_utils.instructor``: see :mod:`course_utils.instructor`."""

import sys

from course_utils.instructor.cli import main

if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # between notebooks
        print("interrupted", file=sys.stderr)
        sys.exit(130)
