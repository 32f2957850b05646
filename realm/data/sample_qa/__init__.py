"""The question set written for the Wikipedia sample (`questions.jsonl`) and its checker (`check`).

A package so that `python -m realm.data.sample_qa.check` runs from an installed wheel as well as a checkout;
the data files ship as package data (pyproject.toml). Read the questions with
`realm.finetuning.questions.sample_questions`.
"""
