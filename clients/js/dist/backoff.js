// When to reconnect after a close, by close code (docs/protocol.md "Close codes").
export const DEFAULT_BACKOFF = {
    baseMs: 500,
    refusedBaseMs: 1000,
    maxMs: 30_000,
    rateLimitedMs: 5_000,
    rateLimitedMaxMs: 60_000,
    goingAwayMs: 1000,
    maxHintMs: 60_000,
};
export const CLOSE_NORMAL = 1000;
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_UNAUTHORIZED = 4401;
export const CLOSE_TOO_SLOW = 4408;
export const CLOSE_TOO_BIG = 1009;
export const CLOSE_RATE_LIMITED = 4429;
/** No close frame: network loss, node killed, ping unanswered, refused upgrade. */
export const CLOSE_ABNORMAL = 1006;
/** Full jitter: uniform between 0 and the base doubled per attempt (capped), so clients spread out. */
export function jittered(baseMs, attempt, capMs, random = Math.random) {
    return Math.round(random() * Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30)));
}
/**
 * The reconnect window a draining node gives in its 1001 close reason, in ms, or null.
 * The gateway ends the reason with `retry_ms=<n>`; read defensively: "retry_ms: 2500",
 * "reconnect within 5000 ms" and "retry in 2.5 s" work too, and anything unreadable or out of
 * range is ignored.
 */
export function reconnectHintMs(reason, maxHintMs = DEFAULT_BACKOFF.maxHintMs) {
    if (!reason)
        return null;
    const keyed = /(?:reconnect|retry)[_-]?(?:after|within|in)?[_-]?(ms|s)\s*[=:]\s*(\d+(?:\.\d+)?)/i.exec(reason);
    const spoken = /(\d+(?:\.\d+)?)\s*(ms|milliseconds?|s|secs?|seconds?)\b/i.exec(reason);
    let ms = null;
    if (keyed)
        ms = Number(keyed[2]) * (keyed[1].toLowerCase() === "ms" ? 1 : 1000);
    else if (spoken)
        ms = Number(spoken[1]) * (spoken[2].toLowerCase().startsWith("m") ? 1 : 1000);
    if (ms === null || !Number.isFinite(ms) || ms < 0)
        return null;
    return Math.min(ms, maxHintMs);
}
/**
 * What to do after the connection closed with `code`: never at once, a random delay under a
 * base that depends on the code. `attempt` counts failed attempts since the last hello;
 * `rateLimited` counts 4429 closes in a row.
 */
export function planReconnect(code, reason, attempt, opts = DEFAULT_BACKOFF, random = Math.random, rateLimited = 0) {
    switch (code) {
        case CLOSE_GOING_AWAY: {
            // A draining node closes its sockets over a window and asks to spread the reconnects over it.
            const window = reconnectHintMs(reason, opts.maxHintMs) ?? opts.goingAwayMs;
            return { delayMs: Math.round(random() * window), freshToken: false };
        }
        case CLOSE_UNAUTHORIZED:
            return { delayMs: jittered(opts.refusedBaseMs, attempt, opts.maxMs, random), freshToken: true };
        case CLOSE_TOO_SLOW:
        case CLOSE_TOO_BIG:
            return { delayMs: jittered(opts.refusedBaseMs, attempt, opts.maxMs, random), freshToken: false };
        case CLOSE_RATE_LIMITED:
            return { delayMs: jittered(opts.rateLimitedMs, rateLimited, opts.rateLimitedMaxMs, random), freshToken: false };
        default:
            return { delayMs: jittered(opts.baseMs, attempt, opts.maxMs, random), freshToken: false };
    }
}
