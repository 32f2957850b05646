"""Retrieval: exact maximum inner product search in TF graph ops and ScaNN indexes."""
