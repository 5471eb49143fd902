// The fleet's frames (docs/protocol.md sections 4 and 5), as the server sends them.
export const INBOX_READ_TYPE = "inbox.read";
/** Parse one frame; null for anything that is not a JSON object with a string `type`. */
export function parseFrame(text) {
    let value;
    try {
        value = JSON.parse(text);
    }
    catch {
        return null;
    }
    if (typeof value !== "object" || value === null)
        return null;
    const type = value.type;
    return typeof type === "string" ? value : null;
}
