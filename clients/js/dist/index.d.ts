export { NotifyClient, type ClientEvents, type ClientOptions, type ConnectionState } from "./client.js";
export { InboxApi, DevicesApi, ApiError, type ApiOptions, type Device, type InboxItem, type InboxPage, type ListOptions } from "./http.js";
export { planReconnect, reconnectHintMs, jittered, DEFAULT_BACKOFF, CLOSE_GOING_AWAY, CLOSE_UNAUTHORIZED, CLOSE_TOO_SLOW, CLOSE_RATE_LIMITED, type BackoffOptions, type ReconnectPlan, } from "./backoff.js";
export { SeenIds } from "./seen.js";
export type { GetToken, TokenOptions } from "./token.js";
export type { WebSocketConstructor, WebSocketLike } from "./transport.js";
export type * from "./frames.js";
export { INBOX_READ_TYPE } from "./frames.js";
