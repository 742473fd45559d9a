"""``python -m course_utils.build``: see :mod:`course_utils.build`."""

import sys

from course_utils.build.cli import main

if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # between notebooks
        print("interrupted", file=sys.stderr)
        sys.exit(130)
