// The SDK against the real fleet (started by tests/clients/test_js_sdk.py).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ApiError, DevicesApi, InboxApi, NotifyClient } from "../dist/index.js";
import { arrived, collect, eventually, fleet, makeToken, newUser, next, noFleet, publish, WebSocketImpl } from "./helpers.js";

function session(user, options = {}) {
  return new NotifyClient({ WebSocket: WebSocketImpl, url: fleet.gateways, getToken: () => makeToken(user), ...options });
}

describe("against the fleet", { skip: noFleet }, () => {
  test("a published notification arrives live; a read frame reaches the inbox and the user's other sessions", async () => {
    const user = newUser();
    const phone = session(user);
    const laptop = session(user, { url: [...fleet.gateways].reverse() });
    const [onPhone, onLaptop] = [collect(phone), collect(laptop)];
    const ready = Promise.all([next(phone, "catchup"), next(laptop, "catchup")]);
    phone.connect();
    laptop.connect();
    try {
      await ready;
      const id = await publish(user, { title: "order shipped" });
      const [shown] = await Promise.all([arrived(onPhone, id), arrived(onLaptop, id)]);
      assert.equal(shown.title, "order shipped");
      assert.equal(phone.lastId, id);
      const inbox = new InboxApi({ baseUrl: fleet.inbox, getToken: () => makeToken(user) });
      await eventually(async () => (await inbox.unreadCount()) === 1);
      const synced = next(laptop, "read", (r) => r.ids?.includes(id));
      phone.read([id]);
      await synced;
      assert.equal(await inbox.unreadCount(), 0);
    } finally {
      phone.close();
      laptop.close();
    }
  });

  test("a session resumes after its last id and reports a gap for an id outside the window", async () => {
    const user = newUser();
    const first = session(user);
    const got = collect(first);
    const ready = next(first, "catchup");
    first.connect();
    let lastId;
    try {
      await ready;
      await arrived(got, await publish(user));
      lastId = first.lastId;
    } finally {
      first.close();
    }
    const missed = await publish(user, { title: "while away" });
    const second = session(user, { lastId });
    const replayed = collect(second);
    const caughtUp = next(second, "catchup");
    second.connect();
    try {
      assert.deepEqual(await caughtUp, { count: 1, gap: false });
      assert.deepEqual(replayed.map((n) => n.id), [missed]);
    } finally {
      second.close();
    }
    const lost = session(user, { lastId: "long-gone-id" });
    const gap = next(lost, "gap");
    lost.connect();
    try {
      await gap;
    } finally {
      lost.close();
    }
  });

  test("a refused token is replaced through getToken() and the session goes on", async () => {
    const user = newUser();
    const handed = [];
    const client = new NotifyClient({
      WebSocket: WebSocketImpl,
      url: fleet.gateways,
      getToken: () => {
        handed.push(handed.length === 0 ? "expired" : "fresh");
        return makeToken(user, { ttlS: handed.length === 1 ? -600 : 3600 });
      },
    });
    const disconnected = next(client, "disconnect");
    const hello = next(client, "hello");
    client.connect();
    try {
      const closed = await disconnected;
      assert.equal(closed.code, 4401);
      assert.match(closed.reason, /expired/);
      assert.equal((await hello).user_id, user);
      assert.deepEqual(handed, ["expired", "fresh"]);
    } finally {
      client.close();
    }
  });

  test("token.expiring is answered with a fresh token from getToken()", async () => {
    const user = newUser();
    let calls = 0;
    // The gateway warns TOKEN_NOTICE_S (60 s) before expiry: a token of 61 s is warned about at once.
    const client = new NotifyClient({ WebSocket: WebSocketImpl, url: fleet.gateways, getToken: () => makeToken(user, { ttlS: ++calls === 1 ? 61 : 3600 }) });
    const expiring = next(client, "tokenExpiring");
    client.connect();
    try {
      await expiring;
      await eventually(() => calls === 2);
      assert.equal(client.state, "open");
    } finally {
      client.close();
    }
  });

  test("a static token that the server refuses stops the client with the reason", async () => {
    const client = new NotifyClient({ WebSocket: WebSocketImpl, url: fleet.gateways, token: makeToken(newUser(), { ttlS: -600 }) });
    const disconnected = next(client, "disconnect");
    client.connect();
    const closed = await disconnected;
    assert.equal(closed.retryInMs, null);
    assert.equal(client.state, "closed");
  });

  test("subscribe joins allowed topics only; broadcasts to the topic arrive", async () => {
    const user = newUser();
    const client = new NotifyClient({ WebSocket: WebSocketImpl, url: fleet.gateways, getToken: () => makeToken(user, { topics: ["news"] }) });
    const got = collect(client);
    const ready = next(client, "catchup");
    client.connect();
    try {
      await ready;
      await client.subscribe("news");
      await assert.rejects(client.subscribe("secret"), /forbidden_topic/);
      const id = `n-news-${user}`;
      await fetch(`${fleet.router}/v1/events`, {
        method: "POST",
        headers: { Authorization: `Bearer ${fleet.serviceToken}`, "Content-Type": "application/json" },
        body: JSON.stringify({ id, type: "news", audience: { kind: "topic", topic: "news" }, title: "extra" }),
      });
      await arrived(got, id);
    } finally {
      client.close();
    }
  });

  test("the first unreachable node is skipped for the next one", async () => {
    const user = newUser();
    const client = new NotifyClient({
      WebSocket: WebSocketImpl,
      url: ["ws://127.0.0.1:9/ws", fleet.gateways[0]],
      getToken: () => makeToken(user),
      backoff: { baseMs: 20 },
    });
    const disconnected = next(client, "disconnect");
    const hello = next(client, "hello");
    client.connect();
    try {
      assert.equal((await disconnected).code, 1006);
      assert.ok((await hello).node);
    } finally {
      client.close();
    }
  });

  test("devices register over the socket and over HTTP, and are listed and removed", async () => {
    const user = newUser();
    const client = session(user);
    const devices = new DevicesApi({ baseUrl: fleet.devices, getToken: () => makeToken(user) });
    const hello = next(client, "hello");
    client.connect();
    try {
      await hello;
      await client.registerDevice("sock-token-1", "android");
      await assert.rejects(client.registerDevice("bad token!", "android"), /bad_device/);
      await devices.register("http-token-1", "web");
      const tokens = (await devices.list()).map((d) => d.token).sort();
      assert.deepEqual(tokens, ["http-token-1", "sock-token-1"]);
      assert.equal(await devices.remove("http-token-1"), true);
      assert.equal(await devices.remove("http-token-1"), false);
    } finally {
      client.close();
    }
  });

  test("the inbox pages back, marks read and reads all; a bad token is an ApiError", async () => {
    const user = newUser();
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await publish(user, { id: `${user}-n${i}`, title: `n${i}` }));
    const inbox = new InboxApi({ baseUrl: fleet.inbox, token: makeToken(user) });
    await eventually(async () => (await inbox.unreadCount()) === 5);
    const first = await inbox.list({ limit: 3 });
    const rest = await inbox.list({ limit: 3, cursor: first.next_cursor });
    assert.deepEqual([...first.items, ...rest.items].map((i) => i.id), [...ids].reverse());
    assert.equal(rest.next_cursor, null);
    assert.equal(await inbox.markRead(ids[0]), true);
    assert.equal(await inbox.markRead(ids[0]), false);
    assert.equal((await inbox.readAll()).marked, 4);
    assert.equal(await inbox.unreadCount(), 0);
    const stranger = new InboxApi({ baseUrl: fleet.inbox, token: "not-a-jwt" });
    await assert.rejects(stranger.unreadCount(), (err) => err instanceof ApiError && err.status === 401);
  });

  test("the SSE transport receives live notifications and resumes from the last id", async () => {
    const user = newUser();
    const sse = (lastId) =>
      new NotifyClient({ url: fleet.sse, transport: "sse", getToken: () => makeToken(user), lastId });
    const first = sse(null);
    const got = collect(first);
    const ready = next(first, "catchup");
    first.connect();
    let lastId;
    try {
      await ready;
      const id = await publish(user);
      await arrived(got, id);
      assert.throws(() => first.read([id]), /one-way/);
      lastId = first.lastId;
    } finally {
      first.close();
    }
    const missed = await publish(user, { title: "while away" });
    const second = sse(lastId);
    const replayed = collect(second);
    const caughtUp = next(second, "catchup");
    second.connect();
    try {
      await caughtUp;
      assert.deepEqual(replayed.map((n) => n.id), [missed]);
    } finally {
      second.close();
    }
  });
});
