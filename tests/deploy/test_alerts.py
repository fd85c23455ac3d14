"""``deploy/prometheus``: the alerting rules and scrape jobs ops load into their
Prometheus. Every rule must parse as PromQL, name only metrics something exports (the
services' own, read from their registry; RabbitMQ's, listed below), filter only on
labels those metrics have, and say what it means; every scrape job must reach a service
of ``docker-compose.yml`` on the port it serves. A renamed metric or label, or a new
service port, fails here instead of leaving an alert that can never fire."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from prometheus_client import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"

#: RabbitMQ's own (rabbitmq_prometheus), as a 3.10.8 node served them on 2026-11-29 at
#: /metrics (alarms) and /metrics/detailed?family=queue_coarse_metrics (per queue, with
#: the labels vhost and queue); the compose file runs 3.13, which keeps these names.
RABBITMQ_METRICS: dict[str, set[str]] = {
    "rabbitmq_alarms_memory_used_watermark": set(),
    "rabbitmq_alarms_free_disk_space_watermark": set(),
    "rabbitmq_detailed_queue_messages": {"vhost", "queue"},
    "rabbitmq_detailed_queue_messages_ready": {"vhost", "queue"},
    "rabbitmq_detailed_queue_messages_unacked": {"vhost", "queue"},
}
#: labels Prometheus adds to every series it scrapes
TARGET_LABELS = {"job", "instance"}


def exported() -> dict[str, set[str]]:
    """Every sample name the services export, with its labels: their modules define the
    metrics on import."""
    import admin.service  # noqa: F401
    import contactcenter_sync.service  # noqa: F401
    import dialog.service  # noqa: F401
    import gateway.service  # noqa: F401
    import notifier.service  # noqa: F401

    found: dict[str, set[str]] = {}
    for collector, names in REGISTRY._collector_to_names.items():  # noqa: SLF001 - no public view of it
        labels = set(getattr(collector, "_labelnames", ()))
        for name in names:
            found[name] = labels
    return {name: labels for name, labels in found.items() if name.startswith("chatbot_")}


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text(encoding="utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"]]


def selectors(node: Any) -> list[Any]:
    """The vector selectors anywhere in a parsed PromQL expression."""
    if isinstance(node, promql_parser.VectorSelector):
        return [node]
    if isinstance(node, promql_parser.MatrixSelector):
        return [node.vector_selector]
    found: list[Any] = []
    for attr in ("lhs", "rhs", "expr", "param"):
        child = getattr(node, attr, None)
        if child is not None:
            found += selectors(child)
    for arg in getattr(node, "args", None) or ():
        found += selectors(arg)
    return found


def test_the_selector_walk_finds_every_metric_of_an_expression():
    """The check below is only as good as this walk: it must reach inside aggregations,
    calls, range vectors, binary and set operators."""
    expr = promql_parser.parse('sum by (q) (rate(a_total{x="1"}[5m])) > 0.5 * max(b) and on() (c == 1 or -d)')
    assert sorted(s.name for s in selectors(expr)) == ["a_total", "b", "c", "d"]


def test_every_alert_parses_and_names_only_metrics_and_labels_that_exist():
    ours = exported()
    assert "chatbot_outbox_publish_failures_total" in ours  # the registry was read
    known = {**ours, **RABBITMQ_METRICS, "up": set()}
    names = [rule["alert"] for rule in rules()]
    assert len(names) == len(set(names)) and names, names
    for rule in rules():
        expr = promql_parser.parse(rule["expr"])  # raises on a syntax error
        found = selectors(expr)
        assert found, rule["alert"]
        for selector in found:
            assert selector.name in known, f"{rule['alert']}: no such metric {selector.name}"
            for matcher in selector.matchers.matchers:
                assert matcher.name in known[selector.name] | TARGET_LABELS, (
                    f"{rule['alert']}: {selector.name} has no label {matcher.name}")


def test_every_alert_says_how_bad_it_is_and_what_to_do():
    for rule in rules():
        assert rule["labels"]["severity"] in ("page", "ticket"), rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]
        assert len(rule["annotations"]["description"]) > 80, rule["alert"]
        if "for" in rule:
            assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def test_every_scrape_job_reaches_a_compose_service_on_the_port_it_serves(compose):
    jobs = yaml.safe_load((PROMETHEUS / "scrape.yml").read_text(encoding="utf-8"))["scrape_configs"]
    services = compose["services"]
    plugins = (ROOT / "deploy" / "rabbitmq" / "enabled_plugins").read_text(encoding="utf-8")
    scraped = set()
    for job in jobs:
        [target] = [t for c in job["static_configs"] for t in c["targets"]]
        host, port = target.split(":")
        assert host in services, job["job_name"]
        scraped.add(host)
        if job["job_name"].startswith("chatbot-"):
            environment = services[host]["environment"]
            ports = {v for k, v in environment.items() if k.endswith("_PORT")}
            assert port in ports, (job["job_name"], ports)
        else:
            assert "rabbitmq_prometheus" in plugins and port == "15692", job["job_name"]
    # every service of the bot is scraped (the broker and the database aside)
    assert {name for name in services if name not in ("rabbitmq", "mongo")} <= scraped


def test_the_alerts_on_up_name_the_jobs_of_the_scrape_file():
    jobs = {job["job_name"] for job in
            yaml.safe_load((PROMETHEUS / "scrape.yml").read_text(encoding="utf-8"))["scrape_configs"]}
    for rule in rules():
        for selector in selectors(promql_parser.parse(rule["expr"])):
            for matcher in selector.matchers.matchers:
                if matcher.name == "job":
                    pattern = re.compile(matcher.value)
                    assert any(pattern.fullmatch(job) for job in jobs), (rule["alert"], matcher.value)
