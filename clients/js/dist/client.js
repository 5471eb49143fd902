// A session with the gateway that survives everything the protocol can throw at it: node
// shutdowns, killed nodes, expired tokens, rate limits. The app sees each notification once.
import { CLOSE_ABNORMAL, CLOSE_NORMAL, CLOSE_RATE_LIMITED, CLOSE_UNAUTHORIZED, DEFAULT_BACKOFF, planReconnect, } from "./backoff.js";
import { Emitter } from "./emitter.js";
import { INBOX_READ_TYPE, } from "./frames.js";
import { SeenIds } from "./seen.js";
import { TokenSource } from "./token.js";
import { CLOSE_FORBIDDEN, openEventStream, openWebSocket, } from "./transport.js";
const READ_BATCH = 100;
export class NotifyClient extends Emitter {
    opts;
    urls;
    tokens;
    backoff;
    seen = new SeenIds();
    topics;
    pending = new Map();
    outbox = [];
    transport = null;
    retryTimer = null;
    urlIndex = 0;
    attempt = 0;
    rateLimited = 0;
    stopped = true;
    generation = 0;
    _state = "idle";
    _lastId;
    _node = null;
    constructor(opts) {
        super();
        this.opts = opts;
        this.urls = Array.isArray(opts.url) ? [...opts.url] : [opts.url];
        if (!this.urls.length)
            throw new TypeError("give at least one gateway URL");
        this.tokens = new TokenSource(opts);
        this.backoff = { ...DEFAULT_BACKOFF, ...opts.backoff };
        this.topics = new Set(opts.topics ?? []);
        this._lastId = opts.lastId ?? null;
    }
    get state() {
        return this._state;
    }
    /** The id to resume from: the last non-transient notification received. Keep it across runs. */
    get lastId() {
        return this._lastId;
    }
    /** The gateway node serving the session (from its hello), null while disconnected. */
    get node() {
        return this._node;
    }
    /** Start the session; it reconnects by itself until `close()`. */
    connect() {
        if (!this.stopped)
            return this;
        this.stopped = false;
        void this.open(false);
        return this;
    }
    /** End the session for good (sign-out, page closed). */
    close() {
        this.stopped = true;
        this.generation++;
        if (this.retryTimer)
            clearTimeout(this.retryTimer);
        this.retryTimer = null;
        this.transport?.close();
        this.transport = null;
        this.failPending(new Error("client closed"));
        this._node = null;
        this.setState("closed");
    }
    /** Drop the current connection and open a new one at once (e.g. the network changed). */
    reconnect() {
        if (this.stopped) {
            this.connect();
            return;
        }
        this.generation++;
        if (this.retryTimer)
            clearTimeout(this.retryTimer);
        this.transport?.close();
        this.transport = null;
        this.failPending(new Error("reconnecting"));
        void this.open(false);
    }
    /** Tell the server the app received a notification (`acked` receipt). Queued while offline. */
    ack(id) {
        this.sendOrQueue({ type: "ack", id });
    }
    /** Mark notifications read; the user's other devices get `read`. Queued while offline. */
    read(ids) {
        for (let i = 0; i < ids.length; i += READ_BATCH) {
            this.sendOrQueue({ type: "read", ids: ids.slice(i, i + READ_BATCH) });
        }
    }
    /** Join a topic (kept across reconnects); rejects when the token does not allow it. */
    async subscribe(topic) {
        await this.request(`subscribed:${topic}`, { type: "subscribe", topic });
        this.topics.add(topic);
    }
    async unsubscribe(topic) {
        this.topics.delete(topic);
        await this.request(`unsubscribed:${topic}`, { type: "unsubscribe", topic });
    }
    /** Register this device's push token over the socket (or use DevicesApi over HTTP). */
    async registerDevice(token, platform) {
        await this.request(`device.registered:${token}`, { type: "device.register", token, platform });
    }
    async unregisterDevice(token) {
        await this.request(`device.unregistered:${token}`, { type: "device.unregister", token });
    }
    /** Hand over a fresh token (apps without getToken(), on `tokenExpiring`). */
    async setToken(token) {
        this.tokens.set(token);
        await this.renewSession(false);
    }
    setState(state) {
        if (this._state === state)
            return;
        this._state = state;
        this.emit("state", state);
    }
    async open(freshToken) {
        const generation = ++this.generation;
        this.setState("connecting");
        let token;
        try {
            token = await this.tokens.get(freshToken);
        }
        catch (err) {
            if (generation === this.generation)
                this.closed(generation, CLOSE_UNAUTHORIZED, `no token: ${String(err)}`);
            return;
        }
        if (this.stopped || generation !== this.generation)
            return;
        const params = {
            url: this.urls[this.urlIndex % this.urls.length],
            token,
            lastId: this._lastId,
            topics: [...this.topics],
        };
        const events = {
            frame: (frame) => {
                if (generation === this.generation)
                    this.onFrame(frame);
            },
            closed: (code, reason) => this.closed(generation, code, reason),
        };
        try {
            this.transport =
                this.opts.transport === "sse"
                    ? openEventStream(this.opts.fetch ?? globalThis.fetch.bind(globalThis), params, events)
                    : openWebSocket(this.webSocket(), params, events);
        }
        catch (err) {
            // No WebSocket in this runtime, or a malformed URL: retrying cannot help.
            this.stopped = true;
            this.setState("closed");
            this.emit("disconnect", { code: CLOSE_ABNORMAL, reason: String(err), retryInMs: null });
        }
    }
    webSocket() {
        const ctor = this.opts.WebSocket ?? globalThis.WebSocket;
        if (!ctor)
            throw new Error("no WebSocket in this runtime: pass options.WebSocket");
        return ctor;
    }
    closed(generation, code, reason) {
        if (generation !== this.generation || this.stopped)
            return;
        this.transport = null;
        this._node = null;
        this.failPending(new Error(`connection closed (${code})`));
        const hopeless = code === CLOSE_FORBIDDEN || (code === CLOSE_UNAUTHORIZED && !this.tokens.renewable) || code === CLOSE_NORMAL;
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
            if (!this.stopped && generation === this.generation)
                void this.open(plan.freshToken);
        }, plan.delayMs);
    }
    onFrame(frame) {
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
                if (frame.gap)
                    this.emit("gap", { count: frame.count });
                return;
            case "token.expiring":
                this.emit("tokenExpiring", { expiresMs: frame.expires_ms });
                if (this.tokens.renewable)
                    void this.renewSession(true);
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
    onNotification(n) {
        if (!n || typeof n.id !== "string" || !this.seen.firstTime(n.id))
            return;
        // Transient notifications are not in the catch-up feed: resuming from one would be a gap.
        if (!n.transient)
            this._lastId = n.id;
        if (n.type === INBOX_READ_TYPE) {
            this.emit("read", (n.data ?? {}));
            return;
        }
        if (this.opts.autoAck && !n.transient)
            this.ack(n.id);
        this.emit("notification", n);
    }
    onError(frame) {
        const err = new Error(`${frame.code}: ${frame.message}`);
        if (frame.code === "forbidden_topic" && frame.topic)
            this.settle(`subscribed:${frame.topic}`, err);
        else if (frame.code === "bad_token")
            this.settle("auth.ok", err);
        else if (frame.code === "bad_device") {
            const key = [...this.pending.keys()].find((k) => k.startsWith("device."));
            if (key)
                this.settle(key, err);
        }
        this.emit("serverError", frame);
    }
    /** A fresh token for the running session: an `auth` frame, or (SSE) a new stream. */
    async renewSession(fromCallback) {
        const generation = this.generation;
        let token;
        try {
            token = await this.tokens.get(fromCallback);
        }
        catch {
            return; // the socket closes with 4401 at expiry, and that path asks again
        }
        if (generation !== this.generation || !this.transport)
            return;
        if (!this.transport.twoWay)
            return this.reconnect();
        await this.request("auth.ok", { type: "auth", token }).catch(() => undefined);
    }
    request(key, frame) {
        const transport = this.transport;
        if (transport && !transport.twoWay) {
            return Promise.reject(new Error("SSE is one-way: use a WebSocket, or the HTTP APIs"));
        }
        return new Promise((resolve, reject) => {
            if (!transport || this._state !== "open" || !transport.send(frame)) {
                reject(new Error("not connected"));
                return;
            }
            this.pending.get(key)?.reject(new Error("superseded"));
            const timer = setTimeout(() => this.settle(key, new Error(`no answer to ${key}`)), this.opts.requestTimeoutMs ?? 10_000);
            this.pending.set(key, { resolve, reject, timer });
        });
    }
    settle(key, err) {
        const pending = this.pending.get(key);
        if (!pending)
            return;
        this.pending.delete(key);
        clearTimeout(pending.timer);
        if (err)
            pending.reject(err);
        else
            pending.resolve();
    }
    failPending(err) {
        for (const key of [...this.pending.keys()])
            this.settle(key, err);
    }
    sendOrQueue(frame) {
        if (this.transport?.twoWay === false)
            throw new Error("SSE is one-way: use InboxApi to mark read");
        if (this._state === "open" && this.transport?.send(frame))
            return;
        this.outbox.push(frame);
    }
    flushOutbox() {
        while (this.outbox.length && this.transport?.send(this.outbox[0]))
            this.outbox.shift();
    }
}
