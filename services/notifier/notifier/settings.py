"""The notifier's settings: the common ones and its own."""

from __future__ import annotations

from pydantic import Field

from chatbot_common.settings import Settings


class NotifierSettings(Settings):
    notifier_port: int = 8083
    #: planned works are announced on publication and again this many hours before
    #: they start (no reminder when the publication itself came later than that)
    notifier_planned_reminder_hours: float = Field(default=12.0, gt=0)
    #: how often the reminder scheduler looks for planned works that are due
    notifier_scheduler_seconds: float = Field(default=30.0, gt=0)
    #: how often, at most, a mailing's changed delivery figures are published
    notifier_progress_seconds: float = Field(default=2.0, gt=0)
    #: outbound batches (≤ 300 receivers each) kept in one stored chunk of a mailing
    #: (MongoDB documents are capped at 16 MB; 25 batches are well under 2 MB)
    notifier_chunk_batches: int = Field(default=25, ge=1, le=200)
    #: chunks of one mailing published to the broker at the same time
    notifier_publish_concurrency: int = Field(default=4, ge=1, le=64)
    #: also give a staff mailing's picture as a link in its text (the gateway sends a
    #: picture message with the text as its caption; the link is added anyway when the
    #: text is longer than Viber's 768-character caption and goes as plain text)
    notifier_image_link_in_text: bool = False
