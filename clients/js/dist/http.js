// The HTTP APIs a client app calls with the user's JWT: the inbox (history) and devices (push-worker).
import { TokenSource } from "./token.js";
/** A refused call: `status` and the server's reason (`{"error": …, "detail": …}`). */
export class ApiError extends Error {
    status;
    reason;
    constructor(status, reason) {
        super(`HTTP ${status}: ${reason}`);
        this.status = status;
        this.reason = reason;
        this.name = "ApiError";
    }
}
class Api {
    tokens;
    fetchFn;
    base;
    constructor(opts) {
        this.tokens = new TokenSource(opts);
        this.fetchFn = opts.fetch ?? globalThis.fetch.bind(globalThis);
        this.base = opts.baseUrl.replace(/\/+$/, "");
    }
    /** One call; a 401 asks getToken() for a fresh token and tries once more. */
    async call(method, path, body) {
        let resp = await this.send(method, path, body, false);
        if (resp.status === 401 && this.tokens.renewable)
            resp = await this.send(method, path, body, true);
        if (resp.status === 204)
            return { status: 204, body: undefined };
        const parsed = (await resp.json().catch(() => ({})));
        if (!resp.ok)
            throw new ApiError(resp.status, parsed.detail ?? parsed.error ?? resp.statusText);
        return { status: resp.status, body: parsed };
    }
    async send(method, path, body, fresh) {
        const headers = { Authorization: `Bearer ${await this.tokens.get(fresh)}` };
        const init = { method, headers, cache: "no-store" };
        if (body !== undefined) {
            headers["Content-Type"] = "application/json";
            init.body = JSON.stringify(body);
        }
        return this.fetchFn(this.base + path, init);
    }
}
/** The user's inbox (docs/protocol.md section 7), newest first. */
export class InboxApi {
    api;
    constructor(opts) {
        this.api = new Api(opts);
    }
    async list(opts = {}) {
        const query = new URLSearchParams();
        if (opts.limit)
            query.set("limit", String(opts.limit));
        if (opts.cursor)
            query.set("cursor", opts.cursor);
        if (opts.unread)
            query.set("unread", "true");
        if (opts.type)
            query.set("type", opts.type);
        for (const topic of opts.topics ?? [])
            query.append("topic", topic);
        const qs = query.toString();
        return (await this.api.call("GET", `/v1/inbox${qs ? `?${qs}` : ""}`)).body;
    }
    async unreadCount() {
        return (await this.api.call("GET", "/v1/inbox/unread-count")).body.unread;
    }
    /** Mark one read; false if it already was. Other devices get `read` events. */
    async markRead(id) {
        const path = `/v1/inbox/${encodeURIComponent(id)}/read`;
        return (await this.api.call("POST", path)).body.changed;
    }
    async readAll() {
        return (await this.api.call("POST", "/v1/inbox/read-all")).body;
    }
}
/** The user's push devices on the push-worker (docs/protocol.md section 6). */
export class DevicesApi {
    api;
    constructor(opts) {
        this.api = new Api(opts);
    }
    async list() {
        return (await this.api.call("GET", "/v1/devices")).body.devices;
    }
    /** Register (or refresh) a push token; call on every app start. */
    async register(token, platform) {
        return (await this.api.call("POST", "/v1/devices", { token, platform })).body;
    }
    /** Remove a push token (sign-out); false if the user had no such device. */
    async remove(token) {
        try {
            await this.api.call("DELETE", `/v1/devices/${encodeURIComponent(token)}`);
            return true;
        }
        catch (err) {
            if (err instanceof ApiError && err.status === 404)
                return false;
            throw err;
        }
    }
}
