import { z } from 'zod';
import { publicProcedure, router } from '../trpc.js';
import { getFlight, searchFlights } from '../../services/flights.js';

const Iata = z
  .string()
  .trim()
  .toUpperCase()
  .regex(/^[A-Z]{3}$/, 'must be a three-letter IATA airport code');

export const SearchFlightsInput = z
  .object({
    origin: Iata,
    destination: Iata,
    date: z.iso.date('must be a calendar date, YYYY-MM-DD'),
    passengers: z.number().int().min(1).max(9),
  })
  .refine((v) => v.origin !== v.destination, { message: 'origin and destination must differ', path: ['destination'] });
export type SearchFlightsInput = z.infer<typeof SearchFlightsInput>;

export const FlightByIdInput = z.object({ id: z.number().int().positive() });

export const flightsRouter = router({
  search: publicProcedure.input(SearchFlightsInput).query(async ({ ctx, input }) => ({
    flights: await searchFlights(ctx.deps, input),
  })),
  byId: publicProcedure.input(FlightByIdInput).query(({ ctx, input }) => getFlight(ctx.deps, input)),
});
