// One place that hands out the user's JWT: a fixed token, or the app's getToken() callback.

export type GetToken = () => string | Promise<string>;

export interface TokenOptions {
  /** A user JWT. Enough for short sessions; with getToken() it is only the first one used. */
  token?: string;
  /** Called for a token at start, after the server refused one (4401/401) and on token.expiring. */
  getToken?: GetToken;
}

export class TokenSource {
  private current: string | undefined;

  constructor(private readonly opts: TokenOptions) {
    this.current = opts.token;
    if (!opts.token && !opts.getToken) throw new TypeError("give a token or a getToken() callback");
  }

  /** Whether a new token can be had when the current one is refused. */
  get renewable(): boolean {
    return this.opts.getToken !== undefined;
  }

  /** The token to use now; `fresh` asks the callback for a new one. */
  async get(fresh = false): Promise<string> {
    if ((fresh || this.current === undefined) && this.opts.getToken) {
      const token = await this.opts.getToken();
      if (typeof token !== "string" || !token) throw new Error("getToken() returned no token");
      this.current = token;
    }
    if (this.current === undefined) throw new Error("no token");
    return this.current;
  }

  /** Replace the token (an app without getToken() calls this on token.expiring). */
  set(token: string): void {
    this.current = token;
  }
}
