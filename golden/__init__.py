"""exmy.golden: the bit-exact numpy reference model (integer arithmetic only).

Imports neither amaranth nor any other exmy package.
"""

from .core import (
    ROUNDING_MODES,
    Raw,
    check_encodings,
    decode,
    describe,
    encode,
    round_at,
    to_fraction,
)
from .fma import (
    ApproxFmaError,
    approx_fma,
    approx_fma_datapath_width,
    approx_fma_error,
    fma,
    fma_raw,
)
from .format import (
    ALIASES,
    CATALOG,
    FloatFormat,
    IntFormat,
    catalog_formats,
    parse_float_format,
    parse_format,
)
from .lmul import LMUL_FORMS, LMUL_OFFSETS, lmul, lmul_raw
from .mac import (
    IntMacParams,
    MacParams,
    acc_width_table,
    float_acc_mac,
    int_mac,
    int_mac_params,
    mac,
    mac_params,
)
from .ops import convert, exact_product_format, int_multiply, multiply, multiply_raw

__all__ = [
    "ALIASES",
    "CATALOG",
    "ROUNDING_MODES",
    "FloatFormat",
    "IntFormat",
    "Raw",
    "catalog_formats",
    "convert",
    "check_encodings",
    "decode",
    "describe",
    "encode",
    "exact_product_format",
    "int_multiply",
    "multiply",
    "multiply_raw",
    "parse_float_format",
    "parse_format",
    "round_at",
    "to_fraction",
    "LMUL_FORMS",
    "LMUL_OFFSETS",
    "lmul",
    "lmul_raw",
    "IntMacParams",
    "MacParams",
    "acc_width_table",
    "float_acc_mac",
    "int_mac",
    "int_mac_params",
    "mac",
    "mac_params",
    "ApproxFmaError",
    "approx_fma",
    "approx_fma_datapath_width",
    "approx_fma_error",
    "fma",
    "fma_raw",
]
