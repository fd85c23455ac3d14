"""The steps the engine knows are listed in one place (``steps.STEPS``), not collected
by importing modules for their side effects."""

import pkgutil
from importlib import import_module

import pytest

import dialog.conversation as conversation
from dialog.conversation.steps import STEPS, index
from dialog.conversation.turn import Step


def step_modules() -> list:
    names = [m.name for m in pkgutil.iter_modules(conversation.__path__)]
    return [m for m in (import_module(f"dialog.conversation.{n}") for n in names) if isinstance(getattr(m, "STEPS", None), tuple)]


def test_every_modules_steps_are_in_the_one_list():
    listed = {step.name: step for module in step_modules() for step in module.STEPS}
    assert listed == STEPS
    assert {"consent", "cabinet", "profile", "apps", "link_enter"} <= set(STEPS)


def test_two_steps_with_one_name_are_refused():
    noop = Step("x", lambda turn: None, lambda turn, answer: None)  # type: ignore[arg-type, return-value]
    with pytest.raises(ValueError):
        index([noop], [noop])


def test_no_module_keeps_a_registry_of_its_own():
    import dialog.conversation.turn as turn

    assert not hasattr(turn, "register") and not hasattr(turn, "STEPS")
