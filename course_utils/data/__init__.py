"""Data sets held as uint8 tensors on the training device, and the loader that serves them."""

from course_utils.data.errors import CorruptDataError, DataMissingError
from course_utils.data.loader import ImageData, TensorLoader

__all__ = ["CorruptDataError", "DataMissingError", "ImageData", "TensorLoader"]
