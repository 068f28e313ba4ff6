"""Run unit configurations on the model and measure them against the float32 forward pass.

Sentences: evaluate/sentences.txt; every 8th sentence (index 7, 15, ...) is held out for
calibration (the activation amax of every linear layer's input, from the float32 model), the
others are the evaluation set (``--sentences N`` takes its first N). Metrics against the
float32 embeddings of the evaluation set:

``cosine_mean`` / ``cosine_min``
    cosine similarity of each sentence's embedding with its float32 embedding.
``nn_agreement``
    the fraction of sentences whose nearest neighbour (cosine, itself excluded) is the same
    sentence as with float32.
``spearman``
    Spearman rank correlation of all pairwise similarities (i < j) against float32's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from exmy.golden.params import plain_scalar

from .model import LINEAR_NAMES, MiniLM, load_model, load_sentences
from .units import Config, LinearUnit, real_array

__all__ = [
    "CALIB_EVERY", "DEMO_CONFIGS", "Evaluator", "demo_evaluate", "metrics", "spearman",
    "split_sentences",
]

#: Every CALIB_EVERY-th sentence is held out for calibration.
CALIB_EVERY = 8


def split_sentences(sentences: list[str]) -> tuple[list[str], list[str]]:
    """(evaluation, calibration) sentences."""
    if isinstance(sentences, (str, bytes)) or not isinstance(sentences, (list, tuple)) or any(
            not isinstance(s, str) for s in sentences):
        raise TypeError(f"Sentences must be a list of strings, not {sentences!r:.60}")
    ev = [s for i, s in enumerate(sentences) if i % CALIB_EVERY != CALIB_EVERY - 1]
    cal = [s for i, s in enumerate(sentences) if i % CALIB_EVERY == CALIB_EVERY - 1]
    return ev, cal


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    n = len(x)
    # tie groups: [start, end) of equal values in sorted order
    edge = np.concatenate([[True], xs[1:] != xs[:-1], [True]])
    starts = np.flatnonzero(edge[:-1])
    ends = np.flatnonzero(edge[1:]) + 1
    avg = (starts + ends - 1) / 2.0 + 1.0
    r = np.empty(n, np.float64)
    r[order] = np.repeat(avg, ends - starts)
    return r


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (Pearson correlation of the average ranks) of two 1-D
    arrays of one length (NaN where a side is constant or shorter than 2)."""
    xs = [real_array(v, f"spearman's {what}", ndim=1, allow_inf=True).astype(np.float64)
          for what, v in (("a", a), ("b", b))]
    if len(xs[0]) != len(xs[1]):
        raise ValueError(f"spearman's a and b must have one length, not {len(xs[0])} and "
                         f"{len(xs[1])}")
    if len(xs[0]) < 2:
        return float("nan")
    ra, rb = _ranks(xs[0]), _ranks(xs[1])
    ra -= ra.mean()
    rb -= rb.mean()
    den = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / den) if den > 0 else float("nan")


def metrics(emb: np.ndarray, ref: np.ndarray) -> dict:
    """The four measures of ``emb`` against ``ref`` (rows L2-normalised): two arrays of one
    shape (sentences, embedding dimension); ``emb`` may hold NaN or Inf (its ``nonfinite``
    rows)."""
    for what, v in (("emb", emb), ("ref", ref)):
        if np.asarray(v).dtype.kind not in "fiu":
            raise TypeError(f"metrics' {what} must be an array of real numbers, not {v!r:.60}")
    emb = np.asarray(emb, np.float64)
    ref = np.asarray(ref, np.float64)
    if ref.ndim != 2 or emb.shape != ref.shape:
        raise ValueError(f"metrics' emb and ref must be 2-D arrays of one shape (sentences, "
                         f"dimension), not {emb.shape} and {ref.shape}")
    bad = ~np.all(np.isfinite(emb), axis=1)
    cos = np.where(bad, np.nan, (emb * ref).sum(1))
    n = len(ref)
    sim_r = ref @ ref.T
    sim_e = np.nan_to_num(emb) @ np.nan_to_num(emb).T
    np.fill_diagonal(sim_r, -np.inf)
    np.fill_diagonal(sim_e, -np.inf)
    nn = (float(np.mean(np.argmax(sim_r, 1) == np.argmax(sim_e, 1)))
          if n > 1 and not bad.all() else float("nan"))
    iu = np.triu_indices(n, 1)
    rho = spearman(sim_e[iu], sim_r[iu]) if n > 2 else float("nan")
    return {
        "cosine_mean": float(np.nanmean(cos)) if not bad.all() else float("nan"),
        "cosine_min": float(np.nanmin(cos)) if not bad.all() else float("nan"),
        "nn_agreement": nn,
        "spearman": rho,
        "nonfinite": int(bad.sum()),
    }


@dataclass
class _Run:
    units: dict


class Evaluator:
    """The model, the sentence split, the calibration and the float32 baseline, loaded once
    for any number of configurations."""

    def __init__(self, sentences: int | None = None, model: MiniLM | None = None):
        if model is not None and not isinstance(model, MiniLM):
            raise TypeError(f"model must be an exmy.evaluate.MiniLM (load_model()) or None, not "
                            f"{model!r}")
        self.model = model or load_model()
        ev, cal = split_sentences(load_sentences())
        if sentences is not None:
            sentences = plain_scalar(sentences)  # a numpy integer counts as the int it holds
            if not isinstance(sentences, int) or isinstance(sentences, bool):
                raise TypeError(f"Sentence count must be an integer, not {sentences!r}")
            if not 3 <= sentences <= len(ev):
                raise ValueError(
                    f"Sentence count must be in 3..{len(ev)} (the evaluation set), not "
                    f"{sentences}"
                )
            ev = ev[:sentences]
        self.sentences = ev
        self.calibration = cal
        self.ids = self.model.tokenize(ev)
        self._amax: dict | None = None
        self._ref: np.ndarray | None = None

    @property
    def amax(self) -> dict:
        """max|x| of every linear layer's input on the calibration sentences (float32 model)."""
        if self._amax is None:
            from .model import float32_linear, forward

            amax: dict = {}

            def record(layer, name, x, w, b):
                amax[(layer, name)] = max(amax.get((layer, name), 0.0), float(np.abs(x).max()))
                return float32_linear(layer, name, x, w, b)

            forward(self.model, self.model.tokenize(self.calibration), record)
            self._amax = amax
        return self._amax

    @property
    def reference(self) -> np.ndarray:
        """float32 embeddings of the evaluation sentences."""
        if self._ref is None:
            from .model import float32_linear, forward

            self._ref = forward(self.model, self.ids, float32_linear)
        return self._ref

    def units(self, cfg: Config) -> dict:
        """One LinearUnit per linear layer (weights quantized once)."""
        out = {}
        for layer in range(self.model.layers):
            for name in LINEAR_NAMES:
                w, b = self.model.linear_weight(layer, name)
                out[(layer, name)] = LinearUnit(cfg, w, b, self.amax[(layer, name)])
        return out

    def embed(self, cfg: Config) -> tuple[np.ndarray, dict]:
        """Embeddings of the evaluation sentences with ``cfg`` in every linear layer."""
        from .model import forward

        units = self.units(cfg)
        last: dict = {}

        def linear(layer, name, x, w, b):
            u = units[(layer, name)]
            if not np.all(np.isfinite(x)):
                # an earlier layer's float32 output overflowed (a format whose range exceeds
                # float32's once scaled, e.g. e7m0): the unit's result is not a number, and so
                # is everything after it; the measures come out NaN (null in --json)
                last["overflow"] = last.get("overflow") or f"layer {layer} {name}"
                return np.full(x.shape[:-1] + (len(b),), np.nan, np.float32)
            if last.get("x") is x and last.get("key") == u.act_key:
                q = last["q"]  # query, key and value share their input
            else:
                q = u.quantize_acts(x)
                last.update(x=x, key=u.act_key, q=q)
            return u(x, q)

        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported below
            emb = forward(self.model, self.ids, linear)
        stats: dict = {"overflow": last.get("overflow")}
        for u in units.values():
            for k, v in u.stats.items():
                stats[k] = (stats.get(k) or 0) + v
        return emb, stats

    def evaluate(self, cfg: Config) -> dict:
        """Metrics of ``cfg`` against float32, with the time it took (seconds, wall)."""
        ref = self.reference
        _ = self.amax
        t0 = time.perf_counter()
        emb, stats = self.embed(cfg)
        seconds = time.perf_counter() - t0
        m = metrics(emb, ref)
        m["seconds"] = round(seconds, 3)
        m["sentences"] = len(self.sentences)
        m["tokens"] = int(sum(len(i) for i in self.ids))
        if "elements" in stats:
            m["exact_recomputed"] = int(stats["exact_recomputed"])
        if stats.get("overflow"):
            m["overflow"] = f"activations not finite from {stats['overflow']} on"
        return m


#: The configurations ``exmy demo`` evaluates (a short run on a subset).
DEMO_CONFIGS = (
    Config("e4m3fn", "e4m3fn", scaling="channel"),
    Config("int4", "int8", scaling="channel"),
    Config("e2m1fn", "e2m1fn", scaling="mx"),
)


def demo_evaluate(db_path, sentences: int = 20) -> list[str]:
    """``exmy demo``'s evaluation step: DEMO_CONFIGS on the first ``sentences`` evaluation
    sentences, stored in the results database ``db_path``; prints one line per configuration
    and returns a markdown table."""
    from .db import EvaluateDB
    from .model import MODEL_PACKAGE

    ev = Evaluator(sentences)
    db = EvaluateDB(db_path)
    model_id = f"{MODEL_PACKAGE}:{ev.model.folder.name}"
    lines = ["| configuration | cosine mean | cosine min | nn agreement | Spearman | s |",
             "|---|---|---|---|---|---|"]
    try:
        for cfg in DEMO_CONFIGS:
            rec = db.get(cfg.key, len(ev.sentences), model_id)
            if rec is None:
                rec = {**cfg.as_dict(), "key": cfg.key, **ev.evaluate(cfg)}
                db.put(cfg.key, cfg.as_dict(), model_id, rec)
            print(f"   {cfg.key}: cosine mean {rec['cosine_mean']:.5f}, nn "
                  f"{rec['nn_agreement']:.2f}, {rec['seconds']:.0f} s", flush=True)
            lines.append(
                f"| `{cfg.key}` | {rec['cosine_mean']:.5f} | {rec['cosine_min']:.5f} | "
                f"{rec['nn_agreement']:.3f} | {rec['spearman']:.5f} | {rec['seconds']:.0f} |"
            )
    finally:
        db.close()
    return lines
