"""Viber callback signatures: lowercase hex HMAC-SHA256 of the raw body, keyed by the
bot's auth token (viber-api.md). Compared in constant time."""

from __future__ import annotations

import hashlib
import hmac


def sign(token: str, body: bytes) -> str:
    return hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


def verify(token: str, body: bytes, signature: str | None) -> bool:
    if not signature:
        return False
    return hmac.compare_digest(sign(token, body), signature.strip().lower())
