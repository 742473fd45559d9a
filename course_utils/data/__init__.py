"""Data sets held as uint8 tensors on the training device, and the loader that serves them.

``ImageData`` and ``TensorLoader`` (which need torch) are imported on first use, so the
torch-free modules here (``errors``, ``provenance``) stay light for the test run's summary."""

from course_utils.data.errors import CorruptDataError, DataMissingError

__all__ = ["CorruptDataError", "DataMissingError", "ImageData", "TensorLoader"]


def __getattr__(name: str):
    if name in ("ImageData", "TensorLoader"):
        from course_utils.data import loader

        return getattr(loader, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
