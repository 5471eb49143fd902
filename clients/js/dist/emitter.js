// Typed listeners: `on("notification", (n) => …)` knows n is a Notification.
export class Emitter {
    listeners = new Map();
    /** Listen to one event; returns the function that stops listening. */
    on(event, listener) {
        let set = this.listeners.get(event);
        if (!set)
            this.listeners.set(event, (set = new Set()));
        set.add(listener);
        return () => this.off(event, listener);
    }
    off(event, listener) {
        this.listeners.get(event)?.delete(listener);
    }
    emit(event, value) {
        for (const listener of [...(this.listeners.get(event) ?? [])]) {
            try {
                listener(value);
            }
            catch (err) {
                // One failing listener must not stop the session or the other listeners.
                console.error(`listener of ${String(event)} failed`, err);
            }
        }
    }
}
