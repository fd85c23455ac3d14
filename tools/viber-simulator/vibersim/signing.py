"""Callback signatures exactly as Viber computes them.

Signature = lowercase hex HMAC-SHA256 of the raw body bytes keyed with the bot's auth
token; sent as ``X-Viber-Content-Signature`` and as ``?sig=`` on the webhook URL.
"""

from __future__ import annotations

import hashlib
import hmac

from yarl import URL

SIGNATURE_HEADER = "X-Viber-Content-Signature"


def sign(body: bytes, auth_token: str) -> str:
    """Lowercase hex HMAC-SHA256 of ``body`` with ``auth_token`` as key."""
    return hmac.new(auth_token.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, signature: str, auth_token: str) -> bool:
    """Constant-time check, handy for stub webhooks in tests."""
    return hmac.compare_digest(sign(body, auth_token), signature)


def signed_url(webhook_url: str, signature: str) -> str:
    """The webhook URL with ``sig=<signature>`` added to any existing query."""
    return str(URL(webhook_url).update_query(sig=signature))
