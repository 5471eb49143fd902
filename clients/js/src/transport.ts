// The two ways to hold a session: a WebSocket (two-way) or an SSE stream read with fetch (one-way).

import { CLOSE_ABNORMAL, CLOSE_GOING_AWAY, CLOSE_UNAUTHORIZED } from "./backoff.js";
import { parseFrame, type ServerFrame } from "./frames.js";

/** The part of the WebSocket API the client uses (browsers', Node's, or a compatible one). */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
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
export const CLOSE_FORBIDDEN = 4403;

const OPEN = 1;

/** A WebSocket session; the token goes in the first frame, as browsers cannot set headers. */
export function openWebSocket(Ctor: WebSocketConstructor, params: SessionParams, events: TransportEvents): Transport {
  const ws = new Ctor(params.url);
  let ended = false;
  ws.onopen = () => {
    ws.send(JSON.stringify({ type: "auth", token: params.token, last_id: params.lastId, topics: params.topics }));
  };
  ws.onmessage = (ev) => {
    if (typeof ev.data !== "string") return;
    const frame = parseFrame(ev.data);
    if (frame) events.frame(frame);
  };
  const finish = (code: number, reason: string) => {
    if (ended) return;
    ended = true;
    events.closed(code, reason);
  };
  ws.onerror = () => {
    // Browsers follow an error with a close event, where the reconnect is decided. Some runtimes
    // (Node 20's WebSocket) never close a socket that failed to connect: end it here then.
    if (ws.readyState !== OPEN) {
      finish(CLOSE_ABNORMAL, "connection failed");
      try {
        ws.close();
      } catch {
        // never opened: nothing to close
      }
    }
  };
  ws.onclose = (ev) => finish(ev.code || CLOSE_ABNORMAL, ev.reason || "");
  return {
    twoWay: true,
    send(frame) {
      if (ended || ws.readyState !== OPEN) return false;
      ws.send(JSON.stringify(frame));
      return true;
    },
    close() {
      if (ended) return;
      ended = true;
      try {
        ws.close(1000, "client closed");
      } catch {
        // Closing a socket that never opened throws in some runtimes; it is gone either way.
      }
    },
  };
}

/** An SSE session read with fetch, so the token travels in the Authorization header. */
export function openEventStream(fetchFn: typeof fetch, params: SessionParams, events: TransportEvents): Transport {
  const abort = new AbortController();
  let ended = false;
  const end = (code: number, reason: string) => {
    if (ended) return;
    ended = true;
    abort.abort();
    events.closed(code, reason);
  };
  const url = new URL(params.url);
  if (params.lastId) url.searchParams.set("last_id", params.lastId);
  if (params.topics.length) url.searchParams.set("topics", params.topics.join(","));
  void readStream(fetchFn, url.toString(), params.token, abort.signal, (frame) => {
    if (ended) return;
    if (frame.type === "close") end(frame.code, frame.reason);
    else events.frame(frame);
  }).then(
    (result) => end(result.code, result.reason),
    (err: unknown) => end(CLOSE_ABNORMAL, String(err)),
  );
  return {
    twoWay: false,
    send: () => false,
    close() {
      ended = true;
      abort.abort();
    },
  };
}

async function readStream(
  fetchFn: typeof fetch,
  url: string,
  token: string,
  signal: AbortSignal,
  onFrame: (frame: ServerFrame) => void,
): Promise<{ code: number; reason: string }> {
  let resp: Response;
  try {
    resp = await fetchFn(url, {
      headers: { Authorization: `Bearer ${token}`, Accept: "text/event-stream" },
      cache: "no-store",
      signal,
    });
  } catch (err) {
    return { code: CLOSE_ABNORMAL, reason: `network error: ${String(err)}` };
  }
  if (!resp.ok || !resp.body) return { code: statusToClose(resp.status), reason: await errorText(resp) };
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let data: string[] = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return { code: CLOSE_ABNORMAL, reason: "stream ended" };
    buffer += value;
    let newline: number;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline).replace(/\r$/, "");
      buffer = buffer.slice(newline + 1);
      if (line === "") {
        if (data.length) {
          const frame = parseFrame(data.join("\n"));
          if (frame) onFrame(frame);
        }
        data = [];
      } else if (line.startsWith("data:")) {
        data.push(line.slice(5).replace(/^ /, ""));
      }
      // `id:` lines repeat the notification id the frame carries; `:` lines are keep-alives.
    }
  }
}

function statusToClose(status: number): number {
  if (status === 401) return CLOSE_UNAUTHORIZED;
  if (status === 403) return CLOSE_FORBIDDEN;
  if (status === 503) return CLOSE_GOING_AWAY;
  return CLOSE_ABNORMAL;
}

async function errorText(resp: Response): Promise<string> {
  try {
    const body = (await resp.json()) as { error?: string; detail?: string };
    return body.detail ?? body.error ?? `HTTP ${resp.status}`;
  } catch {
    return `HTTP ${resp.status}`;
  }
}
