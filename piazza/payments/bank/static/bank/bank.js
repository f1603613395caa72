// Bank pages: show that a statement upload is being processed (large files take seconds).
document.addEventListener("submit", function (event) {
  var form = event.target.closest("form[data-progress]");
  if (!form) { return; }
  var status = form.querySelector("[data-progress-text]");
  var button = form.querySelector("button[type=submit]");
  if (status) { status.hidden = false; }
  if (button) { button.disabled = true; button.setAttribute("aria-busy", "true"); }
});
