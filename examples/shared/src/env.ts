/**
 * Environment parsing shared by the example services: each value is read and validated once, at
 * start-up, and a wrong one throws the service's own {@link ConfigError} subclass naming the
 * variable, so a misconfigured service never starts (rather than failing on its first request).
 */

/** The environment variables, as `process.env` has them. */
export type Env = Readonly<Record<string, string | undefined>>;

/**
 * A wrong environment variable. `variable` names it; the message says what to change. Each service
 * extends it with its own `name` and `code`.
 */
export abstract class ConfigError extends TypeError {
  abstract readonly code: string;
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable} ${message}`);
  }
}

/** How a service builds its {@link ConfigError}. */
export type ConfigErrorClass = new (variable: string, message: string) => ConfigError;

// 127.0.0.0/8 as the URL parser normalises IPv4 hosts, as bearer-guard itself counts loopback.
const LOOPBACK = /^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])$/;

/** Whether a URL's `hostname` is loopback: `localhost`, `127.0.0.0/8` or `[::1]`. */
export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK.test(hostname);
}

/** Reads and checks variables from `env`, throwing `error` (the service's class) for a wrong one. */
export class EnvReader {
  constructor(
    readonly env: Env,
    private readonly error: ConfigErrorClass,
  ) {}

  /** A {@link ConfigError} of the service's class for `variable`. */
  fail(variable: string, message: string): ConfigError {
    return new this.error(variable, message);
  }

  /** The trimmed value, or `undefined` when unset. Set-but-empty is an error: it is usually a typo. */
  read(variable: string): string | undefined {
    const value = this.env[variable];
    if (value === undefined) return undefined;
    if (value.trim() === '') {
      throw this.fail(variable, 'is set but empty; give it a value or unset it to use the default.');
    }
    return value.trim();
  }

  integer(variable: string, fallback: number, min: number, max: number): number {
    const raw = this.read(variable);
    if (raw === undefined) return fallback;
    const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw this.fail(variable, `must be an integer from ${min} to ${max}; got ${JSON.stringify(raw)}.`);
    }
    return value;
  }

  /** A host name or IP address to listen on; an IPv6 address loses its brackets. */
  host(variable: string, fallback: string): string {
    const raw = this.read(variable) ?? fallback;
    if (!/^(?:[A-Za-z0-9.-]+|\[?[0-9A-Fa-f:.]+\]?)$/.test(raw)) {
      throw this.fail(
        variable,
        `must be a host name or IP address such as "127.0.0.1"; got ${JSON.stringify(raw)}.`,
      );
    }
    return raw.replace(/^\[(.*)\]$/, '$1');
  }

  /** `"true"` or `"false"`; unset is `false`. */
  boolean(variable: string): boolean {
    const raw = this.read(variable);
    if (raw === undefined || raw === 'false') return false;
    if (raw === 'true') return true;
    throw this.fail(variable, `must be "true" or "false"; got ${JSON.stringify(raw)}.`);
  }

  /**
   * An http(s) URL without credentials, query or fragment, kept verbatim: the issuer is an identifier
   * compared exactly with `iss` (RFC 8414 §2). Plain http only on loopback unless `allowHttp`
   * (`ALLOW_INSECURE_HTTP=true`), as bearer-guard requires; checking it here names the variable.
   */
  httpsUrl(variable: string, raw: string, allowHttp: boolean): string {
    const url = URL.parse(raw) ?? undefined;
    const loopback = url !== undefined && isLoopbackHost(url.hostname);
    const secure = url?.protocol === 'https:' || (url?.protocol === 'http:' && (allowHttp || loopback));
    if (url === undefined || !secure) {
      throw this.fail(
        variable,
        `must be an https URL (http only on loopback, or anywhere with ALLOW_INSECURE_HTTP=true); got ${JSON.stringify(raw)}.`,
      );
    }
    this.plainUrl(variable, url);
    return raw;
  }

  /**
   * An absolute http(s) URL without credentials, query or fragment, parsed; `example` shows a good
   * value in the message.
   */
  httpUrl(variable: string, raw: string, example: string): URL {
    const url = URL.parse(raw);
    if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw this.fail(
        variable,
        `must be an absolute http(s) URL such as "${example}"; got ${JSON.stringify(raw)}.`,
      );
    }
    this.plainUrl(variable, url);
    return url;
  }

  /** An RFC 8707 resource indicator / `aud` value: an absolute URI without a fragment, kept verbatim. */
  resourceIndicator(variable: string, fallback: string): string {
    const raw = this.read(variable) ?? fallback;
    if (URL.parse(raw)?.hash !== '' || raw.includes('#')) {
      throw this.fail(
        variable,
        `must be an absolute URI without a fragment, such as "${fallback}"; got ${JSON.stringify(raw)}.`,
      );
    }
    return raw;
  }

  /**
   * A secret, kept verbatim; unset takes `devDefault`. When `NODE_ENV=production` the development
   * default is refused whether it is left unset or set explicitly: it is published in this
   * repository (and a launcher or compose file that fills it in must not get it past this check).
   */
  secret(variable: string, devDefault: string): string {
    const raw = this.env[variable];
    if (this.env['NODE_ENV'] === 'production' && (raw === undefined || raw === devDefault)) {
      throw this.fail(
        variable,
        raw === undefined
          ? 'is required when NODE_ENV=production (the default is the published development-only value).'
          : 'is the published development-only value, refused when NODE_ENV=production; set a secret of your own.',
      );
    }
    if (raw === undefined) return devDefault;
    // Never echo a secret, not even a wrong one.
    if (raw.trim() === '') throw this.fail(variable, 'is set but empty.');
    return raw;
  }

  /**
   * `REDIS_URL`: a `redis://` or `rediss://` URL, kept verbatim; `undefined` when unset. It may
   * hold a password, so a wrong one is never echoed.
   */
  redisUrl(variable = 'REDIS_URL'): string | undefined {
    const raw = this.read(variable);
    if (raw === undefined) return undefined;
    const protocol = URL.parse(raw)?.protocol;
    if (protocol !== 'redis:' && protocol !== 'rediss:') {
      throw this.fail(variable, 'must be a redis:// or rediss:// URL such as redis://127.0.0.1:6379.');
    }
    return raw;
  }

  private plainUrl(variable: string, url: URL): void {
    if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
      throw this.fail(variable, 'must not contain credentials, a query or a fragment.');
    }
  }
}
