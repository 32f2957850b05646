"""REALM pre-training: salient-span masking, retrieval-augmented MLM training, ICT warm start, index refresh."""
