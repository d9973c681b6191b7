import type { PubsubEffect, PubsubEngine } from '@dbroker/pubsub';

/**
 * The engine as the translator sees it for one request, recording the effects of every successful call
 * (each outcome that changes something carries `effects`), so the notifier learns what the request did
 * without the translator knowing about notifications.
 */
export function capturingEffects(engine: PubsubEngine): { engine: PubsubEngine; effects: PubsubEffect[] } {
  const effects: PubsubEffect[] = [];
  const wrapped = new Proxy(engine, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const out = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (!(out instanceof Promise)) return out;
        return out.then((r: unknown) => {
          const res = r as { ok?: boolean; value?: { effects?: unknown } } | undefined;
          if (res?.ok && Array.isArray(res.value?.effects)) effects.push(...(res.value.effects as PubsubEffect[]));
          return r;
        });
      };
    },
  });
  return { engine: wrapped, effects };
}
