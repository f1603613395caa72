// Stripe's Payment Element for a card setup (changing the card of a recurring gift, ADR 0011).
// The card goes straight to Stripe; after confirmation Stripe sends the person to our return URL,
// where the server re-fetches the SetupIntent before anything changes.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("stripe-setup-form");
  if (!form || typeof window.Stripe !== "function") { return; }
  var stripe = window.Stripe(form.dataset.stripeKey, { locale: form.dataset.locale || "it" });
  var elements = stripe.elements({ clientSecret: form.dataset.clientSecret });
  elements.create("payment").mount("#payment-element");
  var error = document.getElementById("stripe-error");
  var button = form.querySelector("button[type=submit]");
  var busy = form.querySelector("[data-busy]");
  var idleLabel = button.textContent;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (form.dataset.submitted) { return; }
    form.dataset.submitted = "1";
    button.setAttribute("aria-disabled", "true");
    button.textContent = button.dataset.busyLabel;
    busy.hidden = false;
    error.hidden = true;
    stripe.confirmSetup({ elements: elements, confirmParams: { return_url: form.dataset.returnUrl } })
      .then(function (result) {
        // Only reached on an immediate error (card refused, invalid data): the old card stays; retry.
        if (result.error) {
          error.textContent = result.error.message;
          error.hidden = false;
          delete form.dataset.submitted;
          button.removeAttribute("aria-disabled");
          button.textContent = idleLabel;
          busy.hidden = true;
        }
      });
  });
});
