// Deliveries are at least once: remember the ids already shown and drop repeats.
export class SeenIds {
    capacity;
    ids = new Set();
    constructor(capacity = 2000) {
        this.capacity = capacity;
    }
    /** True the first time an id is offered, false for a repeat. The oldest ids are forgotten. */
    firstTime(id) {
        if (this.ids.has(id))
            return false;
        this.ids.add(id);
        if (this.ids.size > this.capacity) {
            const oldest = this.ids.values().next().value;
            if (oldest !== undefined)
                this.ids.delete(oldest);
        }
        return true;
    }
    has(id) {
        return this.ids.has(id);
    }
}
