import { router } from './trpc.js';
import { flightsRouter } from './routers/flights.js';
import { authRouter } from './routers/auth.js';
import { bookingsRouter } from './routers/bookings.js';
import { paymentsRouter } from './routers/payments.js';

export const appRouter = router({
  auth: authRouter,
  flights: flightsRouter,
  bookings: bookingsRouter,
  payments: paymentsRouter,
});

export type AppRouter = typeof appRouter;
