export type GetToken = () => string | Promise<string>;
export interface TokenOptions {
    /** A user JWT. Enough for short sessions; with getToken() it is only the first one used. */
    token?: string;
    /** Called for a token at start, after the server refused one (4401/401) and on token.expiring. */
    getToken?: GetToken;
}
export declare class TokenSource {
    private readonly opts;
    private current;
    constructor(opts: TokenOptions);
    /** Whether a new token can be had when the current one is refused. */
    get renewable(): boolean;
    /** The token to use now; `fresh` asks the callback for a new one. */
    get(fresh?: boolean): Promise<string>;
    /** Replace the token (an app without getToken() calls this on token.expiring). */
    set(token: string): void;
}
