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
    #: the panel (issue 9): lifetime of a login session (absolute, from the login)
    admin_session_ttl_seconds: int = 8 * 3600
    #: mark the session cookie Secure (set it when the panel is served over HTTPS)
    admin_cookie_secure: bool = False
    #: the notifier's base URL for the audience preview (POST {url}/api/audience/preview); unset: «невідомо»
    admin_notifier_url: str | None = None
    #: price of one Viber message in UAH for the cost estimate — set it from the city's Viber contract
    admin_message_price_uah: float = 0.80
    #: the knowledge base's seed file (C3); default: the packaged one the dialog reads too
    #: (chatbot_common.faq_seed) — set it to the same file as DIALOG_FAQ_FILE
    admin_faq_file: str | None = None
    #: how often the survey lifecycle job looks for surveys to start (→ active) or end (→ closed)
    admin_survey_tick_seconds: float = 5.0
