"""The standard Open311 GeoReport v2 JSON endpoints: answers validate against the copied
schemas, filters work, and bad input gets a clear Open311 error and creates nothing."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import ValidationError

from ccsim import validate

from .helpers import API_KEY, B, CC

DATATYPES = {"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"}


async def test_services_list_is_a_grouped_ukrainian_city_list_that_validates(cc: CC) -> None:
    """services.json validates; ~25+ services in the city groups the issue names."""
    status, services = await cc.get(B + "/services.json")
    assert status == 200
    validate("services", services)
    for item in services:
        validate("service", item)
    groups = {s["group"] for s in services}
    assert {"Водопостачання", "Водовідведення", "Теплопостачання", "Дороги і тротуари", "Вуличне освітлення",
            "Вивезення відходів", "Зелені насадження", "Безпритульні тварини", "Житлове господарство",
            "Громадський транспорт", "Благоустрій"} <= groups
    assert len(services) >= 25
    assert len({s["service_code"] for s in services}) == len(services)


async def test_service_definitions_validate_and_use_every_datatype_required_and_optional(cc: CC) -> None:
    """Each metadata=true service has a definition that validates; together they use every
    datatype both as a required and as an optional question; lists carry values."""
    _, services = await cc.get(B + "/services.json")
    seen: set[tuple[str, bool]] = set()
    for service in services:
        status, definition = await cc.get(B + f"/services/{service['service_code']}.json")
        assert status == 200
        validate("service_definition", definition)
        assert definition["service_code"] == service["service_code"]
        assert service["metadata"] == bool(definition["attributes"])
        for attr in definition["attributes"]:
            if attr["variable"]:
                seen.add((attr["datatype"], attr["required"]))
            if attr["datatype"].endswith("valuelist"):
                assert attr["values"], attr
    assert {(d, r) for d in DATATYPES for r in (True, False)} <= seen


async def test_unknown_service_definition_is_404_with_open311_error_body(cc: CC) -> None:
    status, body = await cc.get(B + "/services/no-such.json")
    assert status == 404
    validate("error", body)
    assert "no-such" in body[0]["description"]


async def test_post_answers_a_number_that_validates_and_the_request_reads_back(cc: CC) -> None:
    """POST → [{service_request_id, service_notice, account_id}]; requests/{id}.json and
    requests.json return the record with the fields sent, a deadline from the service's SLA."""
    status, answer = await cc.file(lat="49.4229", long="26.9871", media_url="https://example.org/p.jpg",
                                   address_id="A-17", zipcode="29000")
    assert status == 200
    validate("request_response", answer)
    assert set(answer[0]) == {"service_request_id", "service_notice", "account_id"}
    number = answer[0]["service_request_id"]

    status, one = await cc.get(B + f"/requests/{number}.json")
    assert status == 200
    validate("requests", one)
    record = one[0]
    validate("request", record)
    assert record["service_request_id"] == number and record["status"] == "open"
    assert record["service_code"] == "road-pothole" and record["service_name"] == "Яма на дорозі"
    assert record["address"] == "вул. Проскурівська, 1" and record["address_id"] == "A-17"
    assert (record["lat"], record["long"]) == (49.4229, 26.9871)
    assert record["media_url"] == "https://example.org/p.jpg" and record["zipcode"] == "29000"
    assert record["expected_datetime"] is not None and record["expected_datetime"] > record["requested_datetime"]
    status, same = await cc.get(B + f"/request/{number}.json")  # the swagger's singular path too
    assert status == 200 and same == one


async def test_the_form_fields_and_headers_are_kept_as_received(cc: CC) -> None:
    """Everything the client sent (name, phone, attributes, headers) is recorded for the operator."""
    await cc.file("water-none", headers={"Idempotency-Key": "ticket-1", "X-Trace": "abc"},
                  **{"attribute[scope]": "building", "attribute[entrance]": "2", "device_id": "viber:u1"})
    [request] = cc.sim.requests.values()
    assert request.fields["first_name"] == "Олена" and request.fields["phone"] == "+380671112233"
    assert request.attributes == {"scope": "building", "entrance": "2"}
    assert request.headers["X-Trace"] == "abc" and request.idempotency_key == "ticket-1"
    assert ("api_key", API_KEY) in request.form
    assert "api_key" not in request.fields  # the key is not shown as a request field


async def test_multivaluelist_takes_repeated_values_and_bracket_form(cc: CC) -> None:
    await cc.post(B + "/requests.json", data=[("api_key", API_KEY), ("service_code", "water-quality"),
                                              ("address_string", "вул. Соборна, 5"),
                                              ("attribute[signs][]", "turbid"), ("attribute[signs][]", "smell")])
    [request] = cc.sim.requests.values()
    assert request.attributes["signs"] == ["turbid", "smell"]


@pytest.mark.parametrize(("fields", "status", "needle"), [
    ({"api_key": "wrong"}, 403, "api_key"),
    ({"api_key": None}, 403, "api_key"),
    ({"service_code": ""}, 400, "service_code"),
    ({"address_string": None}, 400, "місце"),
    ({"address_string": None, "lat": "49.4"}, 400, "lat"),
    ({"address_string": None, "lat": "abc", "long": "26.9"}, 400, "lat"),
    ({"address_string": None, "lat": "91", "long": "26.9"}, 400, "межами"),
    ({"description": "я" * 4001}, 400, "4000"),
    ({"media_url": "javascript:alert(1)"}, 400, "media_url"),
])
async def test_bad_posts_get_a_clear_error_and_create_nothing(cc: CC, fields: dict[str, Any], status: int,
                                                              needle: str) -> None:
    """Each refusal is an Open311 error body with the right code naming the problem; no
    request is created, and the POST itself is still recorded with its answer."""
    got, body = await cc.file(**fields)
    assert got == status, body
    validate("error", body)
    assert body[0]["code"] == status and needle in body[0]["description"]
    assert cc.sim.requests == {}
    assert [p.answer_status for p in cc.sim.posts] == [status]


async def test_unknown_service_code_is_404(cc: CC) -> None:
    status, body = await cc.file("no-such-service")
    assert status == 404 and "no-such-service" in body[0]["description"]
    validate("error", body)


@pytest.mark.parametrize(("service", "attrs", "needle"), [
    ("water-none", {}, "attribute[scope]"),                                     # required list missing
    ("water-none", {"attribute[scope]": "moon"}, "невідоме значення"),           # not one of the keys
    ("light-off", {"attribute[lamps]": "багато"}, "число"),                      # number
    ("transport-schedule", {"attribute[route]": "26", "attribute[when]": "вчора"}, "ISO-8601"),  # datetime
    ("transport-schedule", {"attribute[when]": "2026-11-28T08:00:00+02:00"}, "attribute[route]"),  # string
    ("improvement-playground", {}, "attribute[details]"),                        # text
    ("housing-entrance", {"attribute[issues]": "graffiti"}, "невідоме значення"),  # multivaluelist
])
async def test_attributes_are_checked_against_the_service_definition(cc: CC, service: str, attrs: dict[str, str],
                                                                      needle: str) -> None:
    status, body = await cc.file(service, **attrs)
    assert status == 400 and needle in body[0]["description"], body
    assert cc.sim.requests == {}


async def test_all_required_attributes_of_every_service_accepted_when_given(cc: CC) -> None:
    """A client that answers every required question with a valid value gets a number for every service."""
    for service in cc.sim.services:
        attrs = {}
        for attr in service["attributes"]:
            if attr["required"] and attr["variable"]:
                value = {"number": "3", "datetime": "2026-11-28T08:00:00+02:00", "string": "26", "text": "Текст"}.get(
                    attr["datatype"]) or attr["values"][0]["key"]
                attrs[f"attribute[{attr['code']}]"] = value
        status, body = await cc.file(service["service_code"], **attrs)
        assert status == 200, (service["service_code"], body)


async def test_get_requests_filters_ids_codes_status_dates_and_pages(cc: CC) -> None:
    a = await cc.file_ok("road-pothole")
    cc.clock.advance(3600)
    b = await cc.file_ok("light-off", **{"attribute[lamps]": "2"})
    cc.clock.advance(3600)
    c = await cc.file_ok("road-pothole")
    cc.sim.set_status(c, "fixed", "Засипали")

    async def ids(**params: str) -> list[str]:
        status, body = await cc.get(B + "/requests.json", **params)
        assert status == 200, body
        validate("requests", body)
        return [r["service_request_id"] for r in body]

    assert await ids() == [a, b, c]
    assert await ids(service_request_id=f"{c},{a},missing") == [c, a]  # overrides other filters
    assert await ids(service_request_id=a, service_code="light-off") == [a]
    assert await ids(service_code="road-pothole") == [a, c]
    assert await ids(status="closed") == [c]
    assert await ids(status="open") == [a, b]
    assert await ids(start_date="2026-11-29T10:30:00+02:00") == [b, c]  # 08:30 UTC: after a
    assert await ids(end_date="2026-11-29T09:30:00Z") == [a, b]
    assert await ids(updated_after="2026-11-29T09:30:00Z") == [c]
    assert await ids(updated_before="2026-11-29T09:30:00Z") == [a, b]
    assert await ids(page_size="2") == [a, b]
    assert await ids(page_size="2", page="2") == [c]
    assert await ids(page_size="2", page="3") == []


@pytest.mark.parametrize("params", [{"status": "done"}, {"start_date": "вчора"}, {"updated_after": "2026-13-01"},
                                    {"page": "0"}, {"page_size": "abc"}, {"page_size": "5000"}])
async def test_bad_query_parameters_are_400(cc: CC, params: dict[str, str]) -> None:
    status, body = await cc.get(B + "/requests.json", **params)
    assert status == 400, body
    validate("error", body)
    assert next(iter(params)) in body[0]["description"]


async def test_unescaped_plus_in_a_query_date_is_understood(cc: CC) -> None:
    """A client that forgets to escape '+' in an offset (decoded as a space) still gets its filter."""
    number = await cc.file_ok()
    async with cc.session.get(cc.url + B + "/requests.json?updated_after=2026-11-29T09:59:00+02:00") as resp:
        body = await resp.json()
    assert [r["service_request_id"] for r in body] == [number]


async def test_unknown_request_and_unknown_path_are_404_error_bodies(cc: CC) -> None:
    for path in ("/requests/nope.json", "/tokens/nope.json", "/nothing.json", "/services.xml"):
        status, body = await cc.get(B + path)
        assert status == 404, path
        validate("error", body)


async def test_jurisdiction_is_checked_only_when_configured(cc: CC) -> None:
    status, _ = await cc.get(B + "/services.json", jurisdiction_id="anything")
    assert status == 200
    cc.sim.jurisdiction_id = "khmelnytskyi"
    assert (await cc.get(B + "/services.json", jurisdiction_id="khmelnytskyi"))[0] == 200
    status, body = await cc.get(B + "/services.json", jurisdiction_id="kyiv")
    assert status == 404 and "kyiv" in body[0]["description"]


async def test_discovery_lists_standard_endpoints_and_the_extensions(cc: CC) -> None:
    status, body = await cc.get(B + "/discovery.json")
    assert status == 200
    validate("discovery", body)
    assert body["endpoints"][0]["url"] == cc.url + B
    names = {e["name"] for e in body["x-chatbot"]["extensions"]}
    assert names == {"rating", "reopen", "outages", "idempotency_key"}
    assert {"requests", "updates", "token"} <= {e["name"] for e in body["x-chatbot"]["standard"]}


def test_validate_rejects_documents_that_do_not_fit() -> None:
    """The validator is not a rubber stamp: wrong status, dates without offset, null notices fail."""
    good = {"service_request_id": "1", "status": "open", "service_code": "x",
            "requested_datetime": "2026-11-29T10:00:00+02:00"}
    validate("request", good)
    for bad in (good | {"status": "in_progress"}, good | {"requested_datetime": "2026-11-29T10:00:00"},
                good | {"media_url": "not a url"}, {k: v for k, v in good.items() if k != "service_code"}):
        with pytest.raises(ValidationError):
            validate("request", bad)
    with pytest.raises(ValidationError):
        validate("request_response", [{"service_request_id": "1", "service_notice": None}])
    with pytest.raises(ValidationError):
        validate("request_response", [{"service_request_id": "1", "token": "t"}])
    with pytest.raises(KeyError):
        validate("nonsense", [])
