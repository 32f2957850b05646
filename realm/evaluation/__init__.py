"""Open-QA evaluation: answer normalisation, exact/regex match, retrieval recall, blessing."""
