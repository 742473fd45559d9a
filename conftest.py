"""Test-wide settings: smoke mode (small data, few epochs) and a headless matplotlib.

Both are inherited by the Jupyter kernels that ``pytest --nbval-lax notebooks`` starts.
Run ``COURSE_SMOKE=0 pytest ...`` to test the notebooks in full mode.
"""

import os

os.environ.setdefault("COURSE_SMOKE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
