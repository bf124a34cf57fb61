// A small client for Weir's read API: the entity listing (`GET /api/entities`,
// cursor pages) and the event stream (`GET /api/events`, long polling). Errors
// name the request and Weir's own message; a 410 and an offset beyond the
// log's head (400 with code `offset_beyond_head`) get their own classes, since
// both call for a fresh bootstrap.

import type { Entity } from '@backstage/catalog-model';

export interface WeirEntityItem {
  entityRef: string;
  eventOffset: number;
  entity: Entity;
  /** The Weir source whose contribution won the entity's merge. */
  source?: string;
  /** That source's location key for the entity, when it set one. */
  locationKey?: string;
}

export interface WeirEntityPage {
  items: WeirEntityItem[];
  pageInfo: { nextCursor?: string };
  /** The event log's head before the listing's first page. */
  lastEventOffset: number;
}

export type WeirEvent =
  | {
      offset: number;
      type: 'added' | 'updated';
      entityRef: string;
      entity: Entity;
      /** The Weir source whose contribution won the entity's merge. */
      source?: string;
      /** That source's location key for the entity, when it set one. */
      locationKey?: string;
    }
  | { offset: number; type: 'removed'; entityRef: string };

export interface WeirEventPage {
  events: WeirEvent[];
  /** Pass as the next `offset`: everything up to it has been delivered. */
  lastEventOffset: number;
  headOffset: number;
}

/** A request failed: Weir answered with an error, or did not answer. */
export class WeirRequestError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'WeirRequestError';
  }
}

/** 410 Gone: removals after our offset were purged; re-bootstrap. */
export class WeirOffsetGoneError extends WeirRequestError {
  constructor(
    message: string,
    /** The highest offset of a purged removal: a consumer below it may have missed one. */
    readonly purgedThrough?: number,
  ) {
    super(message, 410);
    this.name = 'WeirOffsetGoneError';
  }
}

/** Our offset is beyond the log's head: Weir's database was replaced; re-bootstrap. */
export class WeirOffsetAheadError extends WeirRequestError {
  constructor(
    message: string,
    readonly headOffset: number,
  ) {
    super(message, 400);
    this.name = 'WeirOffsetAheadError';
  }
}

export interface WeirClientOptions {
  baseUrl: string;
  token?: string;
  /** Lower-case kinds to ask for; empty: every kind. */
  kinds: string[];
}

/** How long Weir may take beyond a long poll's wait before we give up. */
const REQUEST_GRACE_MS = 30_000;

export class WeirClient {
  constructor(private readonly options: WeirClientOptions) {}

  /** Every page of the listing, in order; all carry the first page's `lastEventOffset`. */
  async *listEntities(pageSize: number, signal: AbortSignal): AsyncGenerator<WeirEntityPage> {
    let cursor: string | undefined;
    do {
      const params: Record<string, string> = { limit: String(pageSize) };
      if (cursor) {
        params.cursor = cursor;
      }
      const page = (await this.get('/api/entities', params, 0, signal)) as WeirEntityPage;
      yield page;
      cursor = page.pageInfo.nextCursor;
    } while (cursor);
  }

  /** The events after `offset`, waiting up to `waitSeconds` when there are none yet. */
  async readEvents(
    offset: number,
    limit: number,
    waitSeconds: number,
    signal: AbortSignal,
  ): Promise<WeirEventPage> {
    const params = {
      offset: String(offset),
      limit: String(limit),
      wait: String(waitSeconds),
    };
    return (await this.get('/api/events', params, waitSeconds, signal)) as WeirEventPage;
  }

  private async get(
    path: string,
    params: Record<string, string>,
    waitSeconds: number,
    signal: AbortSignal,
  ): Promise<unknown> {
    const url = new URL(`${this.options.baseUrl}${path}`);
    for (const [name, value] of Object.entries(params)) {
      url.searchParams.set(name, value);
    }
    if (this.options.kinds.length > 0) {
      url.searchParams.set('kind', this.options.kinds.join(','));
    }
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.options.token) {
      headers.authorization = `Bearer ${this.options.token}`;
    }
    const timeout = AbortSignal.timeout(waitSeconds * 1000 + REQUEST_GRACE_MS);
    const request = `GET ${url.pathname}${url.search}`;
    let response: Response;
    try {
      response = await fetch(url, { headers, signal: AbortSignal.any([signal, timeout]) });
    } catch (error) {
      throw new WeirRequestError(`${request} to ${this.options.baseUrl} failed: ${describe(error)}`);
    }
    const body = await readJson(response, request);
    if (!response.ok) {
      throw errorFromBody(request, response.status, body);
    }
    return body;
  }
}

async function readJson(response: Response, request: string): Promise<unknown> {
  const text = await response.text().catch(error => {
    throw new WeirRequestError(`${request}: reading the answer failed: ${describe(error)}`);
  });
  try {
    return JSON.parse(text);
  } catch {
    throw new WeirRequestError(
      `${request}: HTTP ${response.status} with a body that is not JSON: ${text.slice(0, 200)}`,
      response.status,
    );
  }
}

/** Weir's code for an offset the catalog never issued (400). */
export const OFFSET_BEYOND_HEAD = 'offset_beyond_head';

interface WeirErrorBody {
  error?: { message?: string; code?: string };
  purgedThrough?: number;
  headOffset?: number;
}

/** Weir's errors are `{error: {name, message, code}, ...}`, with extra fields beside `error`. */
export function errorFromBody(request: string, status: number, body: unknown): WeirRequestError {
  const fields = (body ?? {}) as WeirErrorBody;
  const message = `${request}: HTTP ${status}: ${fields.error?.message ?? JSON.stringify(body)}`;
  if (status === 410) {
    return new WeirOffsetGoneError(message, fields.purgedThrough);
  }
  if (status === 400 && fields.error?.code === OFFSET_BEYOND_HEAD && typeof fields.headOffset === 'number') {
    return new WeirOffsetAheadError(message, fields.headOffset);
  }
  return new WeirRequestError(message, status);
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
  }
  return String(error);
}
