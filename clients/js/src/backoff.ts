// When to reconnect after a close, by close code (docs/protocol.md "Close codes").

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

export const DEFAULT_BACKOFF: BackoffOptions = {
  baseMs: 500,
  refusedBaseMs: 1000,
  maxMs: 30_000,
  rateLimitedMs: 5_000,
  rateLimitedMaxMs: 60_000,
  goingAwayMs: 1000,
  maxHintMs: 60_000,
};

export interface ReconnectPlan {
  delayMs: number;
  /** Ask getToken() for a fresh token before reconnecting (4401). */
  freshToken: boolean;
}

export const CLOSE_NORMAL = 1000;
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_UNAUTHORIZED = 4401;
export const CLOSE_TOO_SLOW = 4408;
export const CLOSE_TOO_BIG = 1009;
export const CLOSE_RATE_LIMITED = 4429;
/** No close frame: network loss, node killed, ping unanswered, refused upgrade. */
export const CLOSE_ABNORMAL = 1006;

/** Full jitter: uniform between 0 and the base doubled per attempt (capped), so clients spread out. */
export function jittered(
  baseMs: number,
  attempt: number,
  capMs: number,
  random: () => number = Math.random,
): number {
  return Math.round(random() * Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30)));
}

/**
 * The reconnect window a draining node gives in its 1001 close reason, in ms, or null.
 * The gateway ends the reason with `retry_ms=<n>`; read defensively: "retry_ms: 2500",
 * "reconnect within 5000 ms" and "retry in 2.5 s" work too, and anything unreadable or out of
 * range is ignored.
 */
export function reconnectHintMs(reason: string, maxHintMs: number = DEFAULT_BACKOFF.maxHintMs): number | null {
  if (!reason) return null;
  const keyed = /(?:reconnect|retry)[_-]?(?:after|within|in)?[_-]?(ms|s)\s*[=:]\s*(\d+(?:\.\d+)?)/i.exec(reason);
  const spoken = /(\d+(?:\.\d+)?)\s*(ms|milliseconds?|s|secs?|seconds?)\b/i.exec(reason);
  let ms: number | null = null;
  if (keyed) ms = Number(keyed[2]) * (keyed[1].toLowerCase() === "ms" ? 1 : 1000);
  else if (spoken) ms = Number(spoken[1]) * (spoken[2].toLowerCase().startsWith("m") ? 1 : 1000);
  if (ms === null || !Number.isFinite(ms) || ms < 0) return null;
  return Math.min(ms, maxHintMs);
}

/**
 * What to do after the connection closed with `code`: never at once, a random delay under a
 * base that depends on the code. `attempt` counts failed attempts since the last hello;
 * `rateLimited` counts 4429 closes in a row.
 */
export function planReconnect(
  code: number,
  reason: string,
  attempt: number,
  opts: BackoffOptions = DEFAULT_BACKOFF,
  random: () => number = Math.random,
  rateLimited = 0,
): ReconnectPlan {
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
