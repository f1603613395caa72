// Progressive enhancement of the thank-you page: the phone's own share sheet when it has one.
// Without it (or without JavaScript) the plain share links next to the button still work.
document.addEventListener("DOMContentLoaded", function () {
  var button = document.querySelector("[data-share-url]");
  if (!button || !navigator.share) { return; }
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.share({ title: button.dataset.shareTitle, url: button.dataset.shareUrl }).catch(function () {});
  });
});
