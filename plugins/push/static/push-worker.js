// Imported by the customer app's service worker: shows the merchant's pushes (sent by
// the push plugin as data: title, body, image, link) and opens their link on a tap.
self.addEventListener("push", function (event) {
  var payload = {};
  try {
    payload = event.data ? event.data.json() : {};
  } catch (error) {
    return;
  }
  var data = payload.data || {};
  var shown = payload.notification || {};
  var title = data.title || shown.title;
  if (!title) return;
  event.waitUntil(
    self.registration.showNotification(title, {
      body: data.body || shown.body || "",
      image: data.image || shown.image || undefined,
      tag: data.send ? "push-" + data.send : undefined,
      data: { link: data.link || self.registration.scope },
    })
  );
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var link = (event.notification.data && event.notification.data.link) || self.registration.scope;
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (windows) {
      for (var i = 0; i < windows.length; i++) {
        if (windows[i].url === link && "focus" in windows[i]) return windows[i].focus();
      }
      return self.clients.openWindow(link);
    })
  );
});
