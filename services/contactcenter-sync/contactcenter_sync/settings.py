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
