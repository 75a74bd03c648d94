// The card's rotating QR: every 30 seconds a new code from the membership's secret
// (RFC 6238: HMAC-SHA1 of the window number, dynamic truncation, six digits), drawn
// as "<member code>-<digits>" with the lean-qr package the app serves. It needs no
// network, so the card keeps rotating offline from the service worker's copy; the
// note "offline · balance at …" shows while the phone has no network.
(function () {
  "use strict";
  var card = document.querySelector("[data-live-secret]");
  var note = document.querySelector("[data-offline-note]");

  function showNetwork() {
    if (note) note.hidden = navigator.onLine;
  }
  showNetwork();
  window.addEventListener("online", showNetwork);
  window.addEventListener("offline", showNetwork);
  if (!card || !window.crypto || !crypto.subtle) return; // the static QR stays

  function base32(text) {
    var alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", bits = 0, value = 0, out = [];
    for (var i = 0; i < text.length; i++) {
      value = (value << 5) | alphabet.indexOf(text.charAt(i));
      bits += 5;
      if (bits >= 8) {
        out.push((value >>> (bits - 8)) & 255);
        bits -= 8;
      }
    }
    return new Uint8Array(out);
  }

  var step = Number(card.dataset.liveStep), member = card.dataset.liveCode;
  var keyReady = crypto.subtle.importKey(
    "raw", base32(card.dataset.liveSecret), { name: "HMAC", hash: "SHA-1" }, false, ["sign"]
  );
  var libReady = import(card.dataset.qrLib);

  function digits(key, counter) {
    var message = new DataView(new ArrayBuffer(8));
    message.setUint32(0, Math.floor(counter / 4294967296));
    message.setUint32(4, counter % 4294967296);
    return crypto.subtle.sign("HMAC", key, message.buffer).then(function (signature) {
      var bytes = new Uint8Array(signature), offset = bytes[19] & 15;
      var number = ((bytes[offset] & 127) << 24) | (bytes[offset + 1] << 16) |
        (bytes[offset + 2] << 8) | bytes[offset + 3];
      return String(number % 1000000).padStart(6, "0");
    });
  }

  function svg(qr) {
    // The standard quiet zone of 4 modules, dark on white, as the static QR.
    var size = qr.size + 8, path = "";
    for (var y = 0; y < qr.size; y++) {
      for (var x = 0; x < qr.size; x++) {
        if (qr.get(x, y)) path += "M" + (x + 4) + " " + (y + 4) + "h1v1h-1z";
      }
    }
    return '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ' + size + " " + size +
      '" shape-rendering="crispEdges"><rect width="100%" height="100%" fill="#fff"/>' +
      '<path fill="#000" d="' + path + '"/></svg>';
  }

  var shown = null, box = card.querySelector(".qr");
  function tick() {
    var counter = Math.floor(Date.now() / 1000 / step);
    if (counter === shown) return;
    shown = counter;
    Promise.all([keyReady, libReady]).then(function (ready) {
      return digits(ready[0], counter).then(function (code) {
        var text = member + "-" + code;
        box.innerHTML = svg(ready[1].generate(text));
        box.dataset.liveValue = text;
      });
    }).catch(function () { shown = null; /* the static QR stays */ });
  }
  tick();
  setInterval(tick, 1000);
})();
