// The module's pure parts, without processes: the settings and their errors,
// the back-off's bounds, the location annotations and key, and Weir's errors.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigReader } from '@backstage/config';
import type { JsonObject } from '@backstage/types';
import { Backoff } from '../src/backoff';
import { readWeirProviderConfigs } from '../src/config';
import {
  OFFSET_BEYOND_HEAD,
  WeirOffsetAheadError,
  WeirOffsetGoneError,
  errorFromBody,
} from '../src/client';
import { toDeferredEntity, weirLocation, weirSourceLocation } from '../src/entities';

function configs(weir: JsonObject) {
  return readWeirProviderConfigs(new ConfigReader({ catalog: { providers: { weir } } }));
}

test('settings: defaults, and each wrong value named by its key', () => {
  assert.deepEqual(configs({ main: { baseUrl: 'http://127.0.0.1:7007/', kinds: ['Component'] } }), [
    {
      id: 'main',
      baseUrl: 'http://127.0.0.1:7007',
      token: undefined,
      kinds: ['component'],
      waitSeconds: 20,
      pageSize: 500,
      leaseSeconds: 30,
      backoff: { initialSeconds: 1, maxSeconds: 60 },
    },
  ]);
  assert.deepEqual(readWeirProviderConfigs(new ConfigReader({})), []);
  assert.throws(() => configs({ main: { baseUrl: 'localhost:7007' } }), /catalog\.providers\.weir\.main\.baseUrl: "localhost:7007" must be an http or https URL/);
  assert.throws(() => configs({ main: { baseUrl: 'not a url' } }), /catalog\.providers\.weir\.main\.baseUrl: "not a url" is not a URL/);
  assert.throws(() => configs({ main: { baseUrl: 'http://x', pageSize: 6000 } }), /catalog\.providers\.weir\.main\.pageSize: 6000 is out of range: it must be from 1 to 5000/);
  assert.throws(() => configs({ main: { baseUrl: 'http://x', leaseSeconds: 1 } }), /catalog\.providers\.weir\.main\.leaseSeconds: 1 is out of range: it must be from 3 to 3600/);
  assert.throws(
    () => configs({ main: { baseUrl: 'http://x', backoff: { initialSeconds: 10, maxSeconds: 5 } } }),
    /catalog\.providers\.weir\.main\.backoff\.maxSeconds: 5 is out of range: it must be from 10 to 86400/,
  );
});

test('back-off: doubling delays between half and all of the bound, capped, reset by success', () => {
  const lowest = new Backoff(1000, 8000, () => 0);
  const highest = new Backoff(1000, 8000, () => 0.999999);
  const bounds = [1000, 2000, 4000, 8000, 8000];
  for (const bound of bounds) {
    assert.equal(lowest.fail(0), bound / 2);
    assert.ok(Math.abs(highest.fail(0) - bound) < 1);
  }
  assert.equal(lowest.remaining(1000), 3000);
  lowest.reset();
  assert.equal(lowest.remaining(0), 0);
  assert.equal(lowest.fail(0), 500);
});

test('entities: the source’s locations are kept, missing ones name the Weir source', () => {
  const baseUrl = 'http://127.0.0.1:7007';
  const key = weirLocation(baseUrl);
  assert.equal(key, 'weir:http://127.0.0.1:7007');
  const github = weirSourceLocation(baseUrl, 'github');
  assert.equal(github, 'weir:http://127.0.0.1:7007/api/catalog/incremental/providers/github');
  const bare = { apiVersion: 'backstage.io/v1alpha1', kind: 'Component', metadata: { name: 'a' } };
  assert.deepEqual(toDeferredEntity(bare, { baseUrl, source: 'github' }), {
    entity: {
      ...bare,
      metadata: {
        name: 'a',
        annotations: {
          'backstage.io/managed-by-location': github,
          'backstage.io/managed-by-origin-location': github,
        },
      },
    },
    // One key per Weir catalog, whichever source won the entity.
    locationKey: key,
  });
  // A Weir that does not say which source it was: the catalog's location.
  assert.equal(toDeferredEntity(bare, { baseUrl }).entity.metadata.annotations?.['backstage.io/managed-by-location'], key);
  const located = {
    ...bare,
    metadata: {
      name: 'b',
      annotations: {
        'backstage.io/managed-by-location': 'url:https://example.com/b',
        'backstage.io/managed-by-origin-location': 'url:https://example.com/b',
      },
    },
  };
  assert.deepEqual(toDeferredEntity(located, { baseUrl, source: 'github' }), { entity: located, locationKey: key });
  const halfLocated = { ...bare, metadata: { name: 'c', annotations: { 'backstage.io/managed-by-location': 'url:https://example.com/c' } } };
  assert.deepEqual(toDeferredEntity(halfLocated, { baseUrl, source: 'github' }).entity.metadata.annotations, {
    'backstage.io/managed-by-location': 'url:https://example.com/c',
    'backstage.io/managed-by-origin-location': github,
  });
  assert.equal(weirSourceLocation(baseUrl, 'a b'), 'weir:http://127.0.0.1:7007/api/catalog/incremental/providers/a%20b');
});

test('errors: a 410 carries purgedThrough, and only offset_beyond_head is an offset ahead of the log', () => {
  const gone = errorFromBody('GET /api/events?offset=3', 410, {
    error: { name: 'GoneError', message: 'offset 3 is older than the event log keeps', code: 'gone' },
    purgedThrough: 9,
    headOffset: 12,
  });
  assert.ok(gone instanceof WeirOffsetGoneError);
  assert.equal(gone.purgedThrough, 9);
  const ahead = errorFromBody('GET /api/events?offset=99', 400, {
    error: { name: 'InputError', message: 'offset 99 is beyond the log’s head (12)', code: OFFSET_BEYOND_HEAD },
    headOffset: 12,
  });
  assert.ok(ahead instanceof WeirOffsetAheadError);
  assert.equal(ahead.headOffset, 12);
  // Another 400, even one that names the head, is no reason to re-bootstrap.
  const other = errorFromBody('GET /api/events?offset=x', 400, {
    error: { name: 'InputError', message: 'offset: not an integer', code: 'bad_parameter' },
    headOffset: 12,
  });
  assert.ok(!(other instanceof WeirOffsetAheadError));
  assert.equal(other.status, 400);
});
