import { router } from './trpc.js';
import { flightsRouter } from './routers/flights.js';
import { authRouter } from './routers/auth.js';

export const appRouter = router({
  auth: authRouter,
  flights: flightsRouter,
});

export type AppRouter = typeof appRouter;
