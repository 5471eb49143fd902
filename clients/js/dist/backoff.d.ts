export interface BackoffOptions {
    /** Base after a dropped connection or failed attempt (1006); doubles per attempt (default 500 ms). */
    baseMs: number;
    /** Base after 4401 (fresh token), 4408 (too slow) and 1009 (default 1 s). */
    refusedBaseMs: number;
    /** Largest base for the above (default 30 s). */
    maxMs: number;
    /** Base after 4429 (rate limited), doubling per 4429 in a row (default 5 s). */
    rateLimitedMs: number;
    /** Largest base after 4429 (default 60 s). */
    rateLimitedMaxMs: number;
    /** Base after 1001 when the reason carries no `retry_ms` hint (default 1 s). */
    goingAwayMs: number;
    /** Longest `retry_ms` hint honoured (default 60 s). */
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
export declare const CLOSE_TOO_BIG = 1009;
export declare const CLOSE_RATE_LIMITED = 4429;
/** No close frame: network loss, node killed, ping unanswered, refused upgrade. */
export declare const CLOSE_ABNORMAL = 1006;
/** Full jitter: uniform between 0 and the base doubled per attempt (capped), so clients spread out. */
export declare function jittered(baseMs: number, attempt: number, capMs: number, random?: () => number): number;
/**
 * The reconnect window a draining node gives in its 1001 close reason, in ms, or null.
 * The gateway ends the reason with `retry_ms=<n>`; read defensively: "retry_ms: 2500",
 * "reconnect within 5000 ms" and "retry in 2.5 s" work too, and anything unreadable or out of
 * range is ignored.
 */
export declare function reconnectHintMs(reason: string, maxHintMs?: number): number | null;
/**
 * What to do after the connection closed with `code`: never at once, a random delay under a
 * base that depends on the code. `attempt` counts failed attempts since the last hello;
 * `rateLimited` counts 4429 closes in a row.
 */
export declare function planReconnect(code: number, reason: string, attempt: number, opts?: BackoffOptions, random?: () => number, rateLimited?: number): ReconnectPlan;
