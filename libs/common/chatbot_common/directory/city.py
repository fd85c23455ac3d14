"""All per-community data in one object, loaded once from a data directory.

A community swaps every file by pointing ``data_dir`` at its own folder; nothing
community-specific lives in code (S8). The folder holds:

- ``settlements.toml`` — settlement kinds and settlements, the city first;
- ``street_types.toml`` — вулиця / проспект / … with their abbreviations;
- ``streets/<settlement id>.toml`` — each settlement's street directory (optional);
- ``useful_info.toml`` — reference sections (C11);
- ``links.toml`` — website and app links (C7);
- ``contact_center.toml`` — the Contact Center's phone and hours (optional).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from .information import UsefulInfo, parse_useful_info
from .links import Link, parse_links
from .settlements import Settlement, SettlementKind
from .streets import Street, StreetDirectory, StreetType

#: Khmelnytskyi territorial community, packaged with the service.
DEFAULT_DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class CityData:
    settlements: tuple[Settlement, ...]
    streets: dict[str, StreetDirectory] = field(default_factory=dict)
    info: UsefulInfo = field(default_factory=UsefulInfo)
    links: tuple[Link, ...] = ()
    #: the Contact Center's phone as residents dial it (``None``: not given)
    contact_center_phone: str | None = None
    #: when it answers, in words (``None``: not given)
    contact_center_hours: str | None = None

    def settlement(self, settlement_id: str | None) -> Settlement | None:
        return next((s for s in self.settlements if s.id == settlement_id), None)

    def street_directory(self, settlement_id: str | None) -> StreetDirectory:
        return self.streets.get(settlement_id or "", StreetDirectory())


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        return tomllib.load(fh)


@cache
def load_city(data_dir: Path = DEFAULT_DATA_DIR) -> CityData:
    """Read (once per folder) and validate a community's data files."""
    data_dir = Path(data_dir)
    settlements = _settlements(_read(data_dir / "settlements.toml"))
    if not settlements:
        raise ValueError(f"{data_dir}/settlements.toml lists no settlements")
    types = _street_types(_read(data_dir / "street_types.toml"))
    streets = {
        s.id: _streets(_read(data_dir / "streets" / f"{s.id}.toml"), types, s.id) for s in settlements
    }
    city = CityData(
        settlements=settlements,
        streets=streets,
        info=parse_useful_info(_read(data_dir / "useful_info.toml")),
        links=parse_links(_read(data_dir / "links.toml")),
        **_contact_center(_read(data_dir / "contact_center.toml")),
    )
    _check(city, data_dir)
    return city


#: Ids become button codes (``settlement:<id>``): lower-case Latin, digits, ``_`` and
#: ``-`` only, or a tapped button would read as free text.
ID = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,60}$")
#: A section's text is sent as one Viber message (≤ 7000) with a short note on top.
MAX_SECTION_TEXT = 6500


def _check(city: CityData, data_dir: Path) -> None:
    """Refuse at start-up what would break for residents later (staff edit these files)."""
    ids = [("settlements.toml", s.id) for s in city.settlements]
    ids += [(f"streets/{key}.toml", st.id) for key, directory in city.streets.items() for st in directory.streets]
    ids += [("useful_info.toml", section.id) for section in city.info.all()]
    ids += [("links.toml", link.id) for link in city.links]
    bad = [f"{file}: {value!r}" for file, value in ids if not ID.match(value)]
    if bad:
        raise ValueError(f"{data_dir}: ids must be lower-case Latin letters, digits, '_' or '-': {'; '.join(bad)}")
    long = [s.id for s in city.info.all() if len(s.text) > MAX_SECTION_TEXT]
    if long:
        raise ValueError(f"{data_dir}/useful_info.toml: sections longer than {MAX_SECTION_TEXT} characters: {long}")


def _contact_center(document: dict[str, Any]) -> dict[str, str | None]:
    raw = document.get("contact_center", {})
    phone, hours = str(raw.get("phone", "")).strip(), str(raw.get("hours", "")).strip()
    return {"contact_center_phone": phone or None, "contact_center_hours": hours or None}


def _settlements(document: dict[str, Any]) -> tuple[Settlement, ...]:
    kinds = {
        raw["name"]: SettlementKind(raw["name"], raw["label"], tuple(raw.get("aliases", [])))
        for raw in document.get("kind", [])
    }
    settlements = tuple(
        Settlement(str(raw["id"]), str(raw["name"]), kinds[raw["kind"]]) for raw in document.get("settlement", [])
    )
    _unique([s.id for s in settlements], "settlement ids")
    return settlements


def _street_types(document: dict[str, Any]) -> dict[str, StreetType]:
    return {
        raw["name"]: StreetType(raw["name"], raw["label"], tuple(raw.get("aliases", [])))
        for raw in document.get("type", [])
    }


def _streets(document: dict[str, Any], types: dict[str, StreetType], settlement_id: str) -> StreetDirectory:
    streets = []
    for raw in document.get("street", []):
        street_type = types.get(raw.get("type", "вулиця"))
        if street_type is None:
            raise ValueError(f"streets/{settlement_id}.toml: unknown street type {raw.get('type')!r}")
        streets.append(Street(str(raw["id"]), str(raw["name"]), street_type, tuple(raw.get("aliases", []))))
    _unique([s.id for s in streets], f"street ids of {settlement_id}")
    return StreetDirectory(tuple(streets), tuple(types.values()))


def _unique(ids: list[str], what: str) -> None:
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"duplicate {what}: {', '.join(duplicates)}")
