// Push notifications in the customer app: after the person's first points (the server
// says when: never on a first visit), an offer to turn them on; once the browser allows
// them, the device's FCM token (Firebase JS SDK, served by the app) goes to the server,
// again on later visits (FCM may hand the phone a new one).
(function () {
  "use strict";
  var me = document.currentScript;
  if (!me || !("serviceWorker" in navigator) || !("Notification" in window) || !("PushManager" in window)) return;
  var base = me.src.replace(/push\.js(\?.*)?$/, "");
  var DECLINED = "push-declined";

  function load(src) {
    return new Promise(function (resolve, reject) {
      var tag = document.createElement("script");
      tag.src = src;
      tag.onload = resolve;
      tag.onerror = reject;
      document.head.appendChild(tag);
    });
  }

  async function register(info) {
    if (!window.firebase) {
      await load(info.libraries[0]);
      await load(info.libraries[1]);
    }
    var app = firebase.apps.length ? firebase.app() : firebase.initializeApp(info.config);
    var registration = await navigator.serviceWorker.ready;
    var token = await firebase.messaging(app).getToken({
      vapidKey: info.vapidKey,
      serviceWorkerRegistration: registration,
    });
    if (!token) return;
    await fetch(info.register, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": info.csrf },
      body: JSON.stringify({ token: token }),
    });
    document.documentElement.dataset.pushRegistered = "yes";
  }

  function offer(info) {
    var box = document.createElement("div");
    box.className = "push-offer notice";
    box.setAttribute("role", "dialog");
    var text = document.createElement("p");
    text.textContent = info.text.offer;
    var yes = document.createElement("button");
    yes.type = "button";
    yes.className = "push-offer-yes";
    yes.textContent = info.text.yes;
    var no = document.createElement("button");
    no.type = "button";
    no.className = "push-offer-no secondary";
    no.textContent = info.text.no;
    box.append(text, yes, no);
    (document.querySelector("main") || document.body).prepend(box);
    no.addEventListener("click", function () {
      localStorage.setItem(DECLINED, String(Date.now()));
      box.remove();
    });
    yes.addEventListener("click", function () {
      box.remove();
      Notification.requestPermission().then(function (answer) {
        if (answer === "granted") return register(info);
      }).catch(function (error) { console.warn("push:", error); /* they stay off */ });
    });
  }

  window.addEventListener("load", function () {
    fetch(base + "status", { credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (info) {
        if (!info.enabled) return;
        if (Notification.permission === "granted") return register(info);
        if (Notification.permission === "default" && info.offer && !localStorage.getItem(DECLINED)) offer(info);
      })
      .catch(function (error) { console.warn("push:", error); /* the app works without them */ });
  });
})();
