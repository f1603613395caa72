// Small progressive enhancements; every page works without this file.
document.addEventListener("click", function (event) {
  var target = event.target.closest("[data-print]");
  if (target) { event.preventDefault(); window.print(); }
});
document.addEventListener("change", function (event) {
  var target = event.target.closest("[data-autosubmit]");
  if (target && target.form) { target.form.submit(); }
});
// A form that comes back with errors: focus its summary, so the reader starts there (autofocus does it
// too; this covers browsers that ignore autofocus on a non-control).
document.addEventListener("DOMContentLoaded", function () {
  var summary = document.querySelector("[data-error-summary]");
  if (summary && document.activeElement === document.body) { summary.focus(); }
});
