"""``exmy formats``: the catalog as a table."""

from __future__ import annotations

from exmy.golden.format import ALIASES, catalog_formats


def _num(x) -> str:
    return f"{float(x):.6g}"


def add_parser(sub):
    p = sub.add_parser(
        "formats",
        help="list the format catalog",
        description="The catalog formats: name, widths, bias, special values and range. "
        "Any other format can be named with e<E>m<M>[-ieee|-fn|-fnuz|-none][-b<bias>][-ftz][-u], "
        "integers with int<N> / uint<N>.",
    )
    p.set_defaults(run=run)


def run(args) -> int:
    longs = {v: k for k, v in ALIASES.items()}
    rows = [("name", "alias", "bits", "E", "M", "bias", "specials", "max finite", "min normal",
             "min subnormal")]
    for f in catalog_formats():
        long = f.catalog_name
        alias = next((a for a, lg in ALIASES.items() if lg == long), "")
        spec = f.special
        if not f.signed:
            spec += ", unsigned"
        if not f.zero:
            spec += ", no zero"
        if not f.subnormals and f.zero:
            spec += ", ftz"
        rows.append((long, alias, str(f.width), str(f.exp_bits), str(f.man_bits), str(f.bias),
                     spec, _num(f.max_finite), _num(f.min_normal), _num(f.min_subnormal)))
    del longs
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for k, r in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        if k == 0:
            print("  ".join("-" * w for w in widths))
    return 0
