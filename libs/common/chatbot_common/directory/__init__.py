"""Reference data of a territorial community and matching residents' input against it:
settlements (C5), street directories, house numbers, phone numbers, useful information
(C11) and links (C7). Pure functions and immutable data; loaded once per data folder."""

from .city import DEFAULT_DATA_DIR, CityData, load_city
from .house import address_key, parse_apartment, parse_house, street_key
from .information import InfoSection, UsefulInfo
from .links import Link
from .phone import display_phone, normalise_phone
from .settlements import Settlement, match_settlement
from .streets import Street, StreetDirectory, StreetMatch, StreetType

__all__ = [
    "DEFAULT_DATA_DIR",
    "CityData",
    "InfoSection",
    "Link",
    "Settlement",
    "Street",
    "StreetDirectory",
    "StreetMatch",
    "StreetType",
    "UsefulInfo",
    "address_key",
    "display_phone",
    "load_city",
    "match_settlement",
    "normalise_phone",
    "parse_apartment",
    "parse_house",
    "street_key",
]
