"""A small contact-center service list for the request tests: two groups, and one
category whose definition asks every Open311 datatype."""

from __future__ import annotations

from datetime import UTC, datetime

from chatbot_common.events import (
    ContactCenterServices,
    ServiceAttribute,
    ServiceInfo,
    ServiceValue,
)

from dialog.conversation.tickets import service_token

EVERY_DATATYPE = ServiceInfo(
    service_code="road.pothole",
    service_name="Яма на дорозі",
    group="Дороги",
    attributes=[
        ServiceAttribute(code="size", datatype="singlevaluelist", required=True, order=1,
                         description="Який розмір ями?",
                         values=[ServiceValue(key="small", name="Невелика"), ServiceValue(key="big", name="Велика")]),
        ServiceAttribute(code="where", datatype="multivaluelist", required=True, order=2,
                         description="Де саме?",
                         values=[ServiceValue(key="road", name="Проїжджа частина"),
                                 ServiceValue(key="walk", name="Тротуар"),
                                 ServiceValue(key="yard", name="Двір")]),
        ServiceAttribute(code="depth", datatype="number", required=False, order=3, description="Глибина, см?"),
        ServiceAttribute(code="since", datatype="datetime", required=False, order=4,
                         description="Коли Ви її помітили?"),
        ServiceAttribute(code="landmark", datatype="string", required=True, order=5,
                         description="Поруч є орієнтир?"),
        ServiceAttribute(code="more", datatype="text", required=False, order=6, description="Щось іще?"),
        ServiceAttribute(code="note", datatype="string", variable=False, order=7,
                         description="Службова примітка (не питання)"),
    ],
)
SIMPLE = ServiceInfo(service_code="light.street", service_name="Не світить ліхтар", group="Освітлення")
SERVICES = [EVERY_DATATYPE, SIMPLE]


def services_event(services: list[ServiceInfo] = SERVICES) -> ContactCenterServices:
    return ContactCenterServices(services=services, fetched_at=datetime(2026, 3, 1, tzinfo=UTC))


def token(service: ServiceInfo) -> str:
    return f"tcat:s:{service_token(service.service_code)}"
