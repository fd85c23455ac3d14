// The answer's live character counter (the panel works without it: the server counts too).
// Counts as the API does: line breaks as one character, spaces at the ends trimmed.
document.addEventListener("DOMContentLoaded", () => {
  for (const area of document.querySelectorAll("textarea[data-counter]")) {
    const counter = document.getElementById(area.dataset.counter);
    const max = Number(area.dataset.max);
    const update = () => {
      const n = area.value.replace(/\r\n/g, "\n").trim().length;
      counter.textContent = `${n} із ${max} символів` + (n > max ? ` — на ${n - max} більше, ніж можна` : "");
      counter.classList.toggle("error", n > max);
    };
    area.addEventListener("input", update);
    update();
  }
});
