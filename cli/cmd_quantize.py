"""``exmy quantize``: float32 .npy -> OCP MX / NVFP4 blocks (.npz) and back."""

from __future__ import annotations

import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .common import CliError, count_arg, missing, output_file, writing


def add_parser(sub):
    p = sub.add_parser(
        "quantize",
        help="quantize a float32 .npy into MX blocks (.npz), or dequantize an .npz back",
        description="Quantize a float32 array (.npy) into OCP MX v1.0 blocks along its last "
        "axis (shared E8M0 scale: floor(log2 max|x|) - emax(elem); NVFP4 with --scale e4m3fn: "
        "scale = max|x| / max(elem) in E4M3, max|x| / 6 for e2m1fn), writing an .npz with "
        "'scales' (uint8) and 'elems' (encodings in the smallest unsigned type that holds the "
        "element format: uint8 up to 8 bits, uint16, uint32, uint64) and the parameters. "
        "Given an .npz made here, write the dequantized float32 .npy instead.",
    )
    p.add_argument("input", metavar="IN", help="float32 .npy to quantize, or .npz to dequantize")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output .npz (quantize) or .npy (dequantize)")
    p.add_argument("--elem", metavar="FMT", help="element format (default e4m3fn; e2m1fn "
                   "with --scale e4m3fn)")
    p.add_argument("--block", type=count_arg, metavar="K", help="block size (default 32; 16 with "
                   "--scale e4m3fn)")
    p.add_argument("--scale", metavar="FMT", default=None,
                   help="block-scale format: e8m0fnu (OCP MX, default) or e4m3fn (NVFP4)")
    p.set_defaults(run=run)


#: What each kind of input must start with (np.load guesses from the bytes, not the name).
_MAGIC = {".npy": (b"\x93NUMPY",), ".npz": (b"PK\x03\x04", b"PK\x05\x06")}
_WHAT = {".npy": "a valid .npy file of float32 values",
         ".npz": "a valid .npz file written by exmy quantize"}
#: numpy's failures on a bad or truncated file, and zipfile's and zlib's on a bad .npz member
_LOAD_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error)


def _load(path: Path, text: str):
    """np.load of an input whose first bytes match its suffix; CliError otherwise (never
    numpy's advice to unpickle: exmy's files hold no Python objects)."""
    if not path.exists():
        raise CliError(f"input {text!r} {missing(path)}")
    if path.is_dir():
        raise CliError(f"input {text!r} is a directory, not a {path.suffix} file")
    if not path.is_file():  # a FIFO would block until a writer came, and np.load must seek
        raise CliError(f"input {text!r} is not a regular file (a FIFO, socket or device); "
                       f"give a {path.suffix} file")
    bad = f"input {text!r} is not {_WHAT[path.suffix]}"
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise CliError(f"input {text!r} cannot be read ({exc.strerror or exc})") from None
    if not head:
        raise CliError(f"{bad} (the file is empty)")
    if not head.startswith(_MAGIC[path.suffix]):
        what = "the .npy header" if path.suffix == ".npy" else "a zip archive's header"
        raise CliError(f"{bad} (it does not start with {what})")
    try:
        return np.load(path, allow_pickle=False)
    except _LOAD_ERRORS as exc:
        raise CliError(f"{bad} ({_why(exc)})") from None


def _why(exc: Exception) -> str:
    if isinstance(exc, ValueError) and "allow_pickle" in str(exc):
        return "it holds Python objects"
    return str(exc) or type(exc).__name__


def _signed_name(fmt) -> str:
    """A signed format like the unsigned ``fmt`` (for the hint of an error)."""
    text = str(fmt)
    if text.startswith("uint"):
        return text[1:]
    return text[:-2] if text.endswith("-u") else "float8_e4m3fn"


def _elem_dtype(width: int) -> type:
    """The smallest unsigned integer type that holds a ``width``-bit encoding."""
    return next(t for t in (np.uint8, np.uint16, np.uint32, np.uint64)
                if np.iinfo(t).bits >= width)


def _describe(a: np.ndarray) -> str:
    if a.ndim:
        return f"an array of shape {a.shape}"
    return repr(a.item())


def _name_field(z, key: str, text: str) -> str:
    """A 0-d string field (elem, scale)."""
    a = _field(z, key, text)
    if a.ndim or a.dtype.kind != "U":
        raise CliError(f"input {text!r}: field {key!r} must be a format name (a string), not "
                       f"{_describe(a)}")
    return str(a)


def _format_field(z, key: str, text: str, check):
    """A format-name field parsed by ``check`` (its ValueError named after the field)."""
    name = _name_field(z, key, text)
    try:
        return check(name)
    except ValueError as exc:
        raise CliError(f"input {text!r}: field {key!r}: {exc}") from None


def _field(z, key: str, text: str) -> np.ndarray:
    try:
        return z[key]
    except _LOAD_ERRORS as exc:
        raise CliError(f"input {text!r}: field {key!r} cannot be read ({_why(exc)})") from None


def _codes_field(z, key: str, text: str, width: int, fmt) -> np.ndarray:
    """An integer array of ``width``-bit encodings of ``fmt``: no negative values, none of
    ``width`` bits or more, and an integer type wide enough to have held them."""
    a = _field(z, key, text)
    if a.dtype.kind not in "iu":
        raise CliError(f"input {text!r}: field {key!r} must hold unsigned integer encodings, "
                       f"not {a.dtype}")
    if np.iinfo(a.dtype).bits < width:
        raise CliError(
            f"input {text!r}: field {key!r} holds {a.dtype}, too narrow for {width}-bit {fmt} "
            f"encodings (exmy quantize stores them as {np.dtype(_elem_dtype(width))}; a file "
            f"from an older exmy lost their high bits): quantize the .npy again")
    if a.size:
        lo, hi = int(a.min()), int(a.max())
        if lo < 0 or hi >= 1 << width:
            bad = lo if lo < 0 else hi
            raise CliError(f"input {text!r}: field {key!r} holds {bad}, not an encoding of "
                           f"{fmt} (0..{(1 << width) - 1})")
    return a


def run(args) -> int:
    from exmy.golden.mx import (
        check_block,
        check_mx_element,
        check_scale_format,
        default_block,
        mx_dequantize,
        mx_quantize,
    )

    src = Path(args.input)
    if src.suffix not in (".npy", ".npz"):
        raise CliError(f"input must be a .npy (to quantize) or .npz (to dequantize), not "
                       f"{args.input!r}")
    if src.suffix == ".npy":
        out = output_file(args.output, "-o", suffix=".npz")
        x = _load(src, args.input)
        if x.dtype.kind == "f" and x.dtype.itemsize == 4:
            x = x.astype(np.float32)  # big-endian float32 (>f4) is float32 too
        if x.dtype != np.float32:
            raise CliError(f"input {args.input!r} holds {x.dtype}, not float32; convert it "
                           f"first (x.astype(np.float32))")
        for flag, default in (("elem", "float8_e4m3fn, or float4_e2m1fn with --scale e4m3fn"),
                              ("scale", "float8_e8m0fnu")):
            if getattr(args, flag) is not None and not getattr(args, flag).strip():
                raise CliError(f"--{flag} needs a format name, not an empty string (omit it "
                               f"for {default})")
        scale = args.scale if args.scale is not None else "float8_e8m0fnu"
        # NVFP4 by any name of its scale format (e4m3fn, float8_e4m3fn, e4m3-fn)
        nvfp4 = check_scale_format(scale) == check_scale_format("float8_e4m3fn")
        elem = (args.elem if args.elem is not None else
                "float4_e2m1fn" if nvfp4 else "float8_e4m3fn")
        block = default_block(scale) if args.block is None else args.block
        if x.ndim == 0:
            raise CliError("input is a scalar; quantize needs an array whose last axis holds "
                           "whole blocks")
        fe = check_mx_element(elem)
        negative = int(np.count_nonzero(x < 0)) if not fe.signed else 0
        if negative:  # they would become 0 (or NaN) without a word
            raise CliError(f"input {args.input!r} holds {negative:,} negative values, which "
                           f"the unsigned element format {elem} cannot hold; give a signed "
                           f"--elem such as {_signed_name(fe)}")
        scales, elems = mx_quantize(x, elem, block, scale)
        # every encoding whole: elements wider than 8 bits (float16, float32, ...) need more
        with writing(out):
            np.savez(out, scales=scales.astype(np.uint8),
                     elems=elems.astype(_elem_dtype(fe.width)), elem=np.array(elem),
                     block=np.array(block), scale=np.array(scale))
        values = "1 value" if x.size == 1 else f"{x.size:,} values"
        blocks = "1 block" if scales.size == 1 else f"{scales.size:,} blocks"
        print(f"wrote {out}: {values} in {blocks} of {block} ({elem} elements, {scale} scales)")
        if check_scale_format(scale) != check_scale_format("float8_e8m0fnu"):
            _note_zero_scales(x, scales, block, fe)
            _note_clipped(x, scales, block, fe, check_scale_format(scale))
        return 0
    for flag in ("elem", "block", "scale"):
        if getattr(args, flag) is not None:
            raise CliError(f"--{flag} applies when quantizing a .npy; an .npz records its own")
    out = output_file(args.output, "-o", suffix=".npy")
    with _load(src, args.input) as z:
        missing = [k for k in ("scales", "elems", "elem", "block", "scale") if k not in z]
        if missing:
            raise CliError(f"input {args.input!r} is not an exmy quantize .npz (missing "
                           f"{', '.join(missing)})")
        fe = _format_field(z, "elem", args.input, check_mx_element)
        sf = _format_field(z, "scale", args.input, check_scale_format)
        b = _field(z, "block", args.input)
        if b.ndim or b.dtype.kind not in "iu" or int(b) < 1:
            raise CliError(f"input {args.input!r}: field 'block' must be a positive integer, "
                           f"not {_describe(b)}")
        block = check_block(int(b))
        elems = _codes_field(z, "elems", args.input, fe.width, fe)
        scales = _codes_field(z, "scales", args.input, sf.width, sf)
    if elems.ndim == 0 or elems.shape[-1] % block:
        raise CliError(f"input {args.input!r}: field 'elems' must have a last axis that is a "
                       f"multiple of the block size {block}, not shape {elems.shape}")
    want = (*elems.shape[:-1], elems.shape[-1] // block)
    if scales.shape != want:
        raise CliError(f"input {args.input!r}: field 'scales' has shape {scales.shape}, but "
                       f"elems of shape {elems.shape} in blocks of {block} need {want}")
    y = mx_dequantize(scales, elems, fe, block, sf)
    with writing(out):
        np.save(out, y)
    print(f"wrote {out}: {y.size:,} float32 values")
    return 0


def _note_zero_scales(x: np.ndarray, scales: np.ndarray, block: int, fe) -> None:
    """NVFP4's scale max|x| / max(elem) can round to an E4M3 zero: say how many blocks with
    data lost all of it (a wide element format makes that the rule, not the exception)."""
    zero = (scales.astype(np.uint8) & 0x7F) == 0
    data = np.any(x.reshape(*scales.shape, block) != 0, axis=-1)
    lost = int(np.count_nonzero(zero & data))
    if lost:
        print(f"note: {lost:,} of {scales.size:,} blocks hold non-zero values but got a zero "
              f"E4M3 scale (max|x| / max({fe}) is below E4M3's smallest value 2**-9), so all "
              f"their elements are 0", file=sys.stderr)


def _note_clipped(x: np.ndarray, scales: np.ndarray, block: int, fe, sf) -> None:
    """NVFP4's scale saturates at E4M3's largest value: a block whose max|x| is above
    max(E4M3) * max(elem) has its largest values clipped to that; say how many blocks (the
    counterpart of the zero-scale note; Inf and NaN blocks get a NaN scale instead)."""
    from fractions import Fraction

    from exmy.golden.dot import format_range

    q, _, hi = format_range(fe)  # max(elem) = hi * 2**q exactly (hi may exceed a float)
    exact = Fraction(sf.max_finite) * hi * Fraction(2) ** q
    if exact >= Fraction(float(np.finfo(np.float32).max)):
        return  # a wide element format: no finite float32 value is beyond reach
    limit = float(exact)
    with np.errstate(invalid="ignore"):
        mag = np.abs(x.reshape(*scales.shape, block)).max(axis=-1, initial=0.0)
    clipped = int(np.count_nonzero(np.isfinite(mag) & (mag > limit)))
    if clipped:
        print(f"note: {clipped:,} of {scales.size:,} blocks hold values above {limit:g} "
              f"(E4M3's largest scale {float(sf.max_finite):g} times max({fe})), so the scale "
              f"saturated and their values beyond it became +-{limit:g}", file=sys.stderr)
