// The QR scanner of the panel's Fidelización and of the customer app's pages that read
// a QR (a coupon's). The camera's frames are decoded in the page by jsQR (pinned in
// package.json, served by Premia itself: Linux Chromium has no native BarcodeDetector).
// What is read goes into the box's form (data-form, data-input; by default the panel's
// search, which opens that customer) and the form is sent; with data-follow, a link of
// this same site (a coupon's claim page) is opened instead. Without a camera (or
// JavaScript) the form's box is the way: type the code.
(function () {
  "use strict";
  var box = document.querySelector(".scanner");
  if (!box) return;
  var media = navigator.mediaDevices;
  if (!media || !media.getUserMedia) return; // no camera API (e.g. plain http): stay hidden

  var form = document.getElementById(box.dataset.form || "find");
  var input = form.querySelector("input[name=" + (box.dataset.input || "q") + "]");
  var scan = box.querySelector("[data-scan]");
  var view = box.querySelector(".scanner-view");
  var video = view.querySelector("video");
  var status = box.querySelector(".scanner-status");
  var canvas = document.createElement("canvas");
  var context = canvas.getContext("2d", { willReadFrequently: true });
  var stream = null;
  var decoder = null;

  function loadDecoder() {
    // Loaded on the first scan only: the page itself stays light on a phone.
    if (!decoder) {
      decoder = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = box.dataset.decoder;
        script.onload = function () { resolve(window.jsQR); };
        script.onerror = reject;
        document.head.appendChild(script);
      });
    }
    return decoder;
  }

  function stop() {
    if (stream) stream.getTracks().forEach(function (track) { track.stop(); });
    stream = null;
    view.hidden = true;
    scan.hidden = false;
  }

  function read(decode) {
    if (!stream) return;
    if (video.readyState >= 2 && video.videoWidth) {
      // At most 640 px on the long side: plenty for a QR held up to the camera.
      var scale = Math.min(1, 640 / Math.max(video.videoWidth, video.videoHeight));
      var width = Math.round(video.videoWidth * scale);
      var height = Math.round(video.videoHeight * scale);
      canvas.width = width;
      canvas.height = height;
      context.drawImage(video, 0, 0, width, height);
      var pixels = context.getImageData(0, 0, width, height);
      var found = decode(pixels.data, width, height, { inversionAttempts: "attemptBoth" });
      var code = found && found.data.trim();
      if (code) {
        stop();
        if (box.dataset.follow !== undefined && code.indexOf(location.origin + "/") === 0) {
          location.href = code; // never a link to another site
          return;
        }
        input.value = code;
        status.textContent = code;
        form.submit();
        return;
      }
    }
    setTimeout(function () { read(decode); }, 80); // ~12 frames a second spares the battery
  }

  function start() {
    status.textContent = "";
    Promise.all([
      loadDecoder(),
      media.getUserMedia({ video: { facingMode: "environment" }, audio: false }),
    ]).then(function (ready) {
      stream = ready[1];
      video.srcObject = stream;
      scan.hidden = true;
      view.hidden = false;
      return video.play().then(function () { read(ready[0]); });
    }).catch(function () {
      stop();
      status.textContent = box.dataset.noCamera;
      input.focus();
    });
  }

  box.hidden = false;
  scan.addEventListener("click", start);
  box.querySelector("[data-stop]").addEventListener("click", stop);
})();
