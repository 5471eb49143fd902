import type { Platform } from "./frames.js";
import { type TokenOptions } from "./token.js";
export interface ApiOptions extends TokenOptions {
    /** Base URL of the service, e.g. `https://inbox.example.com` (history) or the push-worker's. */
    baseUrl: string;
    fetch?: typeof fetch;
}
/** A refused call: `status` and the server's reason (`{"error": …, "detail": …}`). */
export declare class ApiError extends Error {
    readonly status: number;
    readonly reason: string;
    constructor(status: number, reason: string);
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
export declare class InboxApi {
    private readonly api;
    constructor(opts: ApiOptions);
    list(opts?: ListOptions): Promise<InboxPage>;
    unreadCount(): Promise<number>;
    /** Mark one read; false if it already was. Other devices get `read` events. */
    markRead(id: string): Promise<boolean>;
    readAll(): Promise<{
        marked: number;
        read_ms: number;
    }>;
}
export interface Device {
    token: string;
    platform: Platform;
    last_seen_ms: number;
}
/** The user's push devices on the push-worker (docs/protocol.md section 6). */
export declare class DevicesApi {
    private readonly api;
    constructor(opts: ApiOptions);
    list(): Promise<Device[]>;
    /** Register (or refresh) a push token; call on every app start. */
    register(token: string, platform: Platform): Promise<Device>;
    /** Remove a push token (sign-out); false if the user had no such device. */
    remove(token: string): Promise<boolean>;
}
