import { type BackoffOptions } from "./backoff.js";
import { Emitter } from "./emitter.js";
import { type ErrorFrame, type Hello, type InboxRead, type LocationFrame, type Notification, type Platform } from "./frames.js";
import { type TokenOptions } from "./token.js";
import { type WebSocketConstructor } from "./transport.js";
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
    catchup: {
        count: number;
        gap: boolean;
    };
    /** The last id was no longer in the server's window: reload the inbox. */
    gap: {
        count: number;
    };
    /** Another device (or this one) marked notifications read (`all`: everything). */
    read: InboxRead;
    tokenExpiring: {
        expiresMs: number;
    };
    location: LocationFrame;
    /** An `error` frame: a request was refused, the session stays open. */
    serverError: ErrorFrame;
    /** The session ended; `retryInMs` is null when the client will not reconnect. */
    disconnect: {
        code: number;
        reason: string;
        retryInMs: number | null;
    };
}
export declare class NotifyClient extends Emitter<ClientEvents> {
    private readonly opts;
    private readonly urls;
    private readonly tokens;
    private readonly backoff;
    private readonly seen;
    private readonly topics;
    private readonly pending;
    private readonly outbox;
    private transport;
    private retryTimer;
    private urlIndex;
    private attempt;
    private rateLimited;
    private stopped;
    private generation;
    private _state;
    private _lastId;
    private _node;
    constructor(opts: ClientOptions);
    get state(): ConnectionState;
    /** The id to resume from: the last non-transient notification received. Keep it across runs. */
    get lastId(): string | null;
    /** The gateway node serving the session (from its hello), null while disconnected. */
    get node(): string | null;
    /** Start the session; it reconnects by itself until `close()`. */
    connect(): this;
    /** End the session for good (sign-out, page closed). */
    close(): void;
    /** Drop the current connection and open a new one at once (e.g. the network changed). */
    reconnect(): void;
    /** Tell the server the app received a notification (`acked` receipt). Queued while offline. */
    ack(id: string): void;
    /** Mark notifications read; the user's other devices get `read`. Queued while offline. */
    read(ids: string[]): void;
    /** Join a topic (kept across reconnects); rejects when the token does not allow it. */
    subscribe(topic: string): Promise<void>;
    unsubscribe(topic: string): Promise<void>;
    /** Register this device's push token over the socket (or use DevicesApi over HTTP). */
    registerDevice(token: string, platform: Platform): Promise<void>;
    unregisterDevice(token: string): Promise<void>;
    /** Hand over a fresh token (apps without getToken(), on `tokenExpiring`). */
    setToken(token: string): Promise<void>;
    private setState;
    private open;
    private webSocket;
    private closed;
    private onFrame;
    private onNotification;
    private onError;
    /** A fresh token for the running session: an `auth` frame, or (SSE) a new stream. */
    private renewSession;
    private request;
    private settle;
    private failPending;
    private sendOrQueue;
    private flushOutbox;
}
