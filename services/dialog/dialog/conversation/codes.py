"""Button codes: the stable machine values a tapped button sends back (Viber ActionBody).

Codes are ``<area>:<value>`` and never the visible label, so wording can change in the
catalog without breaking keyboards residents already have. A text that looks like a code
but is not understood where the resident is comes from an old keyboard (stale).
"""

from __future__ import annotations

import re

START = "start"  # the gateway's welcome button «Розпочати»
HOME = "nav:home"
BACK = "nav:back"
PAGE = "nav:page:"  # + page number (0-based)

CONSENT_YES = "consent:yes"
CONSENT_MORE = "consent:more"
CONSENT_NO = "consent:no"
SHARE_PHONE = "phone:share"
SETTLEMENT = "settlement:"  # + settlement id
STREET = "street:"  # + street id
STREET_TYPED = "street:typed"  # keep the street as the resident wrote it
NO_APARTMENT = "apartment:none"
NOTIFY = "notify:"  # + address | city | none

MENU_NEW_TICKET = "menu:new_ticket"
MENU_TICKETS = "menu:tickets"
MENU_OUTAGES = "menu:outages"
MENU_QUESTION = "menu:question"
MENU_CHAT = "menu:chat"
MENU_SURVEYS = "menu:surveys"
MENU_INFO = "menu:info"
MENU_PROFILE = "menu:profile"
MENU_LINKS = "menu:links"
MENU_REGISTER = "menu:register"  # guests only: give consent and register

INFO = "info:"  # + section id
LINK = "link:"  # + link id (open-url buttons; never sent back by Viber, kept unique)

PROFILE_NAME = "profile:name"
PROFILE_PHONE = "profile:phone"
PROFILE_SETTLEMENT = "profile:settlement"
PROFILE_ADDRESSES = "profile:addresses"
PROFILE_BIRTH_DATE = "profile:birth_date"
PROFILE_NOTIFY = "profile:notify"
PROFILE_APPS = "profile:apps"  # linked apps (S7)
PROFILE_DELETE = "profile:delete"
PROFILE_DELETE_CONFIRM = "profile:delete:yes"
BIRTH_CLEAR = "birth:clear"

APPS_JOIN = "apps:join"  # consent question, new app: «У мене вже є профіль» (type a code)
APPS_CODE = "apps:code"  # profile: show a new one-time code to link another app
APPS_CODE_CANCEL = "apps:code_cancel"  # void the code shown
APPS_UNLINK = "apps:unlink:"  # + Identity.token: unlink that app (asks to confirm)
APPS_UNLINK_CONFIRM = "apps:unlink_yes"

ADDRESS = "address:"  # + address id: open it
ADDRESS_ADD = "address:add"
ADDRESS_EDIT = "address:edit:"  # + address id
ADDRESS_REMOVE = "address:remove:"  # + address id

# Requests (issue 7). ``ticket:show:`` and ``ticket:rate:`` are shared with the
# notifier's notices and work from any screen of a registered resident.
TICKET_SHOW = "ticket:show:"  # + ticket id: that request's details
TICKET_RATE = "ticket:rate:"  # + ticket id + ":" + 1..5
TICKET_GROUP = "tcat:g:"  # + group number: its categories
TICKET_SERVICE = "tcat:s:"  # + service token (see tickets.service_token)
EMERGENCY_YES = "temerg:yes"
EMERGENCY_NO = "temerg:no"
EMERGENCY_GO_ON = "temerg:go_on"  # after the emergency advice: continue the request
DESCRIPTION_CUT = "tdesc:cut"  # keep the first 4000 characters of a too long text
LOCATION_ADDRESS = "tloc:a:"  # + saved address id
LOCATION_OTHER = "tloc:other"  # another address (street matching)
LOCATION_PIN = "tloc:pin"  # the location-picker button (Viber sends a location)
PHOTO_SKIP = "tphoto:skip"
ATTR_VALUE = "tattr:v:"  # + value number
ATTR_DONE = "tattr:done"  # multivaluelist: the choice is complete
ATTR_SKIP = "tattr:skip"  # an optional question
SUMMARY_SEND = "tsum:send"
SUMMARY_EDIT = "tsum:edit"
SUMMARY_CANCEL = "tsum:cancel"
SUMMARY_FORCE = "tsum:force"  # send although a similar request is open
EDIT_FIELD = "tedit:"  # + category | description | location | photo | attributes
DRAFT_CONTINUE = "tdraft:continue"
DRAFT_NEW = "tdraft:new"
DRAFT_EDIT = "tdraft:edit:"  # + ticket id of a refused request: fix it
DRAFT_RESEND = "tdraft:resend:"  # + ticket id of a refused request: send it again
RATE_SKIP = "trate:skip"  # no comment
RATE_REOPEN = "trate:reopen"
RATE_KEEP = "trate:keep"

# Outages (issue 8)
OUTAGES_NOTIFY = "outages:notify"  # the notification setting, one tap from the screen

# Questions (C3): a suggestion of the «not found» answer, and the feedback on an answer
FAQ = "faq:"
FAQ_SHOW = "faq:show:"  # + entry id: open a suggested answer
FAQ_UP = "faq:up:"  # + entry id: «👍 Допомогло»
FAQ_DOWN = "faq:down:"  # + entry id: «👎 Ні»
FAQ_LINK = "faq:link:"  # + entry id + ":" + n (open-url buttons; never sent back)

# Operator chat (issue 11): the chat keyboard, leaving it, and rating a chat the operator
# closed (``chat:rate:<chat id>:<1..5>``, valid from any screen until rated)
CHAT = "chat:"
CHAT_END = "chat:end"  # «✅ Завершити чат»
CHAT_LEAVE_YES = "chat:leave_yes"  # «🏠 Головне меню» confirmed: end the chat
CHAT_STAY = "chat:stay"  # «🏠 Головне меню» not confirmed: the chat goes on
CHAT_TICKET = "chat:ticket"  # after «no operator answered»: end the chat, file a request
CHAT_RATE = "chat:rate:"  # + chat id + ":" + 1..5

# Surveys (issue 9, C8). ``survey:open:`` is shared with the notifier's invitation and
# works from any screen of a registered resident; ``sv:*`` are the answering keyboards.
SURVEY = "survey:"
SURVEY_OPEN = "survey:open:"  # + survey id
SV_OPTION = "sv:o:"  # + option number (single choice)
SV_TOGGLE = "sv:t:"  # + option number (multiple choice: on/off)
SV_SCALE = "sv:s:"  # + 1..5
SV_DONE = "sv:done"  # multiple choice: the choice is complete
SV_SKIP = "sv:skip"  # an optional question
SV_SEND = "sv:send"
SV_EDIT = "sv:edit"  # the summary: go through the answers again

_CODE = re.compile(r"^[a-z][a-z_]*:[a-z0-9_\-:]+$")


def is_code(text: str) -> bool:
    return text == START or bool(_CODE.match(text))


def value(code: str, prefix: str) -> str | None:
    """The part after ``prefix`` (``settlement:oleshyn`` → ``oleshyn``), or ``None``."""
    if code.startswith(prefix) and len(code) > len(prefix):
        return code[len(prefix) :]
    return None


def page_number(code: str) -> int | None:
    raw = value(code, PAGE)
    return int(raw) if raw is not None and raw.isdigit() else None
