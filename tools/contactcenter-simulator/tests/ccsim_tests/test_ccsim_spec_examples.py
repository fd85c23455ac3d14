"""The spec's own example documents (the ``examples`` in the copied swagger.json): the
simulator's answers have the same shape (same field names), and the examples themselves
validate once their numeric ids are written as strings, as the schemas require."""

from __future__ import annotations

from typing import Any

from ccsim import validate
from ccsim.schemas import swagger

from .helpers import B, CC


def example(path: str, method: str = "get") -> dict[str, Any]:
    responses = swagger()["paths"][path][method]["responses"]
    return dict(responses["200"]["examples"]["application/xml"])


def stringify(doc: dict[str, Any], *names: str) -> dict[str, Any]:
    return doc | {n: str(doc[n]) for n in names if doc.get(n) is not None}


async def test_request_record_has_the_fields_of_the_spec_examples(cc: CC) -> None:
    number = await cc.file_ok()
    _, records = await cc.get(B + f"/requests/{number}.json")
    for path in ("/requests.{response_format}", "/request/{service_request_id}.{response_format}"):
        spec = example(path)["request"]
        assert set(records[0]) == set(spec), path
        validate("request", stringify(spec, "service_request_id", "service_code", "address_id", "zipcode"))


async def test_post_answer_has_the_fields_of_the_spec_example(cc: CC) -> None:
    spec = example("/requests.{response_format}", "post")["service_requests"]
    _, answer = await cc.file()
    assert set(answer[0]) == set(spec)
    validate("request_response", [stringify(spec, "service_request_id") | {"account_id": "a-1"}])


async def test_services_and_definition_have_the_fields_of_the_spec_examples(cc: CC) -> None:
    spec = example("/services.{response_format}")["services"]["service"]
    _, services = await cc.get(B + "/services.json")
    assert all(set(s) == set(spec) for s in services)
    validate("services", [stringify(spec, "service_code")])

    spec_def = example("/services/{service_code}.{response_format}")["service_definition"]
    spec_attr = spec_def["attributes"]["attribute"]
    _, definition = await cc.get(B + "/services/water-none.json")
    assert set(definition) == set(spec_def)
    listed = [a for a in definition["attributes"] if a["datatype"] == "singlevaluelist"]
    assert listed and all(set(a) == set(spec_attr) for a in listed)
    assert all(set(v) == set(spec_attr["values"]["value"]) for a in listed for v in a["values"])
    validate("service_definition", {"service_code": spec_def["service_code"], "attributes": [
        spec_attr | {"values": [stringify(spec_attr["values"]["value"], "key")], "datatype_description": None}]})


async def test_token_answer_has_the_fields_of_the_spec_example(cc: CC) -> None:
    spec = example("/tokens/{token_id}.{response_format}")["service_requests"]["request"]
    cc.sim.faults.answer_with, cc.sim.faults.token_delay_seconds = "token", 0
    _, answer = await cc.file()
    _, resolved = await cc.get(B + f"/tokens/{answer[0]['token']}.json")
    assert set(resolved[0]) == set(spec)
    validate("tokens", [stringify(spec, "service_request_id", "token")])
