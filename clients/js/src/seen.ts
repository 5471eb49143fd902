// Deliveries are at least once: remember the ids already shown and drop repeats.

export class SeenIds {
  private readonly ids = new Set<string>();

  constructor(private readonly capacity: number = 2000) {}

  /** True the first time an id is offered, false for a repeat. The oldest ids are forgotten. */
  firstTime(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.capacity) {
      const oldest = this.ids.values().next().value;
      if (oldest !== undefined) this.ids.delete(oldest);
    }
    return true;
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }
}
