"""The knowledge base's seed file: one reader for the dialog and admin lives in
:mod:`chatbot_common.faq_seed` (the packaged Khmelnytskyi file is
``chatbot_common/directory/data/faq.toml``). The dialog seeds its database from it when
the database is empty or holds an older version (``store.FaqStore.seed``).
"""

from chatbot_common.faq_seed import DEFAULT_SEED, Seed, load_seed

__all__ = ["DEFAULT_SEED", "Seed", "load_seed"]
