// Pure behaviour, no fleet: reconnect plans, hints, repeated ids.
import assert from "node:assert/strict";
import { test } from "node:test";
import { NotifyClient, planReconnect, reconnectHintMs, SeenIds, DEFAULT_BACKOFF } from "../dist/index.js";

const half = () => 0.5;

test("ordinary closes back off exponentially with jitter up to the cap", () => {
  const delays = [0, 1, 2, 3, 10].map((attempt) => planReconnect(1006, "", attempt, DEFAULT_BACKOFF, half).delayMs);
  assert.deepEqual(delays, [375, 750, 1500, 3000, 22500]);
  const low = planReconnect(1006, "", 20, DEFAULT_BACKOFF, () => 0).delayMs;
  const high = planReconnect(1006, "", 20, DEFAULT_BACKOFF, () => 1).delayMs;
  assert.deepEqual([low, high], [15000, 30000]);
});

test("4401 asks for a fresh token, 4429 backs off long, 1001 reconnects at once", () => {
  assert.deepEqual(planReconnect(4401, "token expired", 0, DEFAULT_BACKOFF, half), { delayMs: 0, freshToken: true });
  assert.ok(planReconnect(4429, "", 0, DEFAULT_BACKOFF, half).delayMs >= 60_000);
  assert.ok(planReconnect(1001, "node shutting down: reconnect to any node", 5, DEFAULT_BACKOFF, () => 1).delayMs <= 250);
});

test("a draining node's reconnect hint spreads the reconnect over its window", () => {
  assert.equal(reconnectHintMs("node shutting down: reconnect within 5000 ms"), 5000);
  assert.equal(reconnectHintMs("draining; reconnect_ms=2500"), 2500);
  assert.equal(reconnectHintMs("node shutting down: reconnect in 2.5 s"), 2500);
  assert.equal(reconnectHintMs("reconnect within 3600 s"), 60_000); // capped
  assert.equal(reconnectHintMs("node shutting down: reconnect to any node"), null);
  assert.equal(reconnectHintMs(""), null);
  const plan = planReconnect(1001, "reconnect within 8000 ms", 0, DEFAULT_BACKOFF, () => 0.75);
  assert.deepEqual(plan, { delayMs: 6000, freshToken: false });
});

test("seen ids drop repeats and forget the oldest beyond capacity", () => {
  const seen = new SeenIds(2);
  assert.equal(seen.firstTime("a"), true);
  assert.equal(seen.firstTime("a"), false);
  seen.firstTime("b");
  seen.firstTime("c");
  assert.equal(seen.has("a"), false);
  assert.equal(seen.has("c"), true);
});

/** A WebSocket that plays back frames the test gives it. */
function scripted(frames, sentFrames) {
  return class {
    readyState = 0;
    onopen = null;
    onmessage = null;
    onclose = null;
    onerror = null;
    constructor() {
      setTimeout(() => {
        this.readyState = 1;
        this.onopen?.({});
        for (const frame of frames) this.onmessage?.({ data: JSON.stringify(frame) });
      }, 0);
    }
    send(data) {
      sentFrames.push(JSON.parse(data));
    }
    close() {
      this.readyState = 3;
    }
  };
}

test("a repeated notification reaches the app once; inbox.read becomes a read event", async () => {
  const n = (id, extra = {}) => ({ type: "notification", notification: { id, type: "t", created_ms: 1, ...extra } });
  const sent = [];
  const frames = [
    { type: "hello", user_id: "1", node: "gw" },
    n("a"),
    { type: "catchup.done", count: 1, gap: false },
    n("a"),
    n("b"),
    n("r1", { type: "inbox.read", transient: true, data: { ids: ["a"], read_ms: 5 } }),
  ];
  const client = new NotifyClient({ url: "ws://unused", token: "t", WebSocket: scripted(frames, sent), autoAck: true });
  const got = [];
  const reads = [];
  client.on("notification", (x) => got.push(x.id));
  client.on("read", (r) => reads.push(r));
  const done = new Promise((resolve) => client.on("read", resolve));
  client.connect();
  await done;
  client.close();
  assert.deepEqual(got, ["a", "b"]);
  assert.deepEqual(reads, [{ ids: ["a"], read_ms: 5 }]);
  assert.equal(client.lastId, "b", "transient ids are never resumed from");
  assert.deepEqual(sent[0], { type: "auth", token: "t", last_id: null, topics: [] });
  assert.deepEqual(sent.slice(1), [{ type: "ack", id: "a" }, { type: "ack", id: "b" }]);
});
