export declare class Emitter<Events extends object> {
    private readonly listeners;
    /** Listen to one event; returns the function that stops listening. */
    on<K extends keyof Events>(event: K, listener: (value: Events[K]) => void): () => void;
    off<K extends keyof Events>(event: K, listener: (value: Events[K]) => void): void;
    protected emit<K extends keyof Events>(event: K, value: Events[K]): void;
}
