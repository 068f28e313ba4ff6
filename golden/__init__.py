"""exmy.golden: the bit-exact numpy reference model (integer arithmetic only)."""

from .format import (  # noqa: F401
    ALIASES,
    CATALOG,
    FloatFormat,
    IntFormat,
    catalog_formats,
    parse_float_format,
    parse_format,
)
