// The app-config.yaml keys this module reads, as Backstage's config schema.

export interface Config {
  catalog?: {
    providers?: {
      /**
       * Weir catalogs to follow, one entity provider each, keyed by an id of
       * your choosing (the provider is named `weir-provider:<id>`).
       */
      weir?: {
        [id: string]: {
          /** Weir's HTTP API, for example `http://127.0.0.1:7007`. */
          baseUrl: string;
          /**
           * Weir's read token (or admin token), sent as a bearer token; needed
           * when Weir's `readAccess` is `"token"`.
           * @visibility secret
           */
          token?: string;
          /** Follow only these kinds (case-insensitive); missing: every kind. */
          kinds?: string[];
          /** Long-poll wait of one `GET /api/events` request, in seconds (default 20). */
          waitSeconds?: number;
          /** Entities per listing page and events per answer (default 500, at most 5000). */
          pageSize?: number;
          /**
           * The lease on the stream, in seconds (default 30): one replica at a
           * time follows Weir, renewing its lease every third of this; a
           * replica that dies hands over once it has lapsed.
           */
          leaseSeconds?: number;
          /** Back-off when Weir fails or cannot be reached. */
          backoff?: {
            /** The first retry's delay, in seconds (default 1). */
            initialSeconds?: number;
            /** The longest delay, in seconds (default 60). */
            maxSeconds?: number;
          };
        };
      };
    };
  };
}
