// The inbox's keyboard navigation: arrow keys (or j/k) move between conversations, "/" jumps to the
// search box. Links work without this file; htmx swaps the list in place, so focus is restored after.
(function () {
  "use strict";

  function links() {
    return Array.prototype.slice.call(document.querySelectorAll("#conversation-list .conversation-rows a"));
  }

  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || typing(event.target)) {
      return;
    }
    if (event.key === "/") {
      var search = document.getElementById("inbox-q");
      if (search) {
        event.preventDefault();
        search.focus();
      }
      return;
    }
    var step = { ArrowDown: 1, j: 1, ArrowUp: -1, k: -1 }[event.key];
    if (!step) {
      return;
    }
    var all = links();
    var inList = all.indexOf(document.activeElement) !== -1;
    if (!all.length || (!inList && event.key.indexOf("Arrow") === 0)) {
      return; // outside the list the arrows scroll the page; j and k always move
    }
    event.preventDefault();
    var at = all.indexOf(document.activeElement);
    if (at === -1) {
      at = all.findIndex(function (link) { return link.getAttribute("aria-current") === "page"; });
      all[at === -1 ? 0 : Math.min(Math.max(at + step, 0), all.length - 1)].focus();
      return;
    }
    all[Math.min(Math.max(at + step, 0), all.length - 1)].focus();
  });

  var focused = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var active = document.activeElement;
    focused = active && active.dataset ? active.dataset.conversation || null : null;
  });
  document.addEventListener("htmx:afterSwap", function () {
    if (focused) {
      var again = document.querySelector('#conversation-list a[data-conversation="' + focused + '"]');
      if (again) {
        again.focus();
      }
      focused = null;
    }
  });
})();
