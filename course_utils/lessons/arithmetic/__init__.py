"""Layer arithmetic: output sizes, parameters and multiply-accumulates of conv, pool and linear
layers, by formula (:mod:`.formulas`); a layer table for any model that checks every formula
against a real forward pass (:mod:`.table`); inputs too small for a model, explained
(:mod:`.diagnosis`); receptive fields, measured (:mod:`.receptive`); and one layer worked out
and checked, for notebook 04's calculator (:mod:`.calculator`).

:func:`layer_table` runs a model once (batch of one, eval mode, no grad) with forward hooks on
its leaf layers and returns a :class:`LayerTable`; :func:`format_layer_table` prints it.
:func:`check_input` explains an input that is too small (or the wrong size) for a model,
naming the layer and the smallest square input that works.
"""

from course_utils.lessons.arithmetic.calculator import LayerResult, calculate_layer
from course_utils.lessons.arithmetic.diagnosis import (InputSizeError, check_input, input_size_error,
                                               smallest_square_input)
from course_utils.lessons.arithmetic.formulas import (QUIET_TYPES, FormulaMismatchError, conv_macs,
                                              conv_output_size, conv_params, describe_layer,
                                              expected_output_shape, layer_macs, layer_params,
                                              linear_macs, linear_params, min_input_size,
                                              same_padding, shape_str, stacked_receptive_field)
from course_utils.lessons.arithmetic.receptive import compare_stacks, measure_receptive_field
from course_utils.lessons.arithmetic.table import (LayerRow, LayerTable, format_layer_table, layer_table,
                                           side_by_side, table_rows)

__all__ = [
    "QUIET_TYPES", "FormulaMismatchError", "InputSizeError", "LayerResult", "LayerRow", "LayerTable",
    "calculate_layer", "check_input", "compare_stacks", "conv_macs", "conv_output_size", "conv_params",
    "describe_layer", "expected_output_shape", "format_layer_table", "input_size_error", "layer_macs",
    "layer_params", "layer_table", "linear_macs", "linear_params", "measure_receptive_field",
    "min_input_size", "same_padding", "shape_str", "side_by_side", "smallest_square_input",
    "stacked_receptive_field", "table_rows",
]
