// When to reconnect after a close, by close code (docs/protocol.md "Close codes").

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

export const DEFAULT_BACKOFF: BackoffOptions = {
  baseMs: 500,
  maxMs: 30_000,
  rateLimitedMs: 60_000,
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
export const CLOSE_RATE_LIMITED = 4429;
/** No close frame: network loss, node killed, ping unanswered, refused upgrade. */
export const CLOSE_ABNORMAL = 1006;

/** Equal jitter: half the exponential step fixed, half random, so clients spread out. */
export function jittered(attempt: number, opts: BackoffOptions, random: () => number = Math.random): number {
  const step = Math.min(opts.maxMs, opts.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(step / 2 + random() * (step / 2));
}

/**
 * The reconnect delay a draining node asks for in its 1001 close reason, in ms, or null.
 * Read defensively: "reconnect within 5000 ms", "reconnect_ms=2500", "retry in 2.5 s" all work;
 * anything unreadable or out of range is ignored.
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

/** What to do after the connection closed with `code` on the `attempt`-th retry in a row. */
export function planReconnect(
  code: number,
  reason: string,
  attempt: number,
  opts: BackoffOptions = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): ReconnectPlan {
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
