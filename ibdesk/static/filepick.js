// A file field's [Choose file…] button and the chosen name beside it, in the window's
// language: the browser's own control speaks the browser's language ("No file chosen").
// One listener on the document serves fields that htmx swaps in later. A file, not inline:
// the Content-Security-Policy allows no inline script.
"use strict";
document.addEventListener("change", (event) => {
  const input = event.target;
  if (!(input instanceof HTMLInputElement) || !input.classList.contains("file-pick-input")) {
    return;
  }
  const shown = input.parentElement.querySelector(".file-pick-name");
  if (shown) {
    const names = Array.from(input.files || [], (file) => file.name);
    shown.textContent = names.length ? names.join(", ") : shown.dataset.none;
  }
});
