"""Corpus preprocessing: MediaWiki dumps -> REALM retrieval blocks and salient-span pre-training examples.

Pure per-page logic (`pages`, `wikitext`, `sentences`, `spans`, `blocks`, `process`) is independent of Beam so
it can be tested directly; `preprocess` assembles it into an Apache Beam pipeline; `block_store` and
`examples` read the outputs back for training, refreshing and exporting.
"""
