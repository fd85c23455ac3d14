// Resident's phone: drives the simulator's /_sim control API and renders the chat.
// Vanilla JS, no build step; everything user-supplied goes through textContent.
"use strict";

const KHMELNYTSKYI = { lat: 49.4229, lon: 26.9871 };
const POLL_MS = 500;

const $ = (id) => document.getElementById(id);
const els = {
  userId: $("user-id"), name: $("user-name"), phone: $("user-phone"), start: $("start"),
  chat: $("chat"), keyboard: $("keyboard"), composer: $("composer"), input: $("input"),
  status: $("status"), webhook: $("webhook"), botName: $("bot-name"),
};
let lastRendered = "";

function userId() { return els.userId.value.trim() || "resident-1"; }
function userPath(action) {
  const base = "/_sim/users/" + encodeURIComponent(userId());
  return action ? base + "/" + action : base;
}
function profile() {
  const body = {};
  if (els.name.value.trim()) body.name = els.name.value.trim();
  if (els.phone.value.trim()) body.phone = els.phone.value.trim();
  return body;
}

async function call(method, path, body) {
  const resp = await fetch(path, {
    method, headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await resp.json().catch(() => null);
  if (!resp.ok) throw new Error((data && data.error) || ("HTTP " + resp.status));
  return data;
}

function showStatus(text, isError) {
  els.status.textContent = text;
  els.status.classList.toggle("error", !!isError);
}

function describeResult(result) {
  if (result.error) return ["Бот не отримав подію: " + result.error, true];
  if (result.welcome_error) return ["Вітання бота відхилено: " + result.welcome_error.status_message, true];
  if (result.http_status !== 200) return ["Вебхук відповів HTTP " + result.http_status, true];
  return ["Вебхук відповів 200", false];
}

async function act(action, body) {
  try {
    const result = await call("POST", userPath(action), Object.assign(profile(), body || {}));
    const [text, isError] = describeResult(result);
    showStatus(text, isError);
  } catch (err) {
    showStatus("Помилка: " + err.message, true);
  }
  refresh();
}

// --- rendering ---------------------------------------------------------------

function stripMarkup(text) {
  // Viber button Text may carry a little HTML (<b>, <font>, <br>); show it as plain text.
  return String(text).replace(/<br\s*\/?>/gi, "\n").replace(/<[^>]*>/g, "");
}

function describe(entry) {
  switch (entry.type) {
    case "text": return entry.text || "";
    case "contact": return "📞 " + ((entry.contact && entry.contact.phone_number) || "") +
      (entry.contact && entry.contact.name ? " (" + entry.contact.name + ")" : "");
    case "location": return "📍 " + (entry.location ? entry.location.lat + ", " + entry.location.lon : "");
    case "sticker": return "[стікер " + entry.sticker_id + "]";
    case "url": return entry.media || "";
    case "file": return "📎 " + (entry.file_name || entry.media || "файл");
    case "video": return "🎬 " + (entry.media || "відео");
    case "rich_media": return "[rich media]";
    case "picture": return entry.text || "";
    default: return entry.text || "[" + entry.type + "]";
  }
}

function bubble(entry) {
  const div = document.createElement("div");
  const who = entry.from === "bot" ? "bot" : "user";
  div.className = "bubble " + who;
  div.dataset.testid = "bubble-" + who;
  div.dataset.type = entry.type;
  if (entry.welcome) {
    const tag = document.createElement("span");
    tag.className = "tag";
    tag.textContent = "вітання";
    div.appendChild(tag);
  }
  if (entry.type === "picture" && entry.media) {
    const img = document.createElement("img");
    img.src = entry.media;
    img.alt = "";
    div.appendChild(img);
  }
  const text = document.createElement("span");
  text.className = "text";
  text.dataset.testid = "bubble-text";
  text.textContent = describe(entry);
  div.appendChild(text);
  const meta = document.createElement("span");
  meta.className = "meta";
  meta.textContent = new Date(entry.at * 1000).toLocaleTimeString("uk-UA", { hour: "2-digit", minute: "2-digit" });
  if (who === "user" && entry.http_status !== undefined && entry.http_status !== 200) {
    div.classList.add("undelivered");
    meta.textContent += " · вебхук: " + (entry.http_status === null ? "немає відповіді" : entry.http_status);
  }
  div.appendChild(meta);
  return div;
}

function pressButton(button) {
  const type = button.ActionType || "reply";
  const body = button.ActionBody;
  if (type === "reply") act("say", { text: body, silent: button.Silent === true });
  else if (type === "share-phone") act("contact", { phone_number: els.phone.value.trim() || undefined });
  else if (type === "location-picker") act("location", KHMELNYTSKYI);
  else if (type === "open-url") window.open(body, "_blank", "noopener");
}

function renderKeyboard(keyboard) {
  els.keyboard.replaceChildren();
  const state = keyboard && keyboard.InputFieldState;
  els.composer.hidden = state === "hidden";
  els.composer.classList.toggle("minimized", state === "minimized");
  if (!keyboard || !Array.isArray(keyboard.Buttons) || !keyboard.Buttons.length) {
    els.keyboard.hidden = true;
    return;
  }
  els.keyboard.hidden = false;
  els.keyboard.style.background = keyboard.BgColor || "";
  for (const button of keyboard.Buttons) {
    const el = document.createElement("button");
    el.type = "button";
    el.className = "kbd-button";
    el.dataset.testid = "kbd-button";
    el.dataset.actionBody = button.ActionBody;
    el.dataset.actionType = button.ActionType || "reply";
    el.style.gridColumn = "span " + Math.min(6, Math.max(1, button.Columns || 6));
    el.style.gridRow = "span " + Math.min(2, Math.max(1, button.Rows || 1));
    if (button.BgColor) el.style.background = button.BgColor;
    const label = button.Text !== undefined ? stripMarkup(button.Text) : button.ActionBody;
    el.textContent = (button.ActionType === "share-phone" ? "📞 " : button.ActionType === "location-picker" ? "📍 " : "") + label;
    el.addEventListener("click", () => pressButton(button));
    els.keyboard.appendChild(el);
  }
}

function render(chat) {
  const key = JSON.stringify(chat);
  if (key === lastRendered) return;
  lastRendered = key;
  const atBottom = els.chat.scrollHeight - els.chat.scrollTop - els.chat.clientHeight < 40;
  els.chat.replaceChildren();
  let keyboard = null;
  for (const entry of chat) {
    if (entry.from === "bot") keyboard = entry.keyboard || null;
    if (entry.from === "bot" && !entry.type) continue;
    if (entry.from === "bot" && entry.type === "keyboard") continue;  // keyboard-only update
    if (entry.silent) continue;  // a Silent button press is not shown, as in Viber
    els.chat.appendChild(bubble(entry));
  }
  renderKeyboard(keyboard);
  if (atBottom || chat.length) els.chat.scrollTop = els.chat.scrollHeight;
}

async function refresh() {
  try {
    render(await call("GET", userPath("chat")));
  } catch (err) {
    showStatus("Симулятор недоступний: " + err.message, true);
  }
}

async function loadUser() {
  try {
    const user = await call("GET", userPath(""));
    els.name.value = user.name;
    els.phone.value = user.phone;
  } catch (err) { /* the poller reports connectivity problems */ }
  lastRendered = "";
  refresh();
}

async function loadState() {
  try {
    const state = await call("GET", "/_sim/state");
    els.webhook.textContent = "Вебхук: " + (state.webhook_url || "не встановлено (бот має викликати set_webhook)");
    els.botName.textContent = state.account_name;
  } catch (err) { /* shown by the poller */ }
}

// --- wiring -------------------------------------------------------------------

els.start.addEventListener("click", () => act("open", {}));
$("send-location").addEventListener("click", () => act("location", KHMELNYTSKYI));
$("send-contact").addEventListener("click", () => act("contact", {}));
$("unsubscribe").addEventListener("click", () => act("unsubscribe", {}));
els.composer.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = els.input.value.trim();
  if (!text) return;
  els.input.value = "";
  act("say", { text });
});
els.userId.addEventListener("change", loadUser);

loadUser();
loadState();
setInterval(refresh, POLL_MS);
setInterval(loadState, 5000);
