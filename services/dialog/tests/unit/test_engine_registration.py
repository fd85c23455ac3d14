"""Registration (S5): a new resident is registered in a minute and can leave and come
back at any step; declining consent leaves public info and questions only."""

import pytest

from chatbot_common.events import ButtonAction, Channel, MessageKind, NotifyScope, ResidentRegistered
from chatbot_common.texts import catalog

from dialog.conversation import IncomingKind
from engine_chat import Chat, register

t = catalog()


async def test_conversation_started_gets_no_reply_because_the_gateway_sent_the_welcome(chat):
    outcome = await chat.incoming(IncomingKind.started)
    assert outcome.replies == [] and outcome.events == []


async def test_start_button_asks_for_consent_with_agree_more_and_decline(chat):
    await chat.tap_start()
    assert chat.text == t("registration.consent")
    assert chat.codes() == ["consent:yes", "consent:more", "consent:no", "apps:join"]


async def test_any_first_message_starts_with_the_consent_question(chat):
    await chat.send("Доброго дня")
    assert chat.step == "consent"
    assert chat.text == t("registration.consent")


async def test_more_about_consent_explains_and_asks_again(chat):
    await chat.tap_start()
    await chat.tap("consent:more")
    assert "Про захист персональних даних" in chat.text and "стаття 8" in chat.text
    assert chat.codes() == ["consent:yes", "consent:more", "consent:no", "apps:join"]
    assert chat.step == "consent"


async def test_full_registration_with_typed_phone_ends_in_the_cabinet(chat):
    await chat.tap_start()
    await chat.tap("consent:yes")
    assert chat.resident.consent and chat.resident.consent_at is not None
    assert chat.codes()[0] == "settlement:khmelnytskyi"  # the city first
    await chat.tap("settlement:khmelnytskyi")
    assert chat.text == t("registration.name")
    assert chat.codes() == ["nav:back", "nav:home"]
    await chat.send("Олена   Коваленко")
    assert any(b.action == ButtonAction.share_phone for b in chat.buttons())
    await chat.send("(067) 123-45-67")
    assert "м. Хмельницький" in chat.text
    await chat.send("вул. Кам’янецька")
    assert "вул. Кам'янецька" in chat.text
    await chat.send("12а")
    assert "вул. Кам'янецька, 12а" in chat.text
    await chat.send("кв. 5")
    assert chat.codes()[:3] == ["notify:address", "notify:city", "notify:none"]
    outcome = await chat.tap("notify:address")

    resident = chat.resident
    assert resident.registered and resident.state.step == "cabinet"
    assert resident.name == "Олена Коваленко"
    assert resident.phone == "+380671234567"
    assert resident.settlement_id == "khmelnytskyi"
    assert [(a.street_id, a.house, a.apartment) for a in resident.addresses] == [("kamianetska", "12а", "5")]
    assert "Реєстрацію завершено" in chat.text and "Олена Коваленко" in chat.text
    assert "menu:profile" in chat.codes()
    [event] = outcome.events
    assert isinstance(event, ResidentRegistered)
    assert event.resident_id == resident.id
    assert [(c.channel, c.channel_user_id) for c in event.channels] == [(Channel.viber, "viber-user-1")]
    assert event.settlement_id == "khmelnytskyi"
    assert [a.key for a in event.addresses] == ["khmelnytskyi|kamianetska|12а"]
    assert event.notify == NotifyScope.address and event.subscribed


async def test_a_shared_phone_is_kept_like_a_typed_one(chat):
    await register(chat, phone="380501112233", shared=True)
    assert chat.resident.phone == "+380501112233"
    assert "phone_verified" not in chat.resident.model_dump()


async def test_no_event_is_published_before_registration_is_complete(chat):
    await chat.tap_start()
    await chat.tap("consent:yes")
    await chat.tap("settlement:khmelnytskyi")
    await chat.send("Олена Коваленко")
    await chat.send("0671234567")
    assert chat.events == []


async def test_private_house_without_apartment(chat):
    await register(chat, apartment=None)
    assert chat.resident.addresses[0].apartment is None


async def test_street_and_house_typed_together_skip_the_house_question(chat):
    await chat.tap_start()
    await chat.tap("consent:yes")
    await chat.tap("settlement:khmelnytskyi")
    await chat.send("Олена Коваленко")
    await chat.send("0671234567")
    await chat.send("Проскурівська 12/1")
    assert chat.step == "apartment"
    assert "вул. Проскурівська, 12/1" in chat.text


async def test_a_typo_in_the_street_is_corrected_and_shown_to_the_resident(chat):
    await register(chat, street="Проскуровська")
    assert chat.resident.addresses[0].street_id == "proskurivska"


async def test_ambiguous_street_offers_suggestion_buttons(chat):
    await chat.tap_start()
    await chat.tap("consent:yes")
    await chat.tap("settlement:khmelnytskyi")
    await chat.send("Олена Коваленко")
    await chat.send("0671234567")
    await chat.send("Героїв Маріуполя")
    assert chat.text == t("address.street_suggestions")
    assert {"street:heroiv-mariupolia", "street:prov-heroiv-mariupolia", "nav:back"} <= set(chat.codes())
    await chat.tap("street:prov-heroiv-mariupolia")
    assert "пров. Героїв Маріуполя" in chat.text and chat.step == "house"


async def test_settlement_list_is_paginated_and_a_village_on_the_next_page_can_be_chosen(chat):
    await chat.tap_start()
    await chat.tap("consent:yes")
    assert "settlement:sharovechka" not in chat.codes()
    await chat.tap("nav:page:1")
    assert "nav:page:0" in chat.codes()
    await chat.tap("settlement:sharovechka")
    assert chat.resident.settlement_id == "sharovechka"


async def test_settlement_can_be_typed(chat):
    await chat.tap_start()
    await chat.tap("consent:yes")
    await chat.send("с. Олешин")
    assert chat.resident.settlement_id == "oleshyn" and chat.step == "name"


async def test_village_without_street_directory_accepts_the_street_as_written(chat):
    await chat.tap_start()
    await chat.tap("consent:yes")
    await chat.tap("settlement:bakhmativtsi")
    await chat.send("Олена Коваленко")
    await chat.send("0671234567")
    await chat.send("Лугова")
    assert chat.step == "house" and "Лугова" in chat.text
    await chat.send("3")
    await chat.tap("apartment:none")
    await chat.tap("notify:city")
    [address] = chat.resident.addresses
    assert address.street_id.startswith("typed:") and address.street_label == "Лугова"
    assert address.settlement_id == "bakhmativtsi"


async def test_unknown_street_can_be_kept_as_written(chat):
    await chat.tap_start()
    await chat.tap("consent:yes")
    await chat.tap("settlement:khmelnytskyi")
    await chat.send("Олена Коваленко")
    await chat.send("0671234567")
    await chat.send("Новобудівна")
    assert chat.step == "street" and "Новобудівна" in chat.text
    await chat.tap("street:typed")
    assert chat.step == "house"
    assert t("address.street_kept") in chat.text


async def test_back_walks_registration_backwards_step_by_step(chat):
    await chat.tap_start()
    await chat.tap("consent:yes")
    await chat.tap("settlement:khmelnytskyi")
    await chat.send("Олена Коваленко")
    await chat.send("0671234567")
    await chat.send("Проскурівська")
    await chat.send("12")
    await chat.send("5")
    visited = []
    for _ in range(7):
        await chat.tap("nav:back")
        visited.append(chat.step)
    assert visited == ["apartment", "house", "street", "phone", "name", "settlement", "consent"]


REGISTRATION_INPUT = [
    ("consent", "consent:yes"),
    ("settlement", "settlement:khmelnytskyi"),
    ("name", "Олена Коваленко"),
    ("phone", "0671234567"),
    ("street", "Проскурівська"),
    ("house", "12"),
    ("apartment", "5"),
    ("notify", "notify:address"),
]


@pytest.mark.parametrize("stop_at", [step for step, _ in REGISTRATION_INPUT])
async def test_a_resident_who_leaves_resumes_at_the_same_step(directory, stop_at):
    chat = Chat(directory, "viber-user-1")
    await chat.tap_start()
    for step, answer in REGISTRATION_INPUT:
        if step == stop_at:
            break
        await chat.send(answer)
    question = chat.text
    assert chat.step == stop_at

    # the next day: the service loads the stored resident; the resident opens the chat
    returning = Chat(directory, "viber-user-1")  # finds the stored resident by identity
    assert returning.resident.id == chat.resident.id
    opened = await returning.incoming(IncomingKind.started)
    assert opened.replies == []
    await returning.tap_start()
    assert returning.step == stop_at
    assert returning.text.endswith(question)
    if stop_at != "consent":
        assert returning.text.startswith(t("registration.resume"))

    for _, answer in REGISTRATION_INPUT[[s for s, _ in REGISTRATION_INPUT].index(stop_at) :]:
        await returning.send(answer)
    assert returning.resident.registered


async def test_declining_consent_leaves_public_info_and_questions_only(chat):
    await chat.tap_start()
    await chat.tap("consent:no")
    assert chat.step == "guest" and not chat.resident.consent
    assert t("registration.declined") in chat.text
    assert chat.codes() == ["menu:info", "menu:question", "menu:links", "menu:register"]
    await chat.tap("menu:info")
    assert chat.step == "info"
    await chat.tap("nav:home")
    assert chat.step == "guest"
    await chat.tap("menu:question")
    assert t("soon.question") in chat.text
    await chat.tap("menu:links")
    assert any(b.action == ButtonAction.open_url for b in chat.buttons())
    await chat.send("menu:profile")  # a main-menu button from an old keyboard
    assert t("guest.register_needed") in chat.text and chat.step == "guest"
    await chat.send("Коли дадуть воду?")
    assert t("cabinet.free_text") in chat.text and chat.step == "guest"
    assert chat.events == [] and chat.resident.name is None


async def test_a_guest_can_change_their_mind_and_register(chat):
    await chat.tap_start()
    await chat.tap("consent:no")
    await chat.tap("menu:register")
    assert chat.step == "consent"
    await chat.tap("consent:yes")
    assert chat.step == "settlement"


async def test_unsubscribed_and_subscribed_are_tracked_on_the_identity(chat):
    await chat.tap_start()
    outcome = await chat.incoming(IncomingKind.unsubscribed)
    assert outcome.replies == [] and not chat.resident.identities[0].subscribed
    outcome = await chat.incoming(IncomingKind.subscribed)
    assert chat.resident.identities[0].subscribed
    assert chat.text == t("registration.consent")


async def test_a_message_after_unsubscribing_subscribes_again(chat):
    await chat.tap_start()
    await chat.incoming(IncomingKind.unsubscribed)
    await chat.tap("consent:yes")
    assert chat.resident.identities[0].subscribed


async def test_a_location_pin_at_the_street_question_is_explained(chat):
    await chat.tap_start()
    await chat.tap("consent:yes")
    await chat.tap("settlement:khmelnytskyi")
    await chat.send("Олена Коваленко")
    await chat.send("0671234567")
    await chat.send_kind(MessageKind.location, lat=49.42, lon=26.98)
    assert chat.step == "street"
    assert chat.text.startswith(t("errors.not_text"))


async def test_home_during_registration_opens_the_guest_menu_and_register_resumes_where_it_stopped(chat):
    await chat.tap_start()
    await chat.tap("consent:yes")
    await chat.tap("settlement:khmelnytskyi")
    await chat.send("Олена Коваленко")
    assert "nav:home" in chat.codes()  # every registration question offers a way home
    await chat.tap("nav:home")
    assert chat.step == "guest" and "menu:register" in chat.codes()
    await chat.tap("menu:info")  # reads public information meanwhile
    await chat.tap("nav:home")
    await chat.tap("menu:register")
    assert chat.step == "phone"  # consent, settlement and name are not asked again
    assert chat.resident.name == "Олена Коваленко"
