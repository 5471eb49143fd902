// When to reconnect after a close, by close code (docs/protocol.md "Close codes").
export const DEFAULT_BACKOFF = {
    baseMs: 500,
    maxMs: 30_000,
    rateLimitedMs: 60_000,
    maxHintMs: 60_000,
};
export const CLOSE_NORMAL = 1000;
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_UNAUTHORIZED = 4401;
export const CLOSE_TOO_SLOW = 4408;
export const CLOSE_RATE_LIMITED = 4429;
/** No close frame: network loss, node killed, ping unanswered, refused upgrade. */
export const CLOSE_ABNORMAL = 1006;
/** Equal jitter: half the exponential step fixed, half random, so clients spread out. */
export function jittered(attempt, opts, random = Math.random) {
    const step = Math.min(opts.maxMs, opts.baseMs * 2 ** Math.min(attempt, 30));
    return Math.round(step / 2 + random() * (step / 2));
}
/**
 * The reconnect delay a draining node asks for in its 1001 close reason, in ms, or null.
 * Read defensively: "reconnect within 5000 ms", "reconnect_ms=2500", "retry in 2.5 s" all work;
 * anything unreadable or out of range is ignored.
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
/** What to do after the connection closed with `code` on the `attempt`-th retry in a row. */
export function planReconnect(code, reason, attempt, opts = DEFAULT_BACKOFF, random = Math.random) {
    switch (code) {
        case CLOSE_GOING_AWAY: {
            // A draining node: go to another one now, or spread over the window the node asked for.
            const hint = reconnectHintMs(reason, opts.maxHintMs);
            const window = hint ?? 250;
            return { delayMs: Math.round(random() * window), freshToken: false };
        }
        case CLOSE_UNAUTHORIZED:
            // A fresh token first; back off too, in case the token source keeps handing out bad ones.
            return { delayMs: attempt === 0 ? 0 : jittered(attempt, opts, random), freshToken: true };
        case CLOSE_RATE_LIMITED:
            return { delayMs: Math.round(opts.rateLimitedMs * (1 + random())), freshToken: false };
        default:
            return { delayMs: jittered(attempt, opts, random), freshToken: false };
    }
}
