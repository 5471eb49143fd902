// Shared by the fleet tests: the fleet's addresses (set by tests/clients/test_js_sdk.py), tokens
// signed like the fleet's development tokens, publishing and polling.
import { createHmac, randomUUID } from "node:crypto";
import { WebSocket as WsWebSocket } from "ws";

/** Node 22+ (and 20 with --experimental-websocket) has a global WebSocket; older Node takes ws's,
 * which speaks the same browser API. The SDK itself never imports ws. */
export const WebSocketImpl = globalThis.WebSocket ?? WsWebSocket;

export const fleet = {
  gateways: (process.env.NOTIFY_GATEWAYS ?? "").split(",").filter(Boolean),
  sse: (process.env.NOTIFY_SSE ?? "").split(",").filter(Boolean),
  router: process.env.NOTIFY_ROUTER,
  serviceToken: process.env.NOTIFY_SERVICE_TOKEN,
  inbox: process.env.NOTIFY_INBOX,
  devices: process.env.NOTIFY_DEVICES,
  secret: process.env.NOTIFY_JWT_SECRET,
};

export const noFleet = fleet.gateways.length === 0 && "no fleet: run through tests/clients/test_js_sdk.py";

const b64 = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** An HS256 user token; `ttlS` may be negative (already expired). */
export function makeToken(sub, { ttlS = 3600, roles = [], topics } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const claims = { sub, roles, iat: now, exp: now + ttlS, ...(topics ? { topics } : {}) };
  const unsigned = `${b64({ alg: "HS256", typ: "JWT" })}.${b64(claims)}`;
  const signature = createHmac("sha256", fleet.secret).update(unsigned).digest("base64url");
  return `${unsigned}.${signature}`;
}

export const newUser = () => `js-${randomUUID().slice(0, 8)}`;

/** Publish through the router's HTTP API; returns the notification id. */
export async function publish(userId, fields = {}) {
  const id = fields.id ?? `n-${randomUUID()}`;
  const event = { id, type: "test.note", audience: { kind: "users", ids: [userId] }, title: "hello", ...fields };
  const resp = await fetch(`${fleet.router}/v1/events`, {
    method: "POST",
    headers: { Authorization: `Bearer ${fleet.serviceToken}`, "Content-Type": "application/json" },
    body: JSON.stringify(event),
  });
  if (resp.status !== 202) throw new Error(`publish refused: ${resp.status} ${await resp.text()}`);
  return id;
}

/** Resolve with the first value `listen` delivers that matches, or reject after `timeoutMs`. */
export function next(client, event, match = () => true, timeoutMs = 10_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`no ${event} within ${timeoutMs} ms`));
    }, timeoutMs);
    const stop = client.on(event, (value) => {
      if (!match(value)) return;
      clearTimeout(timer);
      stop();
      resolve(value);
    });
  });
}

/** Poll `check` until it returns a truthy value (no fixed sleeps). */
export async function eventually(check, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every notification the client passes to the app, in order. */
export function collect(client) {
  const got = [];
  client.on("notification", (n) => got.push(n));
  return got;
}

/** The collected notification with this id, once it is there. */
export const arrived = (got, id, timeoutMs = 10_000) => eventually(() => got.find((n) => n.id === id), timeoutMs);
