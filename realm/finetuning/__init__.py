"""Open-domain QA fine-tuning (ORQA/REALM): fixed block index, trained question embedder and reader."""
