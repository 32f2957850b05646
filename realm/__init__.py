"""REALM in Keras 3: models, tokenizer, retrieval, checkpoints and data utilities (no KFP imports)."""
