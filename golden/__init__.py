"""exmy.golden: the bit-exact numpy reference model (integer arithmetic only).

The raw stages, named as in ``exmy.hdl.float`` and ``exmy.hdl.rounding``: ``decode``,
``mul_raw``, ``add_raw``, ``round``, ``encode`` (``multiply_raw`` is ``mul_raw``'s earlier
name; ``round`` shadows the builtin only for ``from exmy.golden import *``).

Imports neither amaranth nor any other exmy package.
"""

from .core import (
    ROUNDING_MODES,
    Raw,
    check_encodings,
    decode,
    describe,
    encode,
    round,
    round_at,
    to_fraction,
)
from .fma import (
    ApproxFmaError,
    add_raw,
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
from .ops import convert, exact_product_format, int_multiply, mul_raw, multiply, multiply_raw

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
    "mul_raw",
    "multiply_raw",
    "parse_float_format",
    "parse_format",
    "round",
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
    "add_raw",
    "approx_fma",
    "approx_fma_datapath_width",
    "approx_fma_error",
    "fma",
    "fma_raw",
]
