// Progressive enhancement of the payment form: disable "Pay" after the first submit and show
// progress. The server is double-click safe without this (one Idempotency-Key per form).
document.addEventListener("submit", function (event) {
  var form = event.target.closest("[data-pay-form]");
  if (!form) { return; }
  if (form.dataset.submitted) { event.preventDefault(); return; }
  form.dataset.submitted = "1";
  var button = form.querySelector("button[type=submit]");
  if (button) {
    button.setAttribute("aria-disabled", "true");
    if (button.dataset.busyLabel) { button.textContent = button.dataset.busyLabel; }
  }
  var busy = form.querySelector("[data-busy]");
  if (busy) { busy.hidden = false; }
});
