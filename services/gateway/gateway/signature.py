"""Viber callback signatures: lowercase hex HMAC-SHA256 of the raw body, keyed by the
bot's auth token (viber-api.md). Compared in constant time, as bytes: ``compare_digest``
on ``str`` raises ``TypeError`` for non-ASCII input, and a forged header must get 403,
not 500."""

from __future__ import annotations

import hashlib
import hmac


def sign(token: str, body: bytes) -> str:
    return hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


def verify(token: str, body: bytes, signature: str | None) -> bool:
    if not signature:
        return False
    try:
        given = signature.strip().lower().encode()
        return hmac.compare_digest(sign(token, body).encode(), given)
    except (TypeError, ValueError, AttributeError):  # lone surrogates, not a string …
        return False
