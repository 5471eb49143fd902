// The HTTP APIs a client app calls with the user's JWT: the inbox (history) and devices (push-worker).

import type { Platform } from "./frames.js";
import { TokenSource, type TokenOptions } from "./token.js";

export interface ApiOptions extends TokenOptions {
  /** Base URL of the service, e.g. `https://inbox.example.com` (history) or the push-worker's. */
  baseUrl: string;
  fetch?: typeof fetch;
}

/** A refused call: `status` and the server's reason (`{"error": …, "detail": …}`). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
  ) {
    super(`HTTP ${status}: ${reason}`);
    this.name = "ApiError";
  }
}

class Api {
  private readonly tokens: TokenSource;
  private readonly fetchFn: typeof fetch;
  private readonly base: string;

  constructor(opts: ApiOptions) {
    this.tokens = new TokenSource(opts);
    this.fetchFn = opts.fetch ?? globalThis.fetch.bind(globalThis);
    this.base = opts.baseUrl.replace(/\/+$/, "");
  }

  /** One call; a 401 asks getToken() for a fresh token and tries once more. */
  async call<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    let resp = await this.send(method, path, body, false);
    if (resp.status === 401 && this.tokens.renewable) resp = await this.send(method, path, body, true);
    if (resp.status === 204) return { status: 204, body: undefined as T };
    const parsed = (await resp.json().catch(() => ({}))) as T & { error?: string; detail?: string };
    if (!resp.ok) throw new ApiError(resp.status, parsed.detail ?? parsed.error ?? resp.statusText);
    return { status: resp.status, body: parsed };
  }

  private async send(method: string, path: string, body: unknown, fresh: boolean): Promise<Response> {
    const headers: Record<string, string> = { Authorization: `Bearer ${await this.tokens.get(fresh)}` };
    const init: RequestInit = { method, headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return this.fetchFn(this.base + path, init);
  }
}

export interface InboxItem {
  id: string;
  type: string;
  category: string | null;
  title: string | null;
  body: string | null;
  data: Record<string, unknown>;
  priority: "low" | "normal" | "high";
  created_ms: number;
  expires_ms: number | null;
  /** The broadcast room (`all`, `role:driver`, `topic:news`), null for the user's own. */
  room: string | null;
  read_ms: number | null;
}

export interface InboxPage {
  items: InboxItem[];
  /** Pass back as `cursor` for the next (older) page; null on the last page. */
  next_cursor: string | null;
}

export interface ListOptions {
  limit?: number;
  cursor?: string | null;
  unread?: boolean;
  type?: string;
  topics?: string[];
}

/** The user's inbox (docs/protocol.md section 7), newest first. */
export class InboxApi {
  private readonly api: Api;

  constructor(opts: ApiOptions) {
    this.api = new Api(opts);
  }

  async list(opts: ListOptions = {}): Promise<InboxPage> {
    const query = new URLSearchParams();
    if (opts.limit) query.set("limit", String(opts.limit));
    if (opts.cursor) query.set("cursor", opts.cursor);
    if (opts.unread) query.set("unread", "true");
    if (opts.type) query.set("type", opts.type);
    for (const topic of opts.topics ?? []) query.append("topic", topic);
    const qs = query.toString();
    return (await this.api.call<InboxPage>("GET", `/v1/inbox${qs ? `?${qs}` : ""}`)).body;
  }

  async unreadCount(): Promise<number> {
    return (await this.api.call<{ unread: number }>("GET", "/v1/inbox/unread-count")).body.unread;
  }

  /** Mark one read; false if it already was. Other devices get `read` events. */
  async markRead(id: string): Promise<boolean> {
    const path = `/v1/inbox/${encodeURIComponent(id)}/read`;
    return (await this.api.call<{ changed: boolean }>("POST", path)).body.changed;
  }

  async readAll(): Promise<{ marked: number; read_ms: number }> {
    return (await this.api.call<{ marked: number; read_ms: number }>("POST", "/v1/inbox/read-all")).body;
  }
}

export interface Device {
  token: string;
  platform: Platform;
  last_seen_ms: number;
}

/** The user's push devices on the push-worker (docs/protocol.md section 6). */
export class DevicesApi {
  private readonly api: Api;

  constructor(opts: ApiOptions) {
    this.api = new Api(opts);
  }

  async list(): Promise<Device[]> {
    return (await this.api.call<{ devices: Device[] }>("GET", "/v1/devices")).body.devices;
  }

  /** Register (or refresh) a push token; call on every app start. */
  async register(token: string, platform: Platform): Promise<Device> {
    return (await this.api.call<Device>("POST", "/v1/devices", { token, platform })).body;
  }

  /** Remove a push token (sign-out); false if the user had no such device. */
  async remove(token: string): Promise<boolean> {
    try {
      await this.api.call("DELETE", `/v1/devices/${encodeURIComponent(token)}`);
      return true;
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return false;
      throw err;
    }
  }
}
