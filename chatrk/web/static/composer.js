/* The composer: the 24-hour window's countdown, and canned-response insertion.
   Loaded on every page (CSP script-src 'self'); it acts only where a composer is on the page, and
   looks again after each htmx swap. No eval, no inline handlers. */
(function () {
  "use strict";

  function timeLeft(seconds) {
    var s = Math.max(0, Math.floor(seconds));
    var hours = Math.floor(s / 3600);
    var minutes = Math.floor((s % 3600) / 60);
    if (hours) return hours + " h " + minutes + " min";
    if (minutes) return minutes + " min";
    return s + " s";
  }

  /* The server says how many seconds were left when it rendered the composer; this clock counts them
     down from then (never from the device's own date, which may be wrong). */
  function tick() {
    var timers = document.querySelectorAll(".composer .countdown[data-seconds]");
    timers.forEach(function (timer) {
      if (!timer.chatrkDeadline) {
        timer.chatrkDeadline = Date.now() + Number(timer.getAttribute("data-seconds")) * 1000;
      }
      var left = (timer.chatrkDeadline - Date.now()) / 1000;
      timer.textContent = timeLeft(left);
      if (left <= 0 && !timer.chatrkReloading) {
        timer.chatrkReloading = true;
        var composer = timer.closest("#composer");
        var draft = composer && composer.querySelector("[data-canned-input]");
        if (draft && draft.value.trim()) {
          // Never throw away what the agent wrote: say the window closed and let them copy it.
          var state = timer.closest(".window-state");
          state.textContent = "The 24-hour window has closed: this text can no longer be sent. " +
            "Copy what you need, then choose Template.";
          state.className = "window-state closed";
          state.setAttribute("role", "alert");
          composer.querySelectorAll("form button[type=submit]").forEach(function (button) {
            button.disabled = true;
          });
        } else if (composer && window.htmx) {
          // The window closed: the server answers with the template picker.
          window.htmx.ajax("GET", composer.getAttribute("data-composer-url"), {
            target: "#composer", swap: "outerHTML"
          });
        }
      }
    });
  }

  function insertAtCursor(field, text) {
    var start = field.selectionStart, end = field.selectionEnd;
    field.value = field.value.slice(0, start) + text + field.value.slice(end);
    field.selectionStart = field.selectionEnd = start + text.length;
    field.focus();
  }

  function cannedText(form, shortcut) {
    var options = form.querySelectorAll("[data-canned-picker] option");
    for (var i = 0; i < options.length; i++) {
      if (options[i].value === shortcut) return options[i].getAttribute("data-text");
    }
    return null;
  }

  document.addEventListener("change", function (event) {
    var picker = event.target.closest && event.target.closest("[data-canned-picker]");
    if (!picker || !picker.value) return;
    var field = picker.form.querySelector("[data-canned-input]");
    var text = cannedText(picker.form, picker.value);
    if (field && text !== null) insertAtCursor(field, text);
    picker.value = "";
  });

  /* "/hours" followed by a space becomes the canned text (typed text stays as it is otherwise). */
  document.addEventListener("input", function (event) {
    var field = event.target;
    if (!field.matches || !field.matches("[data-canned-input]") || event.data !== " ") return;
    var before = field.value.slice(0, field.selectionStart);
    var match = /(^|\s)\/([a-z0-9][a-z0-9_-]{0,31}) $/.exec(before);
    if (!match) return;
    var text = cannedText(field.form, match[2]);
    if (text === null) return;
    var start = before.length - match[2].length - 2;
    field.setSelectionRange(start, before.length);
    insertAtCursor(field, text);
  });

  setInterval(tick, 1000);
  document.addEventListener("DOMContentLoaded", tick);
  document.addEventListener("htmx:load", tick);
})();
