import { z } from 'zod';
import { protectedProcedure, router } from '../trpc.js';
import { createCheckoutSession, requestRefund } from '../../services/payments.js';
import { IdempotencyKey } from '../../services/idempotency.js';

export const CreateCheckoutSessionInput = z.object({ bookingId: z.number().int().positive(), idempotencyKey: IdempotencyKey });
export const RequestRefundInput = z.object({
  bookingId: z.number().int().positive(),
  idempotencyKey: IdempotencyKey,
  reason: z.string().trim().min(1).max(500).optional(),
});

export const paymentsRouter = router({
  createCheckoutSession: protectedProcedure
    .input(CreateCheckoutSessionInput)
    .mutation(({ ctx, input }) => createCheckoutSession(ctx.deps, ctx.user, input)),
  requestRefund: protectedProcedure.input(RequestRefundInput).mutation(({ ctx, input }) => requestRefund(ctx.deps, ctx.user, input)),
});
