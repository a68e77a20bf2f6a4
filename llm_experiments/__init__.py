"""llm_experiments: weak-to-strong fine-tuning of language models with forward and reverse KL and CE.

Entry points: :func:`llm_experiments.run.run` (``revkl llm run``) and
:func:`llm_experiments.report.report` (``revkl llm report``); run-folder fields in
:mod:`llm_experiments.results`. Losses and theory checks come from ``bounds``.
"""
