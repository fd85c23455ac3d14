"""Answers to residents' questions (C3): the knowledge base, its search and its store.

- ``text``: normalisation, lemmas (pymorphy3), small talk, personal data stripping;
- ``kb``: the entries and the packaged per-city seed file;
- ``search``: BM25 over lemmas (bm25s) and the confidence decision;
- ``store``: the knowledge base, its changes and the feedback in the dialog's database;
- ``answerer``: the engine's ``QuestionAnswerer``.

See docs/faq.md.
"""
