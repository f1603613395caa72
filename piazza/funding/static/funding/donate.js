// Progressive enhancement of the donation form; the form works fully without this file.
// Picking a preset clears the custom amount and vice versa, so only one amount is sent.
document.addEventListener("change", function (event) {
  var form = event.target.closest("#donation-form");
  if (!form) { return; }
  var custom = form.querySelector("input[name=custom_amount]");
  if (event.target.name === "preset" && custom) { custom.value = ""; }
});
document.addEventListener("input", function (event) {
  if (event.target.name !== "custom_amount") { return; }
  var form = event.target.closest("#donation-form");
  if (!form || !event.target.value) { return; }
  form.querySelectorAll("input[name=preset]").forEach(function (radio) { radio.checked = false; });
});
