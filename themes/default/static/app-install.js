// Registers the customer app's service worker for the face being served (its URL and
// scope are on this script's tag), and tells it when the person signs out (or deletes
// their account: a form with data-forget-pages).
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !("serviceWorker" in navigator)) return;
  window.addEventListener("load", function () {
    navigator.serviceWorker
      .register(script.dataset.worker, { scope: script.dataset.scope })
      .catch(function () { /* the app works without it, online */ });
  });
  document.addEventListener("submit", function (event) {
    var controller = navigator.serviceWorker.controller;
    if (controller && event.target.matches(".app-signout, [data-forget-pages]")) {
      controller.postMessage("signed-out");
    }
  });
})();
