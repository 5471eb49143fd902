// A socket.io-client 4.x app as one is written for any Socket.IO server; only the URL points at
// the gateway. It prints one JSON line per step on stdout for the test that drives it:
//   ready  after catch-up (the test then publishes EXPECT_ID),
//   received  when notification:new with that id arrives (acknowledged through its callback),
//   read  with the server's answer to notification:read, then it disconnects and exits 0.
// Env: GATEWAY (http://host:port), TOKEN, EXPECT_ID, LAST_ID (optional), TIMEOUT_MS.
import { io } from "socket.io-client";

const say = (event, fields = {}) => console.log(JSON.stringify({ event, ...fields }));
const timeout = Number(process.env.TIMEOUT_MS ?? 20000);
const timer = setTimeout(() => {
  say("timeout");
  process.exit(1);
}, timeout);

const socket = io(`${process.env.GATEWAY}/notifications`, {
  auth: { token: process.env.TOKEN, last_id: process.env.LAST_ID || undefined },
});

socket.on("connect_error", (err) => {
  say("connect_error", { message: err.message, data: err.data ?? null });
  process.exit(2);
});
socket.on("catchup.done", (marker) => say("ready", { count: marker.count, transport: socket.io.engine.transport.name }));
socket.on("notification:new", (notification, ack) => {
  if (notification.id !== process.env.EXPECT_ID) return ack?.();
  ack();
  say("received", { id: notification.id, title: notification.title });
  socket.emit("notification:read", { id: notification.id }, (answer) => {
    say("read", { answer });
    clearTimeout(timer);
    socket.disconnect();
  });
});
