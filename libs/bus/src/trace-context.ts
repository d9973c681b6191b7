import { context, propagation, type Context } from '@opentelemetry/api';
import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node';

/** W3C trace context (traceparent/tracestate) carried in NATS message headers. */
export function injectTraceContext(ctx: Context = context.active(), hdrs: MsgHdrs = natsHeaders()): MsgHdrs {
  propagation.inject(ctx, hdrs, {
    set: (carrier, key, value) => carrier.set(key, value),
  });
  return hdrs;
}

export function extractTraceContext(hdrs: MsgHdrs | undefined, base: Context = context.active()): Context {
  if (!hdrs) return base;
  return propagation.extract(base, hdrs, {
    get: (carrier, key) => (carrier.has(key) ? carrier.get(key) : undefined),
    keys: (carrier) => carrier.keys(),
  });
}
