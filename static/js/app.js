// Firebreak's only script of its own: small enhancements on top of pages that work
// without it. Loaded from /static (the Content-Security-Policy allows no inline script).
(function () {
  "use strict";

  function pad(n) { return n < 10 ? "0" + n : "" + n; }

  function format(seconds) {
    var s = Math.abs(Math.round(seconds));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + pad(m) + "m";
    if (m) return m + "m " + pad(r) + "s";
    return r + "s";
  }

  // Countdowns to an objective: tick every second, turn red when late.
  function tick() {
    var now = Date.now();
    document.querySelectorAll(".countdown[data-due]").forEach(function (el) {
      var left = (Date.parse(el.dataset.due) - now) / 1000;
      el.textContent = left >= 0 ? format(left) + " left" : format(left) + " late";
      el.classList.toggle("late", left < 0);
      var objective = el.closest(".objective");
      if (objective && left < 0) { objective.classList.add("objective-overdue"); objective.classList.remove("objective-running"); }
    });
  }
  setInterval(tick, 1000);

  // Forms marked data-reset-on-success empty themselves after a successful htmx post.
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (form && form.matches && form.matches("form[data-reset-on-success]") && event.detail.successful) {
      form.reset();
    }
  });
})();
