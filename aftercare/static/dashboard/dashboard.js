// Enhancements only: every page works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Print buttons (a plain link to the printable page works without script).
  for (const button of document.querySelectorAll("[data-print]")) {
    button.addEventListener("click", (event) => { event.preventDefault(); window.print(); });
  }
  // Forms that ask before doing something hard to undo.
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); }
    });
  }
});
