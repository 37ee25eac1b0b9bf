"""The argument checks, now in ``kl_backends._lib.args`` (this name stays importable)."""

from __future__ import annotations

from kl_backends._lib.args import (
    INPUTS,
    REDUCTIONS,
    Inputs,
    InputsPair,
    Reduction,
    broadcast_shape,
    check_bool,
    check_choice,
    check_event_axes,
    check_inputs_pair,
    log_of_base,
    normalize_axis,
    shape_of,
)

__all__ = [
    "INPUTS",
    "REDUCTIONS",
    "Inputs",
    "InputsPair",
    "Reduction",
    "broadcast_shape",
    "check_bool",
    "check_choice",
    "check_event_axes",
    "check_inputs_pair",
    "log_of_base",
    "normalize_axis",
    "shape_of",
]
