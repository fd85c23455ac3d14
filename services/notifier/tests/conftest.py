"""Fixtures of the notifier tests (helpers live in ``notifier_testkit``)."""

from notifier_testkit import harness  # noqa: F401 - a fixture
