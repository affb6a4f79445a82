import { z } from 'zod';
import { protectedProcedure, router } from '../trpc.js';
import { cancelBooking, createBooking, getBooking, listBookings } from '../../services/bookings.js';
import { IdempotencyKey } from '../../services/idempotency.js';

/** Letters of any script (Arabic included) and combining marks, with spaces, hyphens and apostrophes. */
const PersonName = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(64, 'must be at most 64 characters')
  .regex(/^[\p{L}\p{M}' \-\u2019]+$/u, 'may contain only letters, spaces, hyphens and apostrophes')
  .refine((v) => /\p{L}/u.test(v), 'must contain a letter');

export const Passenger = z.object({ firstName: PersonName, lastName: PersonName });

export const CreateBookingInput = z.object({
  flightId: z.number().int().positive(),
  passengers: z.array(Passenger).min(1, 'at least one passenger').max(9, 'at most 9 passengers'),
  idempotencyKey: IdempotencyKey,
});
export type CreateBookingInput = z.infer<typeof CreateBookingInput>;

export const BookingByIdInput = z.object({ id: z.number().int().positive() });
export const ListBookingsInput = z
  .object({ cursor: z.number().int().positive().optional(), limit: z.number().int().min(1).max(100).default(20) })
  .default({ limit: 20 });
export const CancelBookingInput = z.object({ id: z.number().int().positive(), idempotencyKey: IdempotencyKey });

export const bookingsRouter = router({
  create: protectedProcedure.input(CreateBookingInput).mutation(({ ctx, input }) => createBooking(ctx.deps, ctx.user, input)),
  byId: protectedProcedure.input(BookingByIdInput).query(({ ctx, input }) => getBooking(ctx.deps, ctx.user, input)),
  list: protectedProcedure.input(ListBookingsInput).query(({ ctx, input }) => listBookings(ctx.deps, ctx.user, input)),
  cancel: protectedProcedure.input(CancelBookingInput).mutation(({ ctx, input }) => cancelBooking(ctx.deps, ctx.user, input)),
});
