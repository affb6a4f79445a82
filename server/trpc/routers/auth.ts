import { protectedProcedure, router } from '../trpc.js';
import { getUser } from '../../services/auth.js';

export const authRouter = router({
  /** Who the bearer of this access token is, as the database has it now (role included). */
  me: protectedProcedure.query(async ({ ctx }) => ({ user: await getUser(ctx.deps.db, ctx.user.userId) })),
});
