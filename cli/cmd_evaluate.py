"""``exmy evaluate``: a real network (all-MiniLM-L6-v2) with its linear layers computed as exmy
units compute them; accuracy against float32 into the results database."""

from __future__ import annotations

import json
import os
import sys
import tomllib
from pathlib import Path

from .common import DEFAULT_DB, CliError, count_arg, missing, output_file, writing

_CONFIG_KEYS = ("weights", "acts", "scaling", "product", "acc", "granularity")


def _builtin_dir() -> Path:
    import exmy.evaluate

    return Path(exmy.evaluate.__file__).parent


def add_parser(sub):
    from argparse import RawDescriptionHelpFormatter

    from exmy.evaluate.units import ACCUMULATIONS, PRODUCTS, SCALINGS

    p = sub.add_parser(
        "evaluate",
        help="accuracy of unit configurations on a real network (all-MiniLM-L6-v2)",
        description="Run all-MiniLM-L6-v2 (sentence embeddings) with every linear layer "
        "computed bit-exactly as an exmy unit configuration computes it, and compare the "
        "embeddings with the float32 model on exmy's sentence set: mean and min cosine, "
        "nearest-neighbour agreement, Spearman correlation of pairwise similarities. One "
        "configuration from the flags, or many from FILE.toml (resumable: finished "
        "configurations are kept in the results database). FILE may also name a built-in "
        "table (report).",
        epilog="examples:\n"
        "  exmy evaluate --weights e4m3fn --acts e4m3fn\n"
        "  exmy evaluate --weights int4 --acts int8 --scaling channel --json out.json\n"
        "  exmy evaluate --weights e2m1fn --acts e2m1fn --scaling mx --sentences 60\n"
        "  exmy evaluate --weights bfloat16 --acts bfloat16 --acc approx-fma --granularity 4\n"
        "  exmy evaluate report --db results.sqlite",
        formatter_class=RawDescriptionHelpFormatter,
    )
    p.add_argument("file", nargs="?", metavar="FILE",
                   help="TOML file of configurations (or a built-in name: report)")
    g = p.add_argument_group("one configuration (without FILE)")
    g.add_argument("--weights", metavar="FMT", help="weight format (e.g. e4m3fn, int4)")
    g.add_argument("--acts", metavar="FMT", help="activation format (default: --weights)")
    g.add_argument("--scaling", choices=SCALINGS,
                   help="per tensor, per output channel (default), MX blocks of 32, NVFP4")
    g.add_argument("--product", choices=PRODUCTS,
                   help="exact products (default) or L-Mul")
    g.add_argument("--acc", choices=ACCUMULATIONS,
                   help="exact fixed point then one rounding to float32 (default), a float "
                   "accumulator rounded every step, or the approximate-normalization FMA "
                   "chain (bfloat16 accumulator)")
    g.add_argument("--granularity", type=count_arg, metavar="G",
                   help="approx-fma normalization granularity (default 4; only with --acc "
                   "approx-fma)")
    g = p.add_argument_group("running")
    g.add_argument("--sentences", type=count_arg, metavar="N",
                   help="evaluate on the first N sentences of the evaluation set (default all)")
    g.add_argument("--json", metavar="FILE", help="write the result(s) as JSON")
    g.add_argument("--db", metavar="FILE",
                   help=f"results database (default: the TOML file's, else {DEFAULT_DB})")
    g.add_argument("--no-db", action="store_true",
                   help="do not read or write the database (not with --db)")
    g.add_argument("--rerun", action="store_true",
                   help="recompute configurations already in the database")
    g.add_argument("--list", action="store_true", help="print the configurations and exit")
    p.set_defaults(run=run)


def _load_toml(path_text: str) -> tuple[Path, dict]:
    path = Path(path_text)
    if not path.exists() and not path.is_symlink() and "/" not in path_text and \
            not path_text.endswith(".toml"):
        builtin = _builtin_dir() / f"{path_text}.toml"
        if builtin.is_file():
            path = builtin
        else:
            raise CliError(f"no such file {path_text!r} (and no built-in table of that name; "
                           f"built-in: report)")
    if path.is_dir():
        raise CliError(f"{path_text!r} is a directory, not a TOML file")
    if path.exists() and not path.is_file():  # a FIFO would block until a writer came
        raise CliError(f"{path_text!r} is not a regular file (a FIFO, socket or device); give "
                       f"a TOML file")
    if not path.is_file():
        if path.is_symlink():
            raise CliError(f"{path_text!r} {missing(path)}")
        raise CliError(f"no such file {path_text!r}")
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CliError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise CliError(f"{path}: not a UTF-8 text file") from None
    return path, data


def configs_from_toml(data: dict, where: str) -> list:
    """Configurations of a TOML table: ``[[config]]`` entries whose ``weights`` (and
    ``acts``, ``scaling``, ...) may be lists, expanded as a product; ``acts`` defaults to
    ``weights``. Returns Config objects in file order, duplicates dropped."""
    from itertools import product

    from exmy.evaluate import Config

    extra = sorted(set(data) - {"evaluate", "config"})
    if extra:
        raise CliError(f"{where}: unknown table(s) {', '.join(extra)}; expected [evaluate] "
                       f"and [[config]]")
    entries = data.get("config")
    if not isinstance(entries, list) or not entries:
        raise CliError(f"{where}: no [[config]] entries")
    out, seen = [], set()
    for i, e in enumerate(entries, 1):
        if not isinstance(e, dict):
            raise CliError(f"{where}: config {i} is not a table")
        bad = sorted(set(e) - set(_CONFIG_KEYS))
        if bad:
            raise CliError(f"{where}: config {i} has unknown key(s) {', '.join(bad)}; known: "
                           f"{', '.join(_CONFIG_KEYS)}")
        if "weights" not in e:
            raise CliError(f"{where}: config {i} has no weights")
        accs = e.get("acc", "exact")
        if "granularity" in e and "approx-fma" not in (accs if isinstance(accs, list) else
                                                       [accs]):
            raise CliError(f"{where}: config {i} has a granularity but no acc = "
                           f"'approx-fma'; the granularity is the approximate-normalization "
                           f"FMA's")
        lists = {k: (v if isinstance(v, list) else [v]) for k, v in e.items()}
        empty = [k for k, v in lists.items() if not v]
        if empty:
            raise CliError(f"{where}: config {i} has an empty list for {empty[0]}: the entry "
                           f"would have no configurations")
        keys = list(lists)
        for combo in product(*(lists[k] for k in keys)):
            kw = dict(zip(keys, combo, strict=True))
            kw.setdefault("acts", kw["weights"])
            if kw.get("acc", "exact") != "approx-fma":
                kw.pop("granularity", None)  # (acc = ["exact", "approx-fma"] beside it)
            try:
                cfg = Config(**kw)
            except (TypeError, ValueError) as exc:
                raise CliError(f"{where}: config {i}: {exc}") from None
            if cfg.key not in seen:
                seen.add(cfg.key)
                out.append(cfg)
    return out


def _no_nan(x):
    """JSON has no NaN: a measure that is NaN (an accumulator overflowed to Inf and the
    embeddings became NaN) is written as null; ``nonfinite`` counts those sentences."""
    if isinstance(x, float) and x != x:
        return None
    if isinstance(x, dict):
        return {k: _no_nan(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_no_nan(v) for v in x]
    return x


def _print_row(cfg, rec: dict, cached: bool) -> None:
    tag = " (cached)" if cached else ""
    bad = rec.get("nonfinite") or 0
    # the measures leave such sentences out (all of them: NaN), which the numbers alone hide
    note = (f"; {bad} of {rec['sentences']} embeddings are not finite (Inf or NaN: a sum "
            f"overflowed) and are left out of the measures" if bad else "")
    print(
        f"{cfg.key}: cosine mean {rec['cosine_mean']:.6f} min {rec['cosine_min']:.6f}, "
        f"nn {rec['nn_agreement']:.3f}, spearman {rec['spearman']:.6f}, "
        f"{rec['seconds']:.1f} s{tag}{note}",
        flush=True,
    )


def _interrupted(done: int, total: int, db_path, json_path) -> str:
    """Ctrl-C's one line: what the run kept (each configuration is committed to the database
    as it finishes; --json is written only at the end)."""
    where = f"interrupted after {done} of {total} configuration(s)"
    if db_path is None:
        kept = ("the finished ones are printed above, nothing was stored (--no-db)" if done
                else "nothing was stored (--no-db)")
    elif done:
        kept = f"the finished ones are in {db_path}, and a rerun takes them from there"
    else:
        kept = f"nothing was stored in {db_path}"
    json_note = f"; {json_path} was not written" if json_path is not None else ""
    return f"{where}; {kept}{json_note}"


def _same_file(a: Path, b: Path) -> bool:
    """Whether two names lead to one file (an existing one, or one both would create)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one (or both) does not exist yet
        return os.path.realpath(a) == os.path.realpath(b)


def run(args) -> int:
    from exmy.evaluate import Config

    settings: dict = {}
    if args.no_db and args.db is not None:
        raise CliError(f"give either --db {args.db} or --no-db, not both")
    if args.file is not None:
        # (these options have no argparse default, so that a given one is seen here)
        given = [f"--{k}" for k in ("weights", "acts", "scaling", "product", "acc",
                                    "granularity") if getattr(args, k) is not None]
        if given:
            raise CliError(f"give either FILE or {', '.join(given)}, not both")
        path, data = _load_toml(args.file)
        settings = data.get("evaluate", {})
        if not isinstance(settings, dict):
            raise CliError(f"{path}: [evaluate] must be a table")
        unknown = sorted(set(settings) - {"sentences", "db"})
        if unknown:
            raise CliError(f"{path}: [evaluate] has unknown key(s) {', '.join(unknown)}; "
                           f"known: sentences, db")
        if "db" in settings and not (isinstance(settings["db"], str) and settings["db"]):
            raise CliError(f"{path}: [evaluate] db must be a file name (a string), not "
                           f"{settings['db']!r}")
        n = settings.get("sentences")
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 3):
            raise CliError(f"{path}: [evaluate] sentences must be an integer of at least 3, "
                           f"not {n!r}")
        configs = configs_from_toml(data, str(path))
    else:
        if args.weights is None:
            raise CliError("give --weights FMT (and --acts FMT), or a TOML FILE")
        args.scaling = args.scaling or "channel"
        args.product = args.product or "exact"
        args.acc = args.acc or "exact"
        if args.granularity is not None and args.acc != "approx-fma":
            raise CliError(f"--granularity applies to --acc approx-fma only, not --acc "
                           f"{args.acc}")
        configs = [Config(
            args.weights, args.acts if args.acts is not None else args.weights,
            scaling=args.scaling, product=args.product, acc=args.acc,
            **({} if args.granularity is None else {"granularity": args.granularity}),
        )]
    if args.list:
        for c in configs:
            print(c.key)
        return 0
    sentences = args.sentences if args.sentences is not None else settings.get("sentences")
    json_path = output_file(args.json, "--json") if args.json is not None else None
    if json_path is not None and args.file is not None and _same_file(json_path, path):
        raise CliError(f"--json {args.json!r} names the configuration file {str(path)!r}; the "
                       f"JSON would overwrite it: give --json another file")
    db_path = None
    if not args.no_db:
        db_path = args.db if args.db is not None else settings.get("db") or DEFAULT_DB
        flag = "--db"
        if args.db is None and settings.get("db") and args.file is not None:
            db_path = str(Path(args.file).parent / settings["db"]) \
                if not Path(settings["db"]).is_absolute() else settings["db"]
            flag = f"{path}: [evaluate] db"  # the file named it, not an option
        db_path = output_file(db_path, flag)
        if json_path is not None and _same_file(json_path, db_path):
            raise CliError(f"--json {args.json!r} names the results database {str(db_path)!r}; "
                           f"the JSON would overwrite its records: give --json another file")

    from exmy.evaluate.model import MODEL_PACKAGE
    from exmy.evaluate.run import Evaluator

    results: list = []
    db = None
    try:
        ev = Evaluator(sentences)  # (checks the sentence count before the database is opened)
        if db_path is not None:
            from exmy.evaluate.db import EvaluateDB

            db = EvaluateDB(db_path)
        model_id = f"{MODEL_PACKAGE}:{ev.model.folder.name}"
        n = len(ev.sentences)
        for cfg in configs:
            rec = None if (db is None or args.rerun) else db.get(cfg.key, n, model_id)
            cached = rec is not None
            if rec is None:
                rec = {**cfg.as_dict(), "key": cfg.key, **ev.evaluate(cfg)}
                if db is not None:
                    db.put(cfg.key, cfg.as_dict(), model_id, rec)
            results.append(rec)
            _print_row(cfg, rec, cached)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(_interrupted(len(results), len(configs), db_path,
                                             json_path)) from None
    finally:
        if db is not None:
            db.close()
    if json_path is not None:
        payload = results[0] if args.file is None else results
        with writing(json_path):
            json_path.write_text(json.dumps(_no_nan(payload), indent=1) + "\n")
        print(f"wrote {json_path}", file=sys.stderr)
    return 0
