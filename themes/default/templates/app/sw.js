// The app's service worker: the app shell (CSS, script, icons, the offline page) is
// cached at install; pages come from the network first; offline, the face's first page
// (the card's QR at the till) from its last copy, any other page the offline page.
const CONFIG = {{ config|tojson }};
// Plugins' handlers (push notifications…), served under this worker's scope.
if (CONFIG.imports.length) importScripts(...CONFIG.imports);
const PREFIX = "app:" + CONFIG.scope + ":";
const SHELL = PREFIX + "shell:" + CONFIG.version;
const PAGES = PREFIX + "pages";

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(SHELL)
      .then((cache) => cache.addAll(CONFIG.shell.map((url) => new Request(url, { cache: "reload" }))))
      .then(() => self.skipWaiting())
  );
});

self.addEventListener("activate", (event) => {
  // Older shells of this scope go; other scopes' caches on this origin stay.
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(
        keys.filter((key) => key.startsWith(PREFIX + "shell:") && key !== SHELL)
          .map((key) => caches.delete(key))
      ))
      .then(() => self.clients.claim())
  );
});

self.addEventListener("message", (event) => {
  // Signing out forgets the copies of the person's pages.
  if (event.data === "signed-out") event.waitUntil(caches.delete(PAGES));
});

async function page(request) {
  try {
    const response = await fetch(request);
    const root = new URL(request.url).pathname === CONFIG.scope;
    if (response.redirected) {
      // Sent elsewhere (to the sign-in, most often): nobody's pages stay on this phone.
      await caches.delete(PAGES);
    } else if (response.ok && root) {
      // Only the face's first page (the card, the cards) is kept for offline use: what
      // the till needs, and nothing more of the person's (history, profile, data).
      const cache = await caches.open(PAGES);
      await cache.put(request, response.clone());
    }
    return response;
  } catch (error) {
    const copy = await caches.match(request, { cacheName: PAGES });
    return copy || (await caches.match(CONFIG.offline, { cacheName: SHELL }));
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    event.respondWith(page(request));
  } else if (CONFIG.shell.includes(url.pathname + url.search)) {
    event.respondWith(caches.match(request, { cacheName: SHELL }).then((hit) => hit || fetch(request)));
  }
});
