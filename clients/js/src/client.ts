// A session with the gateway that survives everything the protocol can throw at it: node
// shutdowns, killed nodes, expired tokens, rate limits. The app sees each notification once.

import {
  CLOSE_ABNORMAL,
  CLOSE_NORMAL,
  CLOSE_RATE_LIMITED,
  CLOSE_UNAUTHORIZED,
  DEFAULT_BACKOFF,
  planReconnect,
  type BackoffOptions,
} from "./backoff.js";
import { Emitter } from "./emitter.js";
import {
  INBOX_READ_TYPE,
  type ErrorFrame,
  type Hello,
  type InboxRead,
  type LocationFrame,
  type Notification,
  type Platform,
  type ServerFrame,
} from "./frames.js";
import { SeenIds } from "./seen.js";
import { TokenSource, type TokenOptions } from "./token.js";
import {
  CLOSE_FORBIDDEN,
  openEventStream,
  openWebSocket,
  type Transport,
  type WebSocketConstructor,
} from "./transport.js";

export type ConnectionState = "idle" | "connecting" | "open" | "waiting" | "closed";

export interface ClientOptions extends TokenOptions {
  /** Gateway URL(s): `wss://host/ws`, or `https://host/events` with transport "sse". Several
   * URLs (nodes without a load balancer in front) are tried in turn after a failure. */
  url: string | string[];
  transport?: "websocket" | "sse";
  /** Topics to join at connect (the token's `topics` claim decides). */
  topics?: string[];
  /** The last notification id the app showed in an earlier run: catch-up starts after it. */
  lastId?: string | null;
  /** Send an `ack` for every notification received (default false). */
  autoAck?: boolean;
  backoff?: Partial<BackoffOptions>;
  /** How long subscribe/device requests wait for their answer (default 10 s). */
  requestTimeoutMs?: number;
  /** WebSocket implementation (default: the global one). */
  WebSocket?: WebSocketConstructor;
  /** fetch implementation for SSE (default: the global one). */
  fetch?: typeof fetch;
}

export interface ClientEvents {
  state: ConnectionState;
  hello: Hello;
  /** A notification the app has not seen before (repeats are dropped). */
  notification: Notification;
  /** Catch-up finished: `count` replayed; `gap` = more may have been missed. */
  catchup: { count: number; gap: boolean };
  /** The last id was no longer in the server's window: reload the inbox. */
  gap: { count: number };
  /** Another device (or this one) marked notifications read (`all`: everything). */
  read: InboxRead;
  tokenExpiring: { expiresMs: number };
  location: LocationFrame;
  /** An `error` frame: a request was refused, the session stays open. */
  serverError: ErrorFrame;
  /** The session ended; `retryInMs` is null when the client will not reconnect. */
  disconnect: { code: number; reason: string; retryInMs: number | null };
}

interface Pending {
  resolve(): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

const READ_BATCH = 100;

export class NotifyClient extends Emitter<ClientEvents> {
  private readonly urls: string[];
  private readonly tokens: TokenSource;
  private readonly backoff: BackoffOptions;
  private readonly seen = new SeenIds();
  private readonly topics: Set<string>;
  private readonly pending = new Map<string, Pending>();
  private readonly outbox: object[] = [];
  private transport: Transport | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private urlIndex = 0;
  private attempt = 0;
  private rateLimited = 0;
  private stopped = true;
  private generation = 0;
  private _state: ConnectionState = "idle";
  private _lastId: string | null;
  private _node: string | null = null;

  constructor(private readonly opts: ClientOptions) {
    super();
    this.urls = Array.isArray(opts.url) ? [...opts.url] : [opts.url];
    if (!this.urls.length) throw new TypeError("give at least one gateway URL");
    this.tokens = new TokenSource(opts);
    this.backoff = { ...DEFAULT_BACKOFF, ...opts.backoff };
    this.topics = new Set(opts.topics ?? []);
    this._lastId = opts.lastId ?? null;
  }

  get state(): ConnectionState {
    return this._state;
  }

  /** The id to resume from: the last non-transient notification received. Keep it across runs. */
  get lastId(): string | null {
    return this._lastId;
  }

  /** The gateway node serving the session (from its hello), null while disconnected. */
  get node(): string | null {
    return this._node;
  }

  /** Start the session; it reconnects by itself until `close()`. */
  connect(): this {
    if (!this.stopped) return this;
    this.stopped = false;
    void this.open(false);
    return this;
  }

  /** End the session for good (sign-out, page closed). */
  close(): void {
    this.stopped = true;
    this.generation++;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.transport?.close();
    this.transport = null;
    this.failPending(new Error("client closed"));
    this._node = null;
    this.setState("closed");
  }

  /** Drop the current connection and open a new one at once (e.g. the network changed). */
  reconnect(): void {
    if (this.stopped) {
      this.connect();
      return;
    }
    this.generation++;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.transport?.close();
    this.transport = null;
    this.failPending(new Error("reconnecting"));
    void this.open(false);
  }

  /** Tell the server the app received a notification (`acked` receipt). Queued while offline. */
  ack(id: string): void {
    this.sendOrQueue({ type: "ack", id });
  }

  /** Mark notifications read; the user's other devices get `read`. Queued while offline. */
  read(ids: string[]): void {
    for (let i = 0; i < ids.length; i += READ_BATCH) {
      this.sendOrQueue({ type: "read", ids: ids.slice(i, i + READ_BATCH) });
    }
  }

  /** Join a topic (kept across reconnects); rejects when the token does not allow it. */
  async subscribe(topic: string): Promise<void> {
    await this.request(`subscribed:${topic}`, { type: "subscribe", topic });
    this.topics.add(topic);
  }

  async unsubscribe(topic: string): Promise<void> {
    this.topics.delete(topic);
    await this.request(`unsubscribed:${topic}`, { type: "unsubscribe", topic });
  }

  /** Register this device's push token over the socket (or use DevicesApi over HTTP). */
  async registerDevice(token: string, platform: Platform): Promise<void> {
    await this.request(`device.registered:${token}`, { type: "device.register", token, platform });
  }

  async unregisterDevice(token: string): Promise<void> {
    await this.request(`device.unregistered:${token}`, { type: "device.unregister", token });
  }

  /** Hand over a fresh token (apps without getToken(), on `tokenExpiring`). */
  async setToken(token: string): Promise<void> {
    this.tokens.set(token);
    await this.renewSession(false);
  }

  private setState(state: ConnectionState): void {
    if (this._state === state) return;
    this._state = state;
    this.emit("state", state);
  }

  private async open(freshToken: boolean): Promise<void> {
    const generation = ++this.generation;
    this.setState("connecting");
    let token: string;
    try {
      token = await this.tokens.get(freshToken);
    } catch (err) {
      if (generation === this.generation) this.closed(generation, CLOSE_UNAUTHORIZED, `no token: ${String(err)}`);
      return;
    }
    if (this.stopped || generation !== this.generation) return;
    const params = {
      url: this.urls[this.urlIndex % this.urls.length],
      token,
      lastId: this._lastId,
      topics: [...this.topics],
    };
    const events = {
      frame: (frame: ServerFrame) => {
        if (generation === this.generation) this.onFrame(frame);
      },
      closed: (code: number, reason: string) => this.closed(generation, code, reason),
    };
    try {
      this.transport =
        this.opts.transport === "sse"
          ? openEventStream(this.opts.fetch ?? globalThis.fetch.bind(globalThis), params, events)
          : openWebSocket(this.webSocket(), params, events);
    } catch (err) {
      // No WebSocket in this runtime, or a malformed URL: retrying cannot help.
      this.stopped = true;
      this.setState("closed");
      this.emit("disconnect", { code: CLOSE_ABNORMAL, reason: String(err), retryInMs: null });
    }
  }

  private webSocket(): WebSocketConstructor {
    const ctor = this.opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!ctor) throw new Error("no WebSocket in this runtime: pass options.WebSocket");
    return ctor;
  }

  private closed(generation: number, code: number, reason: string): void {
    if (generation !== this.generation || this.stopped) return;
    this.transport = null;
    this._node = null;
    this.failPending(new Error(`connection closed (${code})`));
    const hopeless =
      code === CLOSE_FORBIDDEN || (code === CLOSE_UNAUTHORIZED && !this.tokens.renewable) || code === CLOSE_NORMAL;
    if (hopeless) {
      this.stopped = true;
      this.setState("closed");
      this.emit("disconnect", { code, reason, retryInMs: null });
      return;
    }
    this.rateLimited = code === CLOSE_RATE_LIMITED ? this.rateLimited + 1 : 0;
    const plan = planReconnect(code, reason, this.attempt++, this.backoff, Math.random, this.rateLimited - 1);
    // Another node next: the one that failed may be gone (a load balancer URL repeats itself).
    this.urlIndex++;
    this.setState("waiting");
    this.emit("disconnect", { code, reason, retryInMs: plan.delayMs });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.stopped && generation === this.generation) void this.open(plan.freshToken);
    }, plan.delayMs);
  }

  private onFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case "hello":
        this.attempt = 0;
        this._node = frame.node;
        this.setState("open");
        this.flushOutbox();
        this.emit("hello", frame);
        return;
      case "notification":
        return this.onNotification(frame.notification);
      case "catchup.done":
        this.emit("catchup", { count: frame.count, gap: frame.gap });
        if (frame.gap) this.emit("gap", { count: frame.count });
        return;
      case "token.expiring":
        this.emit("tokenExpiring", { expiresMs: frame.expires_ms });
        if (this.tokens.renewable) void this.renewSession(true);
        return;
      case "auth.ok":
        return this.settle("auth.ok");
      case "subscribed":
      case "unsubscribed":
        return this.settle(`${frame.type}:${frame.topic}`);
      case "device.registered":
      case "device.unregistered":
        return this.settle(`${frame.type}:${frame.token}`);
      case "location":
        this.emit("location", frame);
        return;
      case "error":
        this.onError(frame);
        return;
      default:
        return;
    }
  }

  private onNotification(n: Notification): void {
    if (!n || typeof n.id !== "string" || !this.seen.firstTime(n.id)) return;
    // Transient notifications are not in the catch-up feed: resuming from one would be a gap.
    if (!n.transient) this._lastId = n.id;
    if (n.type === INBOX_READ_TYPE) {
      this.emit("read", (n.data ?? {}) as unknown as InboxRead);
      return;
    }
    if (this.opts.autoAck && !n.transient) this.ack(n.id);
    this.emit("notification", n);
  }

  private onError(frame: ErrorFrame): void {
    const err = new Error(`${frame.code}: ${frame.message}`);
    if (frame.code === "forbidden_topic" && frame.topic) this.settle(`subscribed:${frame.topic}`, err);
    else if (frame.code === "bad_token") this.settle("auth.ok", err);
    else if (frame.code === "bad_device") {
      const key = [...this.pending.keys()].find((k) => k.startsWith("device."));
      if (key) this.settle(key, err);
    }
    this.emit("serverError", frame);
  }

  /** A fresh token for the running session: an `auth` frame, or (SSE) a new stream. */
  private async renewSession(fromCallback: boolean): Promise<void> {
    const generation = this.generation;
    let token: string;
    try {
      token = await this.tokens.get(fromCallback);
    } catch {
      return; // the socket closes with 4401 at expiry, and that path asks again
    }
    if (generation !== this.generation || !this.transport) return;
    if (!this.transport.twoWay) return this.reconnect();
    await this.request("auth.ok", { type: "auth", token }).catch(() => undefined);
  }

  private request(key: string, frame: object): Promise<void> {
    const transport = this.transport;
    if (transport && !transport.twoWay) {
      return Promise.reject(new Error("SSE is one-way: use a WebSocket, or the HTTP APIs"));
    }
    return new Promise<void>((resolve, reject) => {
      if (!transport || this._state !== "open" || !transport.send(frame)) {
        reject(new Error("not connected"));
        return;
      }
      this.pending.get(key)?.reject(new Error("superseded"));
      const timer = setTimeout(() => this.settle(key, new Error(`no answer to ${key}`)), this.opts.requestTimeoutMs ?? 10_000);
      this.pending.set(key, { resolve, reject, timer });
    });
  }

  private settle(key: string, err?: Error): void {
    const pending = this.pending.get(key);
    if (!pending) return;
    this.pending.delete(key);
    clearTimeout(pending.timer);
    if (err) pending.reject(err);
    else pending.resolve();
  }

  private failPending(err: Error): void {
    for (const key of [...this.pending.keys()]) this.settle(key, err);
  }

  private sendOrQueue(frame: object): void {
    if (this.transport?.twoWay === false) throw new Error("SSE is one-way: use InboxApi to mark read");
    if (this._state === "open" && this.transport?.send(frame)) return;
    this.outbox.push(frame);
  }

  private flushOutbox(): void {
    while (this.outbox.length && this.transport?.send(this.outbox[0])) this.outbox.shift();
  }
}
