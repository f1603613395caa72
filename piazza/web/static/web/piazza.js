// Small progressive enhancements; every page works without this file.
document.addEventListener("click", function (event) {
  var target = event.target.closest("[data-print]");
  if (target) { event.preventDefault(); window.print(); }
});
document.addEventListener("change", function (event) {
  var target = event.target.closest("[data-autosubmit]");
  if (target && target.form) { target.form.submit(); }
});
