export interface BackoffOptions {
    /** First retry delay; doubles per failed attempt (default 500 ms). */
    baseMs: number;
    /** Largest delay between ordinary retries (default 30 s). */
    maxMs: number;
    /** Delay after 4429 (rate limited repeatedly), before jitter (default 60 s). */
    rateLimitedMs: number;
    /** Longest reconnect hint honoured after 1001 (default 60 s). */
    maxHintMs: number;
}
export declare const DEFAULT_BACKOFF: BackoffOptions;
export interface ReconnectPlan {
    delayMs: number;
    /** Ask getToken() for a fresh token before reconnecting (4401). */
    freshToken: boolean;
}
export declare const CLOSE_NORMAL = 1000;
export declare const CLOSE_GOING_AWAY = 1001;
export declare const CLOSE_UNAUTHORIZED = 4401;
export declare const CLOSE_TOO_SLOW = 4408;
export declare const CLOSE_RATE_LIMITED = 4429;
/** No close frame: network loss, node killed, ping unanswered, refused upgrade. */
export declare const CLOSE_ABNORMAL = 1006;
/** Equal jitter: half the exponential step fixed, half random, so clients spread out. */
export declare function jittered(attempt: number, opts: BackoffOptions, random?: () => number): number;
/**
 * The reconnect delay a draining node asks for in its 1001 close reason, in ms, or null.
 * Read defensively: "reconnect within 5000 ms", "reconnect_ms=2500", "retry in 2.5 s" all work;
 * anything unreadable or out of range is ignored.
 */
export declare function reconnectHintMs(reason: string, maxHintMs?: number): number | null;
/** What to do after the connection closed with `code` on the `attempt`-th retry in a row. */
export declare function planReconnect(code: number, reason: string, attempt: number, opts?: BackoffOptions, random?: () => number): ReconnectPlan;
