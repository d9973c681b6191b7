import type { Counter } from 'prom-client';
import { StanzaError, type ForwardedRequest } from '@dbroker/protocol';
import type { LinkLogger } from './xmpp-link';

/**
 * Requests per user per second. The ingress is the one holder of the component link, so it sees every
 * forwarded IQ of every user: a token bucket per requester bare JID here is exact and costs a map lookup.
 * The buckets live in a map bounded by `maxKeys`, least recently used dropped first (an evicted requester
 * comes back with a full bucket, so the bound never refuses anyone wrongly; it only forgets).
 */

export interface RateLimiterOptions {
  /** Tokens added per second (the sustained rate). */
  ratePerSecond: number;
  /** Bucket size (the burst a requester may send at once). */
  burst: number;
  /** Most requesters remembered. */
  maxKeys: number;
  /** Milliseconds, monotonic. */
  now?: (() => number) | undefined;
}

export interface RateDecision {
  allowed: boolean;
  /** Refusals in a row for this key, this one included (0 when allowed). */
  streak: number;
}

export interface RateLimiter {
  take(key: string): RateDecision;
  /** Requesters remembered now. */
  size(): number;
}

interface Bucket {
  tokens: number;
  at: number;
  streak: number;
}

export function createRateLimiter(opts: RateLimiterOptions): RateLimiter {
  const { ratePerSecond, burst, maxKeys } = opts;
  if (!(ratePerSecond > 0) || !(burst >= 1) || !Number.isInteger(maxKeys) || maxKeys < 1) throw new RangeError('rate limiter: ratePerSecond > 0, burst >= 1, maxKeys >= 1');
  const now = opts.now ?? (() => performance.now());
  // Map iteration order is insertion order: re-inserting on use keeps the least recently used first
  const buckets = new Map<string, Bucket>();
  return {
    take(key) {
      const t = now();
      let b = buckets.get(key);
      if (b) {
        buckets.delete(key);
        b.tokens = Math.min(burst, b.tokens + ((t - b.at) * ratePerSecond) / 1000);
        b.at = t;
      } else {
        b = { tokens: burst, at: t, streak: 0 };
        if (buckets.size >= maxKeys) {
          const oldest = buckets.keys().next();
          if (!oldest.done) buckets.delete(oldest.value);
        }
      }
      buckets.set(key, b);
      if (b.tokens >= 1) {
        b.tokens -= 1;
        b.streak = 0;
        return { allowed: true, streak: 0 };
      }
      b.streak++;
      return { allowed: false, streak: b.streak };
    },
    size: () => buckets.size,
  };
}

export interface RequestRateGateDeps {
  limiter: RateLimiter;
  ratePerSecond: number;
  logger: LinkLogger;
  /** Refused requests (`dbroker_ingress_rate_limited_total`). */
  refused: Counter;
}

export const RATE_LIMITED_REASON = 'rate-limited';

/**
 * Charges a forwarded IQ to its requester. Over the rate it returns the error to answer with:
 * `resource-constraint` (type `wait`, RFC 6120 §8.3.3.18: retrying later succeeds); the request handler
 * answers and audits it as `request.rejected` with reason `rate-limited`, like any other rejection.
 */
export function createRequestRateGate(deps: RequestRateGateDeps) {
  return {
    check(req: ForwardedRequest): StanzaError | null {
      const decision = deps.limiter.take(req.requesterBare);
      if (decision.allowed) return null;
      deps.refused.inc();
      // one line per run of refusals, not one per refused request
      if (decision.streak === 1) deps.logger.warn({ requester: req.requesterBare, ratePerSecond: deps.ratePerSecond }, 'requester over the rate limit: refusing until its bucket refills');
      return new StanzaError('resource-constraint', { type: 'wait', text: `rate limit: more than ${deps.ratePerSecond} requests per second` });
    },
  };
}

export type RequestRateGate = ReturnType<typeof createRequestRateGate>;
