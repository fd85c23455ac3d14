"""The admin service's settings: the common ones and its own (README's settings table)."""

from __future__ import annotations

from pydantic import SecretStr

from chatbot_common.settings import Settings


class AdminSettings(Settings):
    admin_port: int = 8084
    #: the first admin, created at start when no active admin exists (then ignored)
    admin_bootstrap_email: str | None = None
    admin_bootstrap_password: SecretStr | None = None
    #: lifetime of an access token from POST /api/v1/auth/token
    admin_token_ttl_seconds: int = 8 * 3600
    #: per-city data (settlements, street directories); default: the packaged one
    admin_data_dir: str | None = None
    #: failed logins per e-mail address within the window before it is locked for the window
    admin_login_attempts: int = 5
    admin_login_window_seconds: int = 900
