"""One segment rule for the notifier and the dialog (S7): every filter given must hold."""

from datetime import UTC, datetime

import pytest

from chatbot_common.events import Channel, NotifyScope, Segment, SegmentStreet
from chatbot_common.segments import SegmentRule

KEY = "khmelnytskyi|proskurivska|12"
BASE = dict(notify="address", settlements={"khmelnytskyi"}, keys={KEY}, channels={"viber"},
            registered_at=datetime(2026, 5, 1, tzinfo=UTC))


@pytest.mark.parametrize(("segment", "changes", "holds"), [
    (Segment(), {}, True),
    (Segment(), {"notify": "none"}, False),  # «no notices»: in no segment
    (Segment(settlement_ids=["khmelnytskyi"]), {}, True),
    (Segment(settlement_ids=["oleshyn"]), {}, False),
    (Segment(streets=[SegmentStreet(settlement_id="khmelnytskyi", street_id="proskurivska", houses=["12"])]), {}, True),
    (Segment(streets=[SegmentStreet(settlement_id="khmelnytskyi", street_id="proskurivska", houses=["14"])]), {}, False),
    (Segment(streets=[SegmentStreet(settlement_id="khmelnytskyi", street_id="proskurivska")]), {}, True),
    (Segment(streets=[SegmentStreet(settlement_id="khmelnytskyi", street_id="shevchenka")]), {}, False),
    (Segment(streets=[SegmentStreet(settlement_id="khmelnytskyi", street_id="shevchenka")]), {"keys": None}, True),
    (Segment(notify_scopes=[NotifyScope.city]), {}, False),
    (Segment(channels=[Channel.telegram]), {}, False),
    (Segment(registered_after=datetime(2026, 1, 1, tzinfo=UTC)), {}, True),
    (Segment(registered_before=datetime(2026, 1, 1, tzinfo=UTC)), {}, False),
    (Segment(registered_after=datetime(2026, 1, 1, tzinfo=UTC)), {"registered_at": None}, False),
    (Segment(has_open_request=True), {"has_open_request": True}, True),
    (Segment(has_open_request=False), {"has_open_request": True}, False),
    (Segment(answered_survey_id="dvir"), {"answered": True}, True),
    (Segment(answered_survey_id="dvir"), {}, False),
])
def test_segment_rule(segment, changes, holds):
    assert SegmentRule(segment).holds(**{**BASE, **changes}) is holds
