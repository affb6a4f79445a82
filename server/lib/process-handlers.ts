import { logger } from './logger.js';
import { captureException, flushSentry } from './sentry.js';

/**
 * Last-resort handlers for an entrypoint (the API, the worker). A promise rejected with nobody
 * listening is logged and reported, and the process carries on: one stray rejection (a reconnecting
 * client, a fire-and-forget call) must not take every request or job with it. An uncaught exception
 * leaves the process in a state nobody reasoned about: it is logged, reported, and the process exits
 * non-zero for its supervisor to restart it.
 */
export function installProcessHandlers(component: 'api' | 'worker'): void {
  process.on('unhandledRejection', (reason) => {
    logger.error({ err: reason, component }, 'unhandled promise rejection');
    captureException(reason, { kind: 'unhandledRejection', component });
  });
  process.on('uncaughtException', (err, origin) => {
    logger.fatal({ err, origin, component }, 'uncaught exception; exiting');
    captureException(err, { kind: 'uncaughtException', origin, component });
    // Whatever happens to the flush, the process ends; a kept-referenced timer backs it up.
    setTimeout(() => process.exit(1), 3000);
    void flushSentry().finally(() => process.exit(1));
  });
}
