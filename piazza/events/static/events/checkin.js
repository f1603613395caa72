// Check-in at the door: the phone camera reads the attendee's QR code through the browser's
// BarcodeDetector API where it exists; elsewhere the code is typed (the form works without JS).
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var box = document.querySelector("[data-scanner]");
    var form = document.querySelector("[data-code-form]");
    if (!box || !form || !("BarcodeDetector" in window) || !navigator.mediaDevices) return;
    box.hidden = false;
    var video = box.querySelector("[data-scan-video]");
    var input = form.querySelector("input[name=code]");
    box.querySelector("[data-scan-start]").addEventListener("click", function () {
      var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (stream) {
        video.srcObject = stream;
        video.hidden = false;
        video.play();
        var look = function () {
          detector.detect(video).then(function (codes) {
            if (codes.length) {
              stream.getTracks().forEach(function (t) { t.stop(); });
              input.value = codes[0].rawValue;
              form.submit();
            } else {
              window.requestAnimationFrame(look);
            }
          }, function () { window.requestAnimationFrame(look); });
        };
        look();
      }, function () { input.focus(); });
    });
  });
})();
