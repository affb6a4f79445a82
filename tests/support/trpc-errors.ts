import { TRPCClientError } from '@trpc/client';
import { expect } from 'vitest';

/** Awaits a promise expected to fail with a tRPC error and returns its data for assertions. */
export async function trpcError(p: Promise<unknown>): Promise<{ code: string; appCode: string; httpStatus: number; message: string }> {
  const err = await p.then(
    () => {
      throw new Error('expected the call to fail, it succeeded');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TRPCClientError);
  const e = err as TRPCClientError<any>;
  return { code: e.data?.code, appCode: e.data?.appCode, httpStatus: e.data?.httpStatus, message: e.message };
}
