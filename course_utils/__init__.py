"""Helpers for the PyTorch course: data, models, training, pictures and arithmetic.

Import what a lesson needs from the submodules, e.g.::

    from course_utils.device import get_device, set_seed
    from course_utils.data.mnist import load_mnist
"""

__version__ = "0.1.0"
