"""Answers to residents' questions (C3) in the conversation: rendering what the question
answerer (``ctx.questions``) found, and the codes of its buttons.

- An answer: the entry's text, its links (open-url), «👍 Допомогло» / «👎 Ні» and home.
  ``Resident.faq_last`` remembers the question (personal data already stripped) for the
  feedback; the conversation does not move (at «❓ Поставити питання» the next text is
  the next question).
- Not found: the honest «не знайшов», up to three suggestions (``faq:show:<id>``),
  «💬 Чат з оператором» and «📝 Нове звернення» (guests: «✅ Зареєструватися»), home —
  and a ``faq.feedback`` event (``unanswered``) so staff see the question.
- 👍 / 👎: a ``faq.feedback`` event (``helpful`` / ``not_helpful``, the question only
  with 👎), once per answer; 👎 offers the operator and a request.
- Greetings, thanks and obscenities: a short polite reply.

Events leave through the resident's outbox with ids derived from the input, so a
redelivered message never counts twice.
"""

from __future__ import annotations

from chatbot_common.events import Button, FaqEntry, FaqFeedback

from . import codes
from .api import QuestionResult, Reply
from .keyboards import button, navigation, open_url
from .turn import Turn


def _feedback(turn: Turn, verdict: str, *, question: str | None, entry_id: str | None = None,
              suggestions: tuple[FaqEntry, ...] = (), score: float | None = None) -> None:
    turn.events.append(FaqFeedback(
        verdict=verdict, question=question or None, entry_id=entry_id, suggestions=[s.id for s in suggestions],
        score=round(score, 3) if score is not None else None, settlement_id=turn.resident.settlement_id,
        at=turn.ctx.clock(),
    ))


def _contact_buttons(turn: Turn) -> list[Button]:
    if turn.resident.registered:
        return [button(turn.t("menu.chat"), codes.MENU_CHAT, columns=3),
                button(turn.t("menu.new_ticket"), codes.MENU_NEW_TICKET, columns=3)]
    return [button(turn.t("menu.register"), codes.MENU_REGISTER)]


def show_answer(turn: Turn, entry: FaqEntry, *, question: str, score: float | None, note: str | None = None) -> None:
    links = [open_url(link.label, f"{codes.FAQ_LINK}{entry.id}:{n}", link.url) for n, link in enumerate(entry.links)]
    rate = [button(turn.t("faq_buttons.helpful"), f"{codes.FAQ_UP}{entry.id}", columns=3),
            button(turn.t("faq_buttons.not_helpful"), f"{codes.FAQ_DOWN}{entry.id}", columns=3)]
    text = f"{note}\n\n{entry.answer}" if note else entry.answer
    turn.replies.append(Reply(text=text, buttons=[*links, *rate, *navigation(turn.t, back=False)]))
    turn.resident.faq_last = {"entry_id": entry.id, "question": question, "score": score, "rated": False}


def show(turn: Turn, result: QuestionResult | Reply) -> None:
    """Say what the answerer found (a plain ``Reply`` from a simple answerer as it is)."""
    if isinstance(result, Reply):
        turn.replies.append(Reply(text=result.text, buttons=list(result.buttons or navigation(turn.t, back=False))))
        return
    if result.kind == "answer" and result.answer is not None:
        note = turn.t("faq.obscene_note") if result.obscene else None
        show_answer(turn, result.answer, question=result.question, score=result.score, note=note)
    elif result.kind == "decline":
        _decline(turn, result)
    else:  # greeting, thanks, obscene
        turn.replies.append(Reply(text=turn.t(f"faq.{result.kind}"), buttons=navigation(turn.t, back=False)))


def _decline(turn: Turn, result: QuestionResult) -> None:
    suggestions = [button(e.question, f"{codes.FAQ_SHOW}{e.id}") for e in result.suggestions[:3]]
    if not turn.resident.registered:
        key = "faq.not_found_guest"
    else:
        key = "faq.not_found" if suggestions else "faq.not_found_none"
    turn.replies.append(Reply(text=turn.t(key),
                              buttons=[*suggestions, *_contact_buttons(turn), *navigation(turn.t, back=False)]))
    turn.resident.faq_last = {"entry_id": None, "question": result.question, "score": result.score, "rated": True}
    _feedback(turn, "unanswered", question=result.question, suggestions=result.suggestions[:3], score=result.score)


async def open_code(turn: Turn, code: str) -> bool:
    """``faq:*`` codes, from any screen; ``False`` when not one of them."""
    questions = turn.ctx.questions
    if not code.startswith(codes.FAQ) or questions is None:
        return False
    last = turn.resident.faq_last or {}
    if entry_id := codes.value(code, codes.FAQ_SHOW):
        entry = await questions.entry(entry_id)
        if entry is None:
            turn.note("faq.gone")
            turn.go_home()
            return True
        show_answer(turn, entry, question=last.get("question") or entry.question, score=None)
        return True
    for prefix, verdict in ((codes.FAQ_UP, "helpful"), (codes.FAQ_DOWN, "not_helpful")):
        if entry_id := codes.value(code, prefix):
            _rate(turn, entry_id, verdict, last)
            return True
    return False


def _rate(turn: Turn, entry_id: str, verdict: str, last: dict) -> None:
    if last.get("entry_id") != entry_id:
        # An older answer's buttons: thank, but count nothing we cannot tie to a question.
        turn.replies.append(Reply(text=turn.t("faq.already_rated"), buttons=navigation(turn.t, back=False)))
        return
    if last.get("rated"):
        turn.replies.append(Reply(text=turn.t("faq.already_rated"), buttons=navigation(turn.t, back=False)))
        return
    question = last.get("question") if verdict == "not_helpful" else None
    _feedback(turn, verdict, question=question, entry_id=entry_id, score=last.get("score"))
    turn.resident.faq_last = {**last, "rated": True}
    if verdict == "helpful":
        turn.replies.append(Reply(text=turn.t("faq.helpful"), buttons=navigation(turn.t, back=False)))
    else:
        key = "faq.not_helpful" if turn.resident.registered else "faq.not_helpful_guest"
        turn.replies.append(Reply(text=turn.t(key), buttons=[*_contact_buttons(turn),
                                                            *navigation(turn.t, back=False)]))
