/* The till: camera QR scanning (jsQR, shipped with the console), one submit per form, more item rows.
   Handheld scanners need nothing here: they type the code into the focused box and press Enter. */
(function () {
  "use strict";

  // A form sends once; the server is idempotent anyway, this just spares a second round trip.
  document.querySelectorAll("form").forEach(function (form) {
    form.addEventListener("submit", function () {
      if (form.dataset.sent) return;
      form.dataset.sent = "1";
      window.setTimeout(function () {
        form.querySelectorAll("button[type=submit]").forEach(function (button) { button.disabled = true; });
      }, 0);
    });
  });

  // Items: one more empty row on demand.
  var addItem = document.querySelector("[data-add-item]");
  var rows = document.querySelector("[data-item-rows] tbody");
  if (addItem && rows) {
    addItem.hidden = false;
    addItem.addEventListener("click", function () {
      var row = rows.querySelector("[data-item-row]").cloneNode(true);
      row.querySelectorAll("input").forEach(function (input) { input.value = ""; });
      rows.appendChild(row);
      row.querySelector("input").focus();
    });
  }

  // Coupons with a minimum purchase: say so as soon as the total typed is below it (the server checks again).
  var total = document.querySelector("[data-testid=till-total]");
  if (total) {
    total.addEventListener("input", function () {
      var yen = parseInt((total.value || "").normalize("NFKC").replace(/[^0-9]/g, ""), 10);
      document.querySelectorAll("[data-coupon][data-minimum]").forEach(function (coupon) {
        var note = coupon.querySelector("[data-below-minimum]");
        if (note) note.hidden = !(yen >= 0 && yen < parseInt(coupon.dataset.minimum, 10));
      });
    });
  }

  // Camera scanning.
  var form = document.querySelector("[data-till-scan]");
  if (!form) return;
  var input = form.querySelector("input[name=code]");
  var start = form.querySelector("[data-camera-start]");
  var stop = form.querySelector("[data-camera-stop]");
  var box = form.querySelector("[data-camera]");
  var video = form.querySelector("[data-camera-video]");
  var media = navigator.mediaDevices;
  if (!start || !media || !media.getUserMedia || !media.enumerateDevices || typeof window.jsQR !== "function") return;

  var canvas = document.createElement("canvas");
  var context = canvas.getContext("2d", { willReadFrequently: true });
  var stream = null;

  function stopCamera() {
    if (stream) stream.getTracks().forEach(function (track) { track.stop(); });
    stream = null;
    box.hidden = true;
    start.hidden = false;
    input.focus();
  }

  function tick() {
    if (!stream) return;
    if (video.readyState === video.HAVE_ENOUGH_DATA && video.videoWidth) {
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      context.drawImage(video, 0, 0, canvas.width, canvas.height);
      var image = context.getImageData(0, 0, canvas.width, canvas.height);
      var found = window.jsQR(image.data, image.width, image.height, { inversionAttempts: "dontInvert" });
      if (found && found.data) {
        input.value = found.data.trim();
        stopCamera();
        form.requestSubmit ? form.requestSubmit() : form.submit();
        return;
      }
    }
    window.requestAnimationFrame(tick);
  }

  start.addEventListener("click", function () {
    media.getUserMedia({ video: { facingMode: "environment" }, audio: false }).then(function (s) {
      stream = s;
      video.srcObject = s;
      box.hidden = false;
      start.hidden = true;
      return video.play();
    }).then(function () {
      window.requestAnimationFrame(tick);
    }).catch(function () {
      stopCamera();
      start.hidden = true;  // no permission or no usable camera: the scanner and the keyboard still work
    });
  });
  stop.addEventListener("click", stopCamera);

  // Show the camera button only when the device has a camera.
  media.enumerateDevices().then(function (devices) {
    start.hidden = !devices.some(function (device) { return device.kind === "videoinput"; });
  }).catch(function () { start.hidden = true; });
})();
