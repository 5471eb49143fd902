// One place that hands out the user's JWT: a fixed token, or the app's getToken() callback.
export class TokenSource {
    opts;
    current;
    constructor(opts) {
        this.opts = opts;
        this.current = opts.token;
        if (!opts.token && !opts.getToken)
            throw new TypeError("give a token or a getToken() callback");
    }
    /** Whether a new token can be had when the current one is refused. */
    get renewable() {
        return this.opts.getToken !== undefined;
    }
    /** The token to use now; `fresh` asks the callback for a new one. */
    async get(fresh = false) {
        if ((fresh || this.current === undefined) && this.opts.getToken) {
            const token = await this.opts.getToken();
            if (typeof token !== "string" || !token)
                throw new Error("getToken() returned no token");
            this.current = token;
        }
        if (this.current === undefined)
            throw new Error("no token");
        return this.current;
    }
    /** Replace the token (an app without getToken() calls this on token.expiring). */
    set(token) {
        this.current = token;
    }
}
