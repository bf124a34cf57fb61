// Reads `catalog.providers.weir.<id>` from app-config into checked settings,
// failing at start-up with the key and the reason when a value is wrong.

import type { Config } from '@backstage/config';

/** One Weir catalog to follow, as configured. */
export interface WeirProviderConfig {
  /** The key under `catalog.providers.weir`. */
  id: string;
  /** Weir's HTTP API, without a trailing slash. */
  baseUrl: string;
  token?: string;
  /** Lower-case kinds to follow; empty: every kind. */
  kinds: string[];
  waitSeconds: number;
  pageSize: number;
  leaseSeconds: number;
  backoff: { initialSeconds: number; maxSeconds: number };
}

const ROOT = 'catalog.providers.weir';
/** The most Weir's `GET /api/entities` gives in one page. */
const MAX_PAGE_SIZE = 5000;

export const DEFAULTS = {
  waitSeconds: 20,
  pageSize: 500,
  leaseSeconds: 30,
  backoff: { initialSeconds: 1, maxSeconds: 60 },
};

/** Every configured Weir catalog; none when the key is absent. */
export function readWeirProviderConfigs(root: Config): WeirProviderConfig[] {
  const providers = root.getOptionalConfig(ROOT);
  if (!providers) {
    return [];
  }
  return providers.keys().map(id => readOne(id, providers.getConfig(id)));
}

function readOne(id: string, config: Config): WeirProviderConfig {
  const key = (name: string) => `${ROOT}.${id}.${name}`;
  const baseUrl = readBaseUrl(config.getString('baseUrl'), key('baseUrl'));
  const waitSeconds = readNumber(config, 'waitSeconds', key, DEFAULTS.waitSeconds, 0, 600);
  const leaseSeconds = readNumber(config, 'leaseSeconds', key, DEFAULTS.leaseSeconds, 3, 3600);
  const backoff = config.getOptionalConfig('backoff');
  const backoffKey = (name: string) => key(`backoff.${name}`);
  const initialSeconds = backoff
    ? readNumber(backoff, 'initialSeconds', backoffKey, DEFAULTS.backoff.initialSeconds, 0.01, 3600)
    : DEFAULTS.backoff.initialSeconds;
  const maxSeconds = backoff
    ? readNumber(backoff, 'maxSeconds', backoffKey, DEFAULTS.backoff.maxSeconds, initialSeconds, 86400)
    : Math.max(DEFAULTS.backoff.maxSeconds, initialSeconds);
  return {
    id,
    baseUrl,
    token: config.getOptionalString('token') || undefined,
    kinds: (config.getOptionalStringArray('kinds') ?? []).map(kind => kind.toLowerCase()),
    waitSeconds,
    pageSize: readNumber(config, 'pageSize', key, DEFAULTS.pageSize, 1, MAX_PAGE_SIZE),
    leaseSeconds,
    backoff: { initialSeconds, maxSeconds },
  };
}

function readBaseUrl(value: string, key: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`${key}: "${value}" is not a URL (expected e.g. http://127.0.0.1:7007)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`${key}: "${value}" must be an http or https URL`);
  }
  return value.replace(/\/+$/, '');
}

function readNumber(
  config: Config,
  name: string,
  key: (name: string) => string,
  fallback: number,
  min: number,
  max: number,
): number {
  const value = config.getOptionalNumber(name) ?? fallback;
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new Error(`${key(name)}: ${value} is out of range: it must be from ${min} to ${max}`);
  }
  return value;
}
