export declare class SeenIds {
    private readonly capacity;
    private readonly ids;
    constructor(capacity?: number);
    /** True the first time an id is offered, false for a repeat. The oldest ids are forgotten. */
    firstTime(id: string): boolean;
    has(id: string): boolean;
}
