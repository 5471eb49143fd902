// A socket.io-client 4.x app as one is written for any Socket.IO server; only the URLs point at
// the gateways. It prints one JSON line per step on stdout for the test that drives it:
//   ready     after each catch-up (with the node serving it),
//   received  once per notification id (acknowledged through its ack callback, then marked read),
//   read      with the server's answer to notification:read.
// It keeps the last id shown and sends it in `auth` on every reconnect, and moves to the next
// gateway when a connection is lost (the failover an app does without a load balancer).
// Env: GATEWAYS (comma-separated http://host:port), TOKEN, EXPECT (ids to receive), TIMEOUT_MS.
import { io } from "socket.io-client";

const say = (event, fields = {}) => console.log(JSON.stringify({ event, ...fields }));
const gateways = process.env.GATEWAYS.split(",");
const expected = new Set(process.env.EXPECT.split(","));
const shown = new Set();
let lastId = null;
let current = 0;
const timer = setTimeout(() => {
  say("timeout", { shown: [...shown] });
  process.exit(1);
}, Number(process.env.TIMEOUT_MS ?? 30000));

const socket = io(`${gateways[current]}/notifications`, {
  auth: (cb) => cb({ token: process.env.TOKEN, last_id: lastId ?? undefined }),
  reconnectionDelay: 200,
  reconnectionDelayMax: 1000,
});

socket.io.on("reconnect_attempt", () => {
  current = (current + 1) % gateways.length;
  socket.io.uri = gateways[current]; // the next node: the last one may be gone
});
socket.on("connect_error", (err) => say("connect_error", { message: err.message, data: err.data ?? null }));
socket.on("hello", (hello) => say("hello", { node: hello.node }));
socket.on("catchup.done", (marker) => say("ready", { count: marker.count, gap: marker.gap }));
socket.on("notification:new", (notification, ack) => {
  ack?.();
  if (shown.has(notification.id)) return say("duplicate", { id: notification.id });
  shown.add(notification.id);
  if (!notification.transient) lastId = notification.id;
  say("received", { id: notification.id, title: notification.title });
  socket.emit("notification:read", { id: notification.id }, (answer) => {
    say("read", { id: notification.id, answer });
    if ([...expected].every((id) => shown.has(id))) {
      clearTimeout(timer);
      socket.disconnect();
    }
  });
});
