import { type ServerFrame } from "./frames.js";
/** The part of the WebSocket API the client uses (browsers', Node's, or a compatible one). */
export interface WebSocketLike {
    readonly readyState: number;
    onopen: ((ev: unknown) => void) | null;
    onmessage: ((ev: {
        data: unknown;
    }) => void) | null;
    onclose: ((ev: {
        code: number;
        reason: string;
    }) => void) | null;
    onerror: ((ev: unknown) => void) | null;
    send(data: string): void;
    close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;
export interface SessionParams {
    url: string;
    token: string;
    lastId: string | null;
    topics: string[];
}
export interface TransportEvents {
    frame(frame: ServerFrame): void;
    /** The session ended without the client asking (never called after `close()`). */
    closed(code: number, reason: string): void;
}
export interface Transport {
    /** False for SSE: the stream is one-way. */
    readonly twoWay: boolean;
    /** Send a frame now; false when the socket is not open. */
    send(frame: object): boolean;
    close(): void;
}
/** Refused by an origin allow-list: retrying will not help (client-side code, never sent by a server). */
export declare const CLOSE_FORBIDDEN = 4403;
/** A WebSocket session; the token goes in the first frame, as browsers cannot set headers. */
export declare function openWebSocket(Ctor: WebSocketConstructor, params: SessionParams, events: TransportEvents): Transport;
/** An SSE session read with fetch, so the token travels in the Authorization header. */
export declare function openEventStream(fetchFn: typeof fetch, params: SessionParams, events: TransportEvents): Transport;
