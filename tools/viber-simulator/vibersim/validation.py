"""Request checks Viber performs before accepting a call.

Pure functions raising :class:`ApiError`, so the rules can be unit-tested apart from
HTTP and so the welcome message returned by a webhook is checked by the same code.
Missing required fields answer 4 (missingData); present-but-wrong ones answer 3.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .statuses import ApiError, Status

MAX_BODY_BYTES = 30 * 1024
MAX_TEXT = 7000
MAX_PICTURE_TEXT = 768
MAX_URL = 2000
MAX_SENDER_NAME = 28
MAX_TRACKING_DATA = 4000
MAX_BROADCAST_RECEIVERS = 300
MAX_ONLINE_IDS = 100
KEYBOARD_COLUMNS = 6
MAX_KEYBOARD_ROWS = 12
MAX_BUTTON_ROWS = 2
ACTION_TYPES = frozenset({"reply", "open-url", "share-phone", "location-picker", "none"})
ACTIONS_NEEDING_API_3 = frozenset({"share-phone", "location-picker"})
INPUT_FIELD_STATES = frozenset({"regular", "minimized", "hidden"})
_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")

JsonDict = dict[str, Any]


def _bad(detail: str) -> ApiError:
    return ApiError(Status.BAD_DATA, detail)


def _missing(detail: str) -> ApiError:
    return ApiError(Status.MISSING_DATA, detail)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_body(raw: bytes) -> JsonDict:
    """Decode a request body: > 30 KB, non-JSON or non-object → 3 badData."""
    if len(raw) > MAX_BODY_BYTES:
        raise _bad(f"request body is {len(raw)} bytes, the limit is {MAX_BODY_BYTES}")
    try:
        body = json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, ValueError) as exc:
        raise _bad(f"body is not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise _bad("body must be a JSON object")
    return body


def require_string(body: JsonDict, key: str) -> str:
    """A required non-empty string field."""
    if body.get(key) is None:
        raise _missing(f"'{key}' is required")
    value = body[key]
    if not isinstance(value, str) or not value:
        raise _bad(f"'{key}' must be a non-empty string")
    return value


def validate_sender(body: JsonDict) -> None:
    """``sender.name`` is required and at most 28 characters."""
    sender = body.get("sender")
    if sender is None:
        raise _missing("'sender' is required")
    if not isinstance(sender, dict):
        raise _bad("'sender' must be an object")
    name = sender.get("name")
    if name is None:
        raise _missing("'sender.name' is required")
    if not isinstance(name, str) or not name:
        raise _bad("'sender.name' must be a non-empty string")
    if len(name) > MAX_SENDER_NAME:
        raise _bad(f"'sender.name' is longer than {MAX_SENDER_NAME} characters")
    avatar = sender.get("avatar")
    if avatar is not None and not isinstance(avatar, str):
        raise _bad("'sender.avatar' must be a string")


def _min_api_version(body: JsonDict) -> int:
    value = body.get("min_api_version")
    if value is None:
        return 1
    if not _is_int(value) or value < 1:
        raise _bad("'min_api_version' must be a positive integer")
    return int(value)


def _require_field(body: JsonDict, key: str, kind: str) -> Any:
    if body.get(key) is None:
        raise _missing(f"'{key}' is required for a {kind} message")
    return body[key]


def _check_text(body: JsonDict, key: str, limit: int, required: bool, kind: str) -> None:
    if body.get(key) is None:
        if required:
            raise _missing(f"'{key}' is required for a {kind} message")
        return
    value = body[key]
    if not isinstance(value, str) or (required and not value):
        raise _bad(f"'{key}' must be a non-empty string")
    if len(value) > limit:
        raise _bad(f"'{key}' is {len(value)} characters, the limit is {limit}")


def _check_content(body: JsonDict) -> None:
    """Type-specific required fields; a message with no type may only carry a keyboard."""
    kind = body.get("type")
    if kind is None or kind == "keyboard":
        if body.get("keyboard") is None:
            raise _missing("'type' is required")
        return
    if kind == "text":
        _check_text(body, "text", MAX_TEXT, required=True, kind=kind)
    elif kind == "picture":
        _check_text(body, "media", MAX_URL, required=True, kind=kind)
        _check_text(body, "text", MAX_PICTURE_TEXT, required=False, kind=kind)
    elif kind == "video":
        _check_text(body, "media", MAX_URL, required=True, kind=kind)
        if not _is_int(_require_field(body, "size", kind)):
            raise _bad("'size' must be an integer")
    elif kind == "file":
        _check_text(body, "media", MAX_URL, required=True, kind=kind)
        _check_text(body, "file_name", 256, required=True, kind=kind)
        if not _is_int(_require_field(body, "size", kind)):
            raise _bad("'size' must be an integer")
    elif kind == "url":
        _check_text(body, "media", MAX_URL, required=True, kind=kind)
    elif kind == "contact":
        contact = _require_field(body, "contact", kind)
        if not isinstance(contact, dict):
            raise _bad("'contact' must be an object")
        for key in ("name", "phone_number"):
            if not contact.get(key):
                raise _missing(f"'contact.{key}' is required")
    elif kind == "location":
        location = _require_field(body, "location", kind)
        if not isinstance(location, dict):
            raise _bad("'location' must be an object")
        lat, lon = location.get("lat"), location.get("lon")
        if lat is None or lon is None:
            raise _missing("'location.lat' and 'location.lon' are required")
        if not (_is_number(lat) and _is_number(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
            raise _bad("'location' must hold valid coordinates")
    elif kind == "sticker":
        if not _is_int(_require_field(body, "sticker_id", kind)):
            raise _bad("'sticker_id' must be an integer")
    elif kind == "rich_media":
        if not isinstance(_require_field(body, "rich_media", kind), dict):
            raise _bad("'rich_media' must be an object")
    else:
        raise _bad(f"unsupported message type {kind!r}")


def _check_button(index: int, button: Any, min_api_version: int) -> tuple[int, int]:
    """Validate one keyboard button and return its (Columns, Rows)."""
    where = f"keyboard button #{index}"
    if not isinstance(button, dict):
        raise _bad(f"{where} must be an object")
    if button.get("ActionBody") is None:
        raise _bad(f"{where}: 'ActionBody' is required")
    if not isinstance(button["ActionBody"], str):
        raise _bad(f"{where}: 'ActionBody' must be a string")
    action = button.get("ActionType", "reply")
    if action not in ACTION_TYPES:
        raise _bad(f"{where}: unknown ActionType {action!r}")
    if action in ACTIONS_NEEDING_API_3 and min_api_version < 3:
        raise _bad(f"{where}: ActionType {action!r} needs min_api_version >= 3")
    if action == "open-url" and not button["ActionBody"]:
        raise _bad(f"{where}: open-url needs a URL in 'ActionBody'")
    columns = button.get("Columns", KEYBOARD_COLUMNS)
    rows = button.get("Rows", 1)
    if not _is_int(columns) or not 1 <= columns <= KEYBOARD_COLUMNS:
        raise _bad(f"{where}: 'Columns' must be 1..{KEYBOARD_COLUMNS}")
    if not _is_int(rows) or not 1 <= rows <= MAX_BUTTON_ROWS:
        raise _bad(f"{where}: 'Rows' must be 1..{MAX_BUTTON_ROWS}")
    color = button.get("BgColor")
    if color is not None and (not isinstance(color, str) or not _COLOR.match(color)):
        raise _bad(f"{where}: 'BgColor' must be a hex color like #2db9b9")
    text = button.get("Text")
    if text is not None and not isinstance(text, str):
        raise _bad(f"{where}: 'Text' must be a string")
    return int(columns), int(rows)


def keyboard_height(sizes: list[tuple[int, int]]) -> int:
    """Rows the buttons take when laid out left to right, six columns wide.

    A button that does not fit on the current line starts a new one; a line is as tall
    as its tallest button.
    """
    height = line_width = line_height = 0
    for columns, rows in sizes:
        if line_width + columns > KEYBOARD_COLUMNS:
            height += line_height
            line_width = line_height = 0
        line_width += columns
        line_height = max(line_height, rows)
    return height + line_height


def validate_keyboard(keyboard: Any, min_api_version: int) -> None:
    """Shape rules Viber enforces on ``keyboard`` (all violations → 3 badData)."""
    if not isinstance(keyboard, dict):
        raise _bad("'keyboard' must be an object")
    if keyboard.get("Type") != "keyboard":
        raise _bad("'keyboard.Type' must be \"keyboard\"")
    buttons = keyboard.get("Buttons")
    if not isinstance(buttons, list) or not buttons:
        raise _bad("'keyboard.Buttons' must be a non-empty list")
    sizes = [_check_button(i, b, min_api_version) for i, b in enumerate(buttons)]
    height = keyboard_height(sizes)
    if height > MAX_KEYBOARD_ROWS:
        raise _bad(f"keyboard is {height} rows tall, the limit is {MAX_KEYBOARD_ROWS}")
    state = keyboard.get("InputFieldState")
    if state is not None and state not in INPUT_FIELD_STATES:
        raise _bad("'keyboard.InputFieldState' must be regular, minimized or hidden")
    color = keyboard.get("BgColor")
    if color is not None and (not isinstance(color, str) or not _COLOR.match(color)):
        raise _bad("'keyboard.BgColor' must be a hex color")


def validate_message(body: JsonDict) -> None:
    """Everything a message needs apart from its addressee."""
    validate_sender(body)
    min_api_version = _min_api_version(body)
    _check_content(body)
    tracking = body.get("tracking_data")
    if tracking is not None:
        if not isinstance(tracking, str):
            raise _bad("'tracking_data' must be a string")
        if len(tracking) > MAX_TRACKING_DATA:
            raise _bad(f"'tracking_data' is longer than {MAX_TRACKING_DATA} characters")
    if body.get("keyboard") is not None:
        validate_keyboard(body["keyboard"], min_api_version)


def validate_send(body: JsonDict) -> str:
    """``send_message``: a receiver plus a valid message; returns the receiver."""
    receiver = require_string(body, "receiver")
    validate_message(body)
    return receiver


def validate_broadcast(body: JsonDict) -> list[str]:
    """``broadcast_message``: 1..300 receiver ids plus a valid message."""
    receivers = body.get("broadcast_list")
    if receivers is None:
        raise _missing("'broadcast_list' is required")
    if not isinstance(receivers, list) or not receivers:
        raise _bad("'broadcast_list' must be a non-empty list")
    if len(receivers) > MAX_BROADCAST_RECEIVERS:
        raise _bad(f"'broadcast_list' has {len(receivers)} ids, the limit is {MAX_BROADCAST_RECEIVERS}")
    if not all(isinstance(r, str) and r for r in receivers):
        raise _bad("'broadcast_list' must hold non-empty string ids")
    validate_message(body)
    return list(receivers)


def validate_online(body: JsonDict) -> list[str]:
    """``get_online``: 1..100 ids."""
    ids = body.get("ids")
    if ids is None:
        raise _missing("'ids' is required")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise _bad("'ids' must be a non-empty list of strings")
    if len(ids) > MAX_ONLINE_IDS:
        raise _bad(f"'ids' has {len(ids)} ids, the limit is {MAX_ONLINE_IDS}")
    return list(ids)
