// The development inbox: everything through the JS SDK (/sdk/index.js), no framework.
import { DevicesApi, InboxApi, NotifyClient } from "/sdk/index.js";

const $ = (selector) => document.querySelector(selector);
const config = await (await fetch("/config.json")).json();

/** id -> item shown; a notification already shown (inbox page, catch-up, repeat) is not added twice. */
const shown = new Map();
let client = null;
let inbox = null;
let devices = null;
let cursor = null;
let user = null;
let presenceTimer = null;

async function mintToken(userId, roles) {
  const resp = await fetch("/dev/token", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user: userId, roles }),
  });
  if (!resp.ok) throw new Error(`token refused: ${resp.status}`);
  return (await resp.json()).token;
}

function signIn(userId, roles) {
  user = { id: userId, roles };
  const getToken = () => mintToken(userId, roles);
  inbox = new InboxApi({ baseUrl: config.inbox, getToken });
  devices = new DevicesApi({ baseUrl: config.devices, getToken });
  client = new NotifyClient({ url: config.gateways, getToken });
  client.on("state", (state) => {
    $("#state").textContent = state;
    $("#state").className = `state ${state}`;
    $("#node").textContent = client.node ? `on ${client.node}` : "";
  });
  client.on("hello", (hello) => {
    $("#node").textContent = `on ${hello.node}`;
    refreshPresence();
  });
  client.on("notification", (n) => {
    if (addItem(n, { prepend: true })) renderBadge();
  });
  client.on("read", applyRead);
  client.on("gap", () => reloadInbox());
  $("#signin").hidden = true;
  $("#app").hidden = false;
  $("#who").textContent = `${userId}${roles.length ? ` (${roles.join(", ")})` : ""}`;
  document.title = `Inbox of ${userId} (development)`;
  reloadInbox().then(() => client.connect());
  refreshDevices();
  presenceTimer = setInterval(refreshPresence, 5000);
}

function signOut() {
  client?.close();
  clearInterval(presenceTimer);
  shown.clear();
  $("#items").replaceChildren();
  $("#app").hidden = true;
  $("#signin").hidden = false;
  $("#state").textContent = "signed out";
  $("#node").textContent = "";
}

/** Where an item goes in the newest-first list; null when it belongs to a page not loaded yet. */
function insertionPoint(createdMs) {
  for (const li of $("#items").children) {
    if (shown.get(li.dataset.id).created_ms < createdMs) return li;
  }
  return cursor ? null : undefined; // undefined: append at the end
}

/** Show a notification once, in date order (catch-up can replay ones older than the newest shown). */
function addItem(n, { prepend }) {
  if (shown.has(n.id)) return false;
  const before = prepend ? insertionPoint(n.created_ms) : undefined;
  if (before === null) return false;
  const li = document.createElement("li");
  li.dataset.id = n.id;
  const text = document.createElement("div");
  const title = document.createElement("b");
  title.textContent = n.title || n.type;
  const body = document.createElement("div");
  body.textContent = n.body || "";
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = `${n.type} · ${new Date(n.created_ms).toLocaleTimeString()}${n.room ? ` · ${n.room}` : ""}`;
  text.append(title, body, meta);
  const button = document.createElement("button");
  button.className = "read";
  button.textContent = "Mark read";
  button.addEventListener("click", () => markRead(n.id));
  li.append(text, button);
  const item = { li, created_ms: n.created_ms, read: Boolean(n.read_ms) };
  setRead(item, item.read);
  shown.set(n.id, item);
  $("#items").insertBefore(li, before ?? null);
  return true;
}

function setRead(item, read) {
  item.read = read;
  item.li.classList.toggle("read", read);
  item.li.classList.toggle("unread", !read);
}

function applyRead(event) {
  for (const [id, item] of shown) {
    if (event.all ? item.created_ms <= event.read_ms : event.ids?.includes(id)) setRead(item, true);
  }
  if (event.all) hiddenUnread = 0;
  renderBadge();
}

async function markRead(id) {
  const item = shown.get(id);
  if (item) setRead(item, true);
  renderBadge();
  await inbox.markRead(id); // the server tells every tab and device (`read` events)
}

async function reloadInbox() {
  shown.clear();
  $("#items").replaceChildren();
  cursor = null;
  await loadOlder();
}

async function loadOlder() {
  const page = await inbox.list({ limit: 10, cursor });
  for (const item of page.items) addItem(item, { prepend: false });
  cursor = page.next_cursor;
  $("#older").hidden = !cursor;
  await syncUnread();
}

/** Unread notifications the page has not loaded (older pages), from the server's count. */
let hiddenUnread = 0;

function renderBadge() {
  const unread = hiddenUnread + [...shown.values()].filter((item) => !item.read).length;
  $("#badge").textContent = String(unread);
  $("#badge").classList.toggle("zero", unread === 0);
}

// The socket can be ahead of the inbox API (history stores a notification a moment after it is
// delivered), so the badge counts what the page shows and asks the server only about the rest.
async function syncUnread() {
  const server = await inbox.unreadCount();
  const loaded = [...shown.values()].filter((item) => !item.read).length;
  hiddenUnread = Math.max(0, server - loaded);
  renderBadge();
}

async function refreshDevices() {
  const list = await devices.list();
  $("#devices").replaceChildren(
    ...list.map((d) => {
      const li = document.createElement("li");
      li.textContent = `${d.platform} …${d.token.slice(-8)} (seen ${new Date(d.last_seen_ms).toLocaleTimeString()})`;
      return li;
    }),
  );
  if (!list.length) $("#devices").innerHTML = "<li>none</li>";
}

async function refreshPresence() {
  if (!client) return;
  const resp = await fetch("/dev/presence", { headers: { Authorization: `Bearer ${await mintToken(user.id, user.roles)}` } });
  const nodes = (await resp.json()).nodes ?? {};
  const parts = Object.entries(nodes).map(([node, count]) => `${node}: ${count}`);
  $("#presence").textContent = parts.length ? `online, connections ${parts.join(", ")}` : "offline";
}

async function sendTest() {
  const token = await mintToken(user.id, user.roles);
  await fetch("/dev/publish", {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify({ title: `Hello at ${new Date().toLocaleTimeString()}`, body: "sent from the inbox page" }),
  });
}

async function registerBrowser() {
  const token = `web-${crypto.randomUUID()}`;
  await devices.register(token, "web");
  await refreshDevices();
}

$("#signin-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const roles = $("#roles").value.split(",").map((r) => r.trim()).filter(Boolean);
  signIn($("#user").value.trim(), roles);
});
$("#sign-out").addEventListener("click", signOut);
$("#read-all").addEventListener("click", async () => {
  const done = await inbox.readAll();
  applyRead({ all: true, read_ms: done.read_ms });
});
$("#older").addEventListener("click", loadOlder);
$("#send").addEventListener("click", sendTest);
$("#register").addEventListener("click", registerBrowser);

// ?user=42&roles=customer signs in at once (bookmarks, tests).
const params = new URLSearchParams(location.search);
if (params.get("user")) {
  signIn(params.get("user"), (params.get("roles") ?? "").split(",").filter(Boolean));
}
