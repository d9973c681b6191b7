import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prefix of the default process metrics; services name their own metrics `dbroker_<service>_…`. */
export const DEFAULT_METRICS_PREFIX = 'dbroker_';

export interface MetricsOptions {
  /** Default label `service` when this call creates the registry. */
  service: string;
  /**
   * A registry shared by several services (all-in-one mode). Its default labels are left alone, and
   * default process metrics are registered on it only once.
   */
  registry?: Registry;
}

export interface Metrics {
  readonly registry: Registry;
  /** Returns the counter registered under `name`, registering it on first use. */
  counter<L extends string = never>(name: string, help: string, labelNames?: readonly L[]): Counter<L>;
  /** Returns the histogram registered under `name`, registering it on first use (`buckets` in the unit of its name). */
  histogram<L extends string = never>(
    name: string,
    help: string,
    labelNames?: readonly L[],
    buckets?: readonly number[],
  ): Histogram<L>;
  /** Returns the gauge registered under `name`, registering it on first use. */
  gauge<L extends string = never>(name: string, help: string, labelNames?: readonly L[]): Gauge<L>;
}

export class MetricConflictError extends Error {
  override readonly name = 'MetricConflictError';
  readonly code = 'metric-conflict';
}

const withDefaultMetrics = new WeakSet<Registry>();

export function createMetrics({ service, registry: shared }: MetricsOptions): Metrics {
  const registry = shared ?? new Registry();
  if (shared === undefined) registry.setDefaultLabels({ service });
  if (!withDefaultMetrics.has(registry)) {
    withDefaultMetrics.add(registry);
    collectDefaultMetrics({ register: registry, prefix: DEFAULT_METRICS_PREFIX });
  }

  // Idempotent by name so that several services in one process can ask for the same metric; asking for
  // a name with another type or other labels is a programming error and throws.
  function existing<M>(name: string, type: abstract new (...args: never[]) => M, labelNames: readonly string[]): M | undefined {
    const metric = registry.getSingleMetric(name);
    if (metric === undefined) return undefined;
    if (!(metric instanceof type)) {
      throw new MetricConflictError(`metric ${name} is already registered as another type`);
    }
    const registered = (metric as unknown as { labelNames?: readonly string[] }).labelNames ?? [];
    if (!sameSet(registered, labelNames)) {
      throw new MetricConflictError(
        `metric ${name} is already registered with labels [${registered.join(', ')}], not [${labelNames.join(', ')}]`,
      );
    }
    return metric;
  }

  return {
    registry,
    counter<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []) {
      return (
        existing<Counter<L>>(name, Counter, labelNames) ??
        new Counter<L>({ name, help, labelNames, registers: [registry] })
      );
    },
    histogram<L extends string = never>(
      name: string,
      help: string,
      labelNames: readonly L[] = [],
      buckets?: readonly number[],
    ) {
      return (
        existing<Histogram<L>>(name, Histogram, labelNames) ??
        new Histogram<L>({
          name,
          help,
          labelNames,
          registers: [registry],
          ...(buckets === undefined ? {} : { buckets: [...buckets] }),
        })
      );
    },
    gauge<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []) {
      return (
        existing<Gauge<L>>(name, Gauge, labelNames) ??
        new Gauge<L>({ name, help, labelNames, registers: [registry] })
      );
    },
  };
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}
