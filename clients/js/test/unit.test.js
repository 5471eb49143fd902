// Pure behaviour, no fleet: reconnect plans, hints, repeated ids.
import assert from "node:assert/strict";
import { test } from "node:test";
import { NotifyClient, planReconnect, reconnectHintMs, SeenIds, DEFAULT_BACKOFF } from "../dist/index.js";

const half = () => 0.5;

test("a dropped connection waits a random delay under a base doubling to the cap", () => {
  const delays = [0, 1, 2, 3, 10].map((attempt) => planReconnect(1006, "", attempt, DEFAULT_BACKOFF, half).delayMs);
  assert.deepEqual(delays, [250, 500, 1000, 2000, 15000]);
  assert.equal(planReconnect(1006, "", 20, DEFAULT_BACKOFF, () => 0).delayMs, 0);
  assert.equal(planReconnect(1006, "", 20, DEFAULT_BACKOFF, () => 1).delayMs, 30_000);
});

test("4401 asks for a fresh token, 4408 and 1009 wait under 1 s, 4429 under 5 s doubling to 60 s", () => {
  assert.deepEqual(planReconnect(4401, "token expired", 0, DEFAULT_BACKOFF, () => 1), { delayMs: 1000, freshToken: true });
  assert.equal(planReconnect(4408, "", 0, DEFAULT_BACKOFF, () => 1).delayMs, 1000);
  assert.equal(planReconnect(1009, "", 0, DEFAULT_BACKOFF, () => 1).delayMs, 1000);
  const limited = [0, 1, 4].map((n) => planReconnect(4429, "", 0, DEFAULT_BACKOFF, () => 1, n).delayMs);
  assert.deepEqual(limited, [5000, 10000, 60000]);
});

test("1001 spreads the reconnect over the node's retry_ms hint, 1 s without one", () => {
  const reason = "node shutting down: reconnect to any node after a random 0..retry_ms wait; retry_ms=5000";
  assert.equal(reconnectHintMs(reason), 5000);
  assert.equal(reconnectHintMs("draining; retry_ms: 2500"), 2500);
  assert.equal(reconnectHintMs("node shutting down: reconnect within 2.5 s"), 2500);
  assert.equal(reconnectHintMs("retry_ms=3600000"), 60_000); // capped
  assert.equal(reconnectHintMs("retry_ms=soon"), null);
  assert.equal(reconnectHintMs("node shutting down: reconnect to any node"), null);
  assert.equal(reconnectHintMs(""), null);
  assert.deepEqual(planReconnect(1001, reason, 0, DEFAULT_BACKOFF, () => 0.75), { delayMs: 3750, freshToken: false });
  assert.equal(planReconnect(1001, "node shutting down: reconnect to any node", 0, DEFAULT_BACKOFF, () => 1).delayMs, 1000);
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

test("a runtime without WebSocket ends the session with the reason instead of retrying", async () => {
  const client = new NotifyClient({ url: "ws://unused", token: "t" });
  const ended = new Promise((resolve) => client.on("disconnect", resolve));
  const saved = globalThis.WebSocket;
  globalThis.WebSocket = undefined;
  try {
    client.connect();
    const disconnect = await ended;
    assert.equal(disconnect.retryInMs, null);
    assert.match(disconnect.reason, /no WebSocket/);
    assert.equal(client.state, "closed");
  } finally {
    globalThis.WebSocket = saved;
  }
});
