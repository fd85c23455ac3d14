"""Every value of the enums residents see by name has its Ukrainian name in the catalog."""

import pytest

from chatbot_common.events import OutageKind, TicketStatus, Utility
from chatbot_common.texts import catalog


@pytest.mark.parametrize(("table", "enum"), [("ticket_status", TicketStatus), ("utility", Utility),
                                              ("outage_kind", OutageKind)])
def test_each_enum_value_has_a_name(table, enum):
    t = catalog()
    assert [v.value for v in enum if f"{table}.{v.value}" not in t] == []
