// The fleet's frames (docs/protocol.md sections 4 and 5), as the server sends them.

export interface Notification {
  id: string;
  type: string;
  title?: string | null;
  body?: string | null;
  data?: Record<string, unknown>;
  category?: string | null;
  priority?: "low" | "normal" | "high";
  silent?: boolean;
  transient?: boolean;
  collapse_key?: string | null;
  created_ms: number;
  expires_ms?: number | null;
}

export interface Hello {
  type: "hello";
  user_id: string;
  node: string;
}

export interface NotificationFrame {
  type: "notification";
  notification: Notification;
}

export interface CatchupDone {
  type: "catchup.done";
  count: number;
  gap: boolean;
}

export interface TokenExpiring {
  type: "token.expiring";
  expires_ms: number;
}

export interface AuthOk {
  type: "auth.ok";
  expires_ms: number | null;
}

export interface ErrorFrame {
  type: "error";
  code: string;
  message: string;
  topic?: string;
}

export interface Subscribed {
  type: "subscribed" | "unsubscribed";
  topic: string;
}

export interface DeviceAnswer {
  type: "device.registered" | "device.unregistered";
  token: string;
}

export interface LocationFrame {
  type: "location";
  user_id: string;
  lat: number;
  lon: number;
  heading?: number | null;
  speed_mps?: number | null;
  accuracy_m?: number | null;
  at_ms: number;
}

export interface Tracking {
  type: "tracking";
  user_ids: string[];
}

/** The server ends an SSE stream with this frame (WebSocket: a close frame). */
export interface CloseFrame {
  type: "close";
  code: number;
  reason: string;
}

export interface Pong {
  type: "pong";
}

export type ServerFrame =
  | Hello
  | NotificationFrame
  | CatchupDone
  | TokenExpiring
  | AuthOk
  | ErrorFrame
  | Subscribed
  | DeviceAnswer
  | LocationFrame
  | Tracking
  | CloseFrame
  | Pong;

/** `data` of the transient `inbox.read` notification: another device read these (or all). */
export interface InboxRead {
  ids?: string[];
  all?: boolean;
  read_ms: number;
}

export type Platform = "android" | "ios" | "web";

export const INBOX_READ_TYPE = "inbox.read";

/** Parse one frame; null for anything that is not a JSON object with a string `type`. */
export function parseFrame(text: string): ServerFrame | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null) return null;
  const type = (value as { type?: unknown }).type;
  return typeof type === "string" ? (value as ServerFrame) : null;
}
