// @notify-fleet/client: the notification fleet from a browser or Node, without dependencies.
export { NotifyClient } from "./client.js";
export { InboxApi, DevicesApi, ApiError } from "./http.js";
export { planReconnect, reconnectHintMs, jittered, DEFAULT_BACKOFF, CLOSE_GOING_AWAY, CLOSE_UNAUTHORIZED, CLOSE_TOO_SLOW, CLOSE_RATE_LIMITED, } from "./backoff.js";
export { SeenIds } from "./seen.js";
export { INBOX_READ_TYPE } from "./frames.js";
