"""The README stays true: every setting the code reads is documented with its default."""

from __future__ import annotations

import re

from chatbot_common.settings import Settings
from tests.e2e.harness import ROOT

README = (ROOT / "README.md").read_text()


def documented_rows() -> dict[str, str]:
    rows = re.findall(r"^\| `([A-Z0-9_]+)` \| (.+?) \|", README, flags=re.M)
    return dict(rows)


def test_every_setting_is_documented_in_the_readme_with_its_default():
    rows = documented_rows()
    for name, field in Settings.model_fields.items():
        env = name.upper()
        assert env in rows, f"{env} is read by the code but missing from the README table"
        default = field.default
        if default not in (None, ""):
            assert f"`{default}`" in rows[env], f"README gives {rows[env]!r} as the default of {env}, code has {default!r}"


def test_readme_documents_nothing_the_code_does_not_read():
    known = {name.upper() for name in Settings.model_fields}
    assert set(documented_rows()) <= known


def test_readme_gives_the_two_commands():
    assert "make demo" in README and "make test" in README
