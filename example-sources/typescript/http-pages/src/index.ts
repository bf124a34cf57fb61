// `http-pages-ts`: a Weir source that pages through a JSON HTTP API whose
// responses carry a list of items and the cursor of the next page, and maps
// each item to an entity. The TypeScript twin of example-sources/http-pages
// (same config keys, same behaviour); it reaches only the hosts the operator
// granted (`[sources.http-pages-ts.outbound] hosts = [...]`).
//
// Config (all but `base-url` optional):
//
// | key | default | meaning |
// | --- | --- | --- |
// | `base-url` | required | the first page's URL (may carry a query) |
// | `cursor-param` | `cursor` | the query parameter that carries the next cursor |
// | `page-size-param`, `page-size` | unset | a page size to ask for, when both are set |
// | `items-pointer` | `/items` | JSON pointer to the items array in a response |
// | `next-pointer` | `/next` | JSON pointer to the next cursor (a string or number; missing, `null` or `""`: last page) |
// | `kind` | `Component` | the entities' kind |
// | `name-field` | `/name` | JSON pointer, in an item, to the entity's name (required in each item) |
// | `title-field`, `description-field` | `/title`, `/description` | optional fields |
// | `owner-field`, `type-field`, `lifecycle-field` | `/owner`, `/type`, `/lifecycle` | `spec.owner`, `spec.type`, `spec.lifecycle` |
// | `default-owner`, `default-type`, `default-lifecycle` | unset | used when an item lacks the field |
//
// A secret `token`, when set, is sent as `Authorization: Bearer TOKEN`.
//
// Errors: 429 and 5xx answers, timeouts and dropped connections are transient
// (the engine backs off and retries from the stored cursor); other 4xx
// answers, a refused host, a body that is not the JSON expected and bad
// config are fatal.

import { config, exportSource, Page, secrets, SourceError, type Source } from "weir-guest";
import * as http from "weir-guest/http";
import { Mapping } from "./mapping.js";

/** What a burst read from config at set-up. */
interface Settings {
  baseUrl: string;
  cursorParam: string;
  pageSize: { param: string; size: number } | undefined;
  token: string | undefined;
  mapping: Mapping;
}

/** The cursor: the API's own next cursor, as text. */
type Cursor = string;

const httpPages: Source<Settings, Cursor> = {
  providerName: "http-pages-ts",

  open() {
    const baseUrl = config.require("base-url");
    if (!baseUrl.startsWith("http://") && !baseUrl.startsWith("https://")) {
      throw SourceError.fatal(
        `config \`base-url\`: cannot use ${JSON.stringify(baseUrl)}: expected an http:// or https:// URL`,
      );
    }
    const param = config.get("page-size-param");
    return {
      baseUrl,
      cursorParam: config.get("cursor-param") ?? "cursor",
      pageSize:
        param !== undefined && config.get("page-size") !== undefined
          ? { param, size: config.getOr("page-size", 100) }
          : undefined,
      token: secrets.get("token"),
      mapping: new Mapping((key) => config.get(key)),
    };
  },

  next(settings, cursor) {
    const url = pageUrl(settings, cursor);
    const headers: Record<string, string> = { accept: "application/json" };
    if (settings.token !== undefined) {
      headers.authorization = `Bearer ${settings.token}`;
    }
    const response = http.get(url, { headers });
    checkStatus(url, response.status, response.header("retry-after"));
    const body = response.json();
    let page: ReturnType<Mapping["page"]>;
    try {
      page = settings.mapping.page(body, `url:${settings.baseUrl}`);
    } catch (error) {
      throw SourceError.fatal(`${url}: ${error instanceof Error ? error.message : String(error)}`);
    }
    return page.next === undefined ? Page.last(page.entities) : Page.more(page.entities, page.next);
  },
};

/** The URL of the page after `cursor`. */
export function pageUrl(settings: Settings, cursor: string | undefined): string {
  let url = settings.baseUrl;
  const add = (name: string, value: string): void => {
    url += `${url.includes("?") ? "&" : "?"}${encode(name)}=${encode(value)}`;
  };
  if (settings.pageSize !== undefined) {
    add(settings.pageSize.param, String(settings.pageSize.size));
  }
  if (cursor !== undefined) {
    add(settings.cursorParam, cursor);
  }
  return url;
}

/** 2xx is a page; 429 and 5xx may pass (transient); anything else will not (fatal). */
export function checkStatus(url: string, status: number, retryAfter: string | undefined): void {
  if (status >= 200 && status < 300) {
    return;
  }
  if (status === 429 || (status >= 500 && status < 600)) {
    const wait = retryAfter === undefined ? "" : ` (Retry-After: ${retryAfter})`;
    throw SourceError.transient(`${url}: HTTP ${status}${wait}`);
  }
  throw SourceError.fatal(`${url}: HTTP ${status}`);
}

/** Percent-encode a query component (RFC 3986 unreserved characters stay). */
function encode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export const source = exportSource(httpPages);
