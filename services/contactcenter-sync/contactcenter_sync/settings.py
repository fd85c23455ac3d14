"""contactcenter-sync's settings: the common ones and its own (README: settings table).

Nothing here names a city (S8): the contact center is whatever ``CONTACTCENTER_URL``
points at. An empty URL means "not configured": the service still runs, stores every
request the residents send and reports the contact center as not configured (logs and
the ``chatbot_contactcenter_configured`` metric); the requests go out once it is set.
"""

from __future__ import annotations

from pydantic import Field, SecretStr

from chatbot_common.settings import Settings


class ContactCenterSyncSettings(Settings):
    contactcenter_sync_port: int = 8082
    #: Open311 GeoReport v2 base URL, e.g. ``http://127.0.0.1:8090/open311/v2``; "" = not configured
    contactcenter_url: str = ""
    contactcenter_api_key: SecretStr = SecretStr("")
    contactcenter_jurisdiction_id: str | None = None
    #: how often statuses, deadlines and tokens are polled
    contactcenter_poll_seconds: float = Field(default=60.0, gt=0)
    #: one HTTP call to the contact center may take this long
    contactcenter_timeout_seconds: float = Field(default=15.0, gt=0)
    #: at most this many requests are being posted at once
    contactcenter_concurrency: int = Field(default=4, ge=1)
    #: how often the service list (and definitions) is fetched again
    contactcenter_services_refresh_seconds: float = Field(default=3600.0, gt=0)
    #: the resident is reminded this many hours before a deadline (C6)
    contactcenter_deadline_reminder_hours: float = Field(default=24.0, ge=0)
    #: the status poll asks again for this many seconds before its cursor (late writes)
    contactcenter_updates_overlap_seconds: float = Field(default=300.0, ge=0)
    #: a request the contact center could not take is tried again after this, doubling
    #: per attempt up to the maximum
    contactcenter_retry_min_seconds: float = Field(default=2.0, gt=0)
    contactcenter_retry_max_seconds: float = Field(default=300.0, gt=0)
    #: request records are asked for in chunks of this many ids
    contactcenter_ids_per_request: int = Field(default=50, ge=1)
    #: poll the S3 outage feed (``x-chatbot/v1/outages.json``) when the contact center offers it
    contactcenter_outages: bool = True
    #: the community's directory (settlements, streets) the outage feed is matched
    #: against; default: the data packaged with chatbot_common (as the dialog's)
    contactcenter_data_dir: str | None = None

    @property
    def contactcenter_configured(self) -> bool:
        return bool(self.contactcenter_url.strip())

    # ---- operator chat (issue 11, docs/operator-chat.md): Chatwoot's API channel
    #: base URL of the chat server, e.g. ``https://chat.example.org`` (the simulator:
    #: ``http://127.0.0.1:8090/chatwoot``); "" = chat off (``chat.declined`` ``disabled``)
    chat_url: str = ""
    #: a Chatwoot user's access token (an agent-bot token cannot create contacts)
    chat_api_token: SecretStr = SecretStr("")
    chat_account_id: int = Field(default=1, ge=1)
    #: the API-channel inbox whose webhook URL points at ``POST /chat/webhook``
    chat_inbox_id: int = Field(default=1, ge=1)
    #: the inbox's webhook secret; set = unsigned, forged or stale webhooks get 401
    chat_webhook_secret: SecretStr = SecretStr("")
    #: e.g. ``mon-fri 08:00-20:00; sat 09:00-15:00`` in ``CHAT_TIMEZONE``; "" = always
    chat_working_hours: str = ""
    #: ISO dates without operators, comma separated
    chat_holidays: str = ""
    chat_timezone: str = "Europe/Kyiv"
    #: no operator answer this long after the chat opened → ``chat.unanswered`` (once)
    chat_answer_timeout_seconds: float = Field(default=300.0, gt=0)
    #: a resident's message not delivered this long (chat server down) → ``chat.undelivered``
    chat_delivery_budget_seconds: float = Field(default=600.0, gt=0)
    chat_retry_min_seconds: float = Field(default=1.0, gt=0)
    chat_retry_max_seconds: float = Field(default=30.0, gt=0)
    #: one HTTP call to the chat server may take this long
    chat_timeout_seconds: float = Field(default=10.0, gt=0)
    #: photos larger than this are sent as a link instead of an attachment
    chat_media_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1)

    @property
    def chat_configured(self) -> bool:
        return bool(self.chat_url.strip())
