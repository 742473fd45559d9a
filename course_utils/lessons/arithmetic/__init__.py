"""Layer arithmetic (notebook 04): output sizes, parameters and multiply-accumulates of conv, pool
and linear layers by formula (:mod:`.formulas`); inputs too small for a model, explained
(:mod:`.diagnosis`); a layer table for any model, every row checked against a real forward pass,
and one layer worked out and checked for the calculator (:mod:`.table`)."""

from course_utils.lessons.arithmetic.diagnosis import InputSizeError, check_input, input_size_error  # noqa: F401
from course_utils.lessons.arithmetic.formulas import (FormulaMismatchError, conv_macs, conv_output_size,  # noqa: F401
                                                      conv_params, linear_params, min_input_size, shape_str)
from course_utils.lessons.arithmetic.table import (LayerResult, LayerRow, LayerTable, calculate_layer,  # noqa: F401
                                                   format_layer_table, layer_table, side_by_side)
