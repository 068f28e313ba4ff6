"""``exmy quantize``: float32 .npy -> OCP MX / NVFP4 blocks (.npz) and back."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .common import CliError, output_file


def add_parser(sub):
    p = sub.add_parser(
        "quantize",
        help="quantize a float32 .npy into MX blocks (.npz), or dequantize an .npz back",
        description="Quantize a float32 array (.npy) into OCP MX v1.0 blocks along its last "
        "axis (shared E8M0 scale: floor(log2 max|x|) - emax(elem); NVFP4 with --scale e4m3fn: "
        "scale = max|x| / 6 in E4M3), writing an .npz with 'scales' and 'elems' (uint8 "
        "encodings) and the parameters. Given an .npz made here, write the dequantized "
        "float32 .npy instead.",
    )
    p.add_argument("input", metavar="IN", help="float32 .npy to quantize, or .npz to dequantize")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output .npz (quantize) or .npy (dequantize)")
    p.add_argument("--elem", metavar="FMT", help="element format (default e4m3fn; e2m1fn "
                   "with --scale e4m3fn)")
    p.add_argument("--block", type=int, metavar="K", help="block size (default 32; 16 with "
                   "--scale e4m3fn)")
    p.add_argument("--scale", metavar="FMT", default=None,
                   help="block-scale format: e8m0fnu (OCP MX, default) or e4m3fn (NVFP4)")
    p.set_defaults(run=run)


def _load(path: Path):
    if not path.exists():
        raise CliError(f"input {str(path)!r} does not exist")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise CliError(f"input {str(path)!r} is not a readable .npy/.npz file ({exc})") from None


def run(args) -> int:
    from exmy.golden.mx import default_block, mx_dequantize, mx_quantize

    src = Path(args.input)
    if src.suffix not in (".npy", ".npz"):
        raise CliError(f"input must be a .npy (to quantize) or .npz (to dequantize), not "
                       f"{args.input!r}")
    if src.suffix == ".npy":
        out = output_file(args.output, "-o", suffix=".npz")
        x = _load(src)
        if x.dtype != np.float32:
            raise CliError(f"input {args.input!r} holds {x.dtype}, not float32; convert it "
                           f"first (x.astype(np.float32))")
        scale = args.scale or "float8_e8m0fnu"
        nvfp4 = scale in ("e4m3fn", "float8_e4m3fn")
        elem = args.elem or ("float4_e2m1fn" if nvfp4 else "float8_e4m3fn")
        block = default_block(scale) if args.block is None else args.block
        if x.ndim == 0:
            raise CliError("input is a scalar; quantize needs an array whose last axis holds "
                           "whole blocks")
        scales, elems = mx_quantize(x, elem, block, scale)
        np.savez(out, scales=scales.astype(np.uint8), elems=elems.astype(np.uint8),
                 elem=np.array(elem), block=np.array(block), scale=np.array(scale))
        print(f"wrote {out}: {x.size:,} values in {scales.size:,} blocks of {block} "
              f"({elem} elements, {scale} scales)")
        return 0
    for flag in ("elem", "block", "scale"):
        if getattr(args, flag) is not None:
            raise CliError(f"--{flag} applies when quantizing a .npy; an .npz records its own")
    out = output_file(args.output, "-o", suffix=".npy")
    z = _load(src)
    missing = [k for k in ("scales", "elems", "elem", "block", "scale") if k not in z]
    if missing:
        raise CliError(f"input {args.input!r} is not an exmy quantize .npz (missing "
                       f"{', '.join(missing)})")
    y = mx_dequantize(z["scales"], z["elems"], str(z["elem"]), int(z["block"]), str(z["scale"]))
    np.save(out, y)
    print(f"wrote {out}: {y.size:,} float32 values")
    return 0
