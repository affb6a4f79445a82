import { asc, eq, inArray } from 'drizzle-orm';
import type { DbOrTx } from '../../db/types.js';
import { airports, bookingPassengers, bookings, flights, users } from '../../db/schema/index.js';
import { AppError } from '../../lib/errors.js';
import type { ConfirmationInput } from './confirmation-template.js';

export interface ConfirmationDetails {
  /** The booking's user: the confirmation goes to the account that booked. */
  recipient: { name: string; address: string };
  content: ConfirmationInput;
}

/** Reads what a booking confirmation shows; NOT_FOUND when the booking does not exist. */
export async function loadConfirmationDetails(db: DbOrTx, bookingId: number): Promise<ConfirmationDetails> {
  const [row] = await db
    .select({ booking: bookings, flight: flights, user: { name: users.name, email: users.email } })
    .from(bookings)
    .innerJoin(flights, eq(flights.id, bookings.flightId))
    .innerJoin(users, eq(users.id, bookings.userId))
    .where(eq(bookings.id, bookingId));
  if (!row) throw new AppError('NOT_FOUND', `Booking ${bookingId} not found`);
  const { booking, flight, user } = row;
  const [ports, passengers] = await Promise.all([
    db.select().from(airports).where(inArray(airports.iata, [flight.origin, flight.destination])),
    db
      .select({ firstName: bookingPassengers.firstName, lastName: bookingPassengers.lastName })
      .from(bookingPassengers)
      .where(eq(bookingPassengers.bookingId, bookingId))
      .orderBy(asc(bookingPassengers.position)),
  ]);
  const airport = (iata: string) => {
    const found = ports.find((a) => a.iata === iata);
    // The flights table references airports, so this is a broken database, not a bad request.
    if (!found) throw new Error(`Airport ${iata} of flight ${flight.id} not found`);
    return found;
  };
  return {
    recipient: { name: user.name, address: user.email },
    content: {
      booking: { id: booking.id, totalMinor: booking.totalMinor, currency: booking.currency },
      flight: { flightNumber: flight.flightNumber, departureAt: flight.departureAt, arrivalAt: flight.arrivalAt },
      origin: airport(flight.origin),
      destination: airport(flight.destination),
      passengers,
      recipientName: user.name,
    },
  };
}
