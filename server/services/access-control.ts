import type { DbOrTx } from '../db/types.js';
import type { UserRole } from '../db/schema/index.js';
import { loadUserRole } from './auth.js';
import { AppError } from '../lib/errors.js';

/** The signed-in caller, as the access token describes them. */
export interface Actor {
  userId: number;
  role: UserRole;
}

export const actorName = (actor: Actor) => `user:${actor.userId}`;

/**
 * May `actor` see and act on a resource owned by `ownerId`? Owners may; admins may act on anything,
 * but the token's role claim is checked again against the database (a demoted admin's token still says
 * admin for up to 15 minutes). Anything else is NOT_FOUND: we do not confirm that the id exists.
 */
export async function assertOwnerOrAdmin(db: DbOrTx, actor: Actor, ownerId: number, notFound: string): Promise<void> {
  if (ownerId === actor.userId) return;
  if (actor.role === 'admin' && (await loadUserRole(db, actor.userId)) === 'admin') return;
  throw new AppError('NOT_FOUND', notFound);
}
