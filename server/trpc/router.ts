import { router } from './trpc.js';
import { flightsRouter } from './routers/flights.js';

export const appRouter = router({
  flights: flightsRouter,
});

export type AppRouter = typeof appRouter;
