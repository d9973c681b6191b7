import type { IqRequestEnvelope } from '@dbroker/bus';
import type { Element } from '@xmpp/xml';
import { parseErrorElement, parseXml } from '@dbroker/protocol';
import type { SendIq } from './types';

export type IqOutcome = { ok: true; iq: Element } | { ok: false; reason: string };

/** Slack over the envelope's `timeoutMs` before the guard gives up on a `sendIq` that never settles. */
const GUARD_SLACK_MS = 1_000;

/**
 * Sends `env` and returns the `type='result'` IQ, or why there is none: a refusal of the ingress
 * (`no-permission`, `offline`, `timeout`, ...), an error IQ (its condition), an unparsable answer, or
 * `sendIq` itself failing. Never throws. Matching the answer to the request (id, sender) is the ingress's job.
 */
export async function askIq(sendIq: SendIq, env: IqRequestEnvelope): Promise<IqOutcome> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const guard = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${env.timeoutMs + GUARD_SLACK_MS} ms`)), env.timeoutMs + GUARD_SLACK_MS);
      timer.unref?.();
    });
    const res = await Promise.race([sendIq(env), guard]);
    if (!res.ok) return { ok: false, reason: `${res.error}: ${res.reason}` };
    let iq: Element;
    try {
      iq = parseXml(res.stanza);
    } catch (err) {
      return { ok: false, reason: `unparsable answer: ${(err as Error).message}` };
    }
    if (iq.name !== 'iq') return { ok: false, reason: `answer is a <${iq.name}/>, not an IQ` };
    if (iq.attrs.type === 'result') return { ok: true, iq };
    if (iq.attrs.type === 'error') {
      const e = parseErrorElement(iq);
      return { ok: false, reason: `error IQ: ${e ? `${e.type}/${e.condition}${e.text ? ` (${e.text})` : ''}` : 'no <error/>'}` };
    }
    return { ok: false, reason: `answer of type ${iq.attrs.type ?? '(none)'}` };
  } catch (err) {
    return { ok: false, reason: `sendIq failed: ${(err as Error).message ?? String(err)}` };
  } finally {
    clearTimeout(timer);
  }
}
