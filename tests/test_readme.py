"""The README stays true: every setting the code reads is documented with its default."""

from __future__ import annotations

import re

from admin.settings import AdminSettings
from contactcenter_sync.settings import ContactCenterSyncSettings
from dialog.settings import DialogSettings
from gateway.settings import GatewaySettings
from notifier.settings import NotifierSettings
from tests.e2e.harness import ROOT

SETTINGS = (GatewaySettings, DialogSettings, ContactCenterSyncSettings, NotifierSettings, AdminSettings)


def all_fields() -> dict:
    """Every setting of every service (each service's class includes the common ones)."""
    return {name: field for cls in SETTINGS for name, field in cls.model_fields.items()}

README = (ROOT / "README.md").read_text()


def documented_rows() -> dict[str, str]:
    rows = re.findall(r"^\| `([A-Z0-9_]+)` \| (.+?) \|", README, flags=re.M)
    return dict(rows)


def test_every_setting_is_documented_in_the_readme_with_its_default():
    rows = documented_rows()
    for name, field in all_fields().items():
        env = name.upper()
        assert env in rows, f"{env} is read by the code but missing from the README table"
        default = field.default
        if hasattr(default, "get_secret_value"):
            default = default.get_secret_value()
        if default not in (None, ""):
            assert f"`{default}`" in rows[env], f"README gives {rows[env]!r} as the default of {env}, code has {default!r}"


def test_readme_documents_nothing_the_code_does_not_read():
    known = {name.upper() for name in all_fields()}
    assert set(documented_rows()) <= known


def test_readme_gives_the_two_commands():
    assert "make demo" in README and "make test" in README
