/** The top-level `notify` section: webhooks told when a run starts waiting, completes, stops or fails. */
import { z } from 'zod';
import { httpUrl, num, section } from './sections';

export const notify = section(
  'must be an object like {"webhooks": ["https://hooks.example/..."], "uiUrl": "http://127.0.0.1:8233"}',
  {
    /** URLs that receive a JSON POST (Slack-compatible `text` plus structured fields). */
    webhooks: z.array(httpUrl, { error: 'must be an array of URLs' }),
    /** The Temporal Web UI, for links to the run. */
    uiUrl: httpUrl.default('http://127.0.0.1:8233').transform((url) => url.replace(/\/+$/, '')),
    timeoutSeconds: num(0.1).default(5),
  },
);
export type NotifySettings = z.output<typeof notify>;
