"""Layer arithmetic (notebook 04): formulas (:mod:`.formulas`) checked against PyTorch (:mod:`.table`)."""

from course_utils.lessons.arithmetic.formulas import (  # noqa: F401
    FormulaMismatchError, conv_macs, conv_output_size, conv_params, linear_params, min_input_size, shape_str)
from course_utils.lessons.arithmetic.table import (  # noqa: F401
    InputSizeError, calculate_layer, format_layer_table, input_size_error, layer_table, side_by_side)
