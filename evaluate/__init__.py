"""exmy.evaluate: a real network (all-MiniLM-L6-v2) with its linear layers computed as exmy
units compute them (SPEC.md section 7). A consumer of exmy.golden, like sim and synth; golden
never imports it."""

from .model import LINEAR_NAMES, MODEL_PACKAGE, MiniLM, ModelError, load_model, load_sentences
from .units import ACCUMULATIONS, PRODUCTS, SCALINGS, Config, LinearUnit

__all__ = [
    "ACCUMULATIONS",
    "LINEAR_NAMES",
    "MODEL_PACKAGE",
    "PRODUCTS",
    "SCALINGS",
    "Config",
    "LinearUnit",
    "MiniLM",
    "ModelError",
    "load_model",
    "load_sentences",
]
