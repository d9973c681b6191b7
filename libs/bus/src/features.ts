import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import type { WorkerFeatures } from './worker';

const FeaturesSchema = z.object({
  identities: z.array(z.object({ category: z.string(), type: z.string(), name: z.string().optional() })),
  features: z.array(z.string()),
});

/** Asks the worker kind behind a route for its disco features; null when none answers in time. */
export async function requestFeatures(nc: NatsConnection, subject: string, timeoutMs: number): Promise<WorkerFeatures | null> {
  try {
    const msg = await nc.request(subject, '', { timeout: timeoutMs });
    const parsed = FeaturesSchema.safeParse(JSON.parse(msg.string()));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
