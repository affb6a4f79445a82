import { Router } from 'express';
import type { AppDeps } from '../app.js';
import { requireJson } from './error-handler.js';

/** Mobile REST API, mounted under /api/mobile/v1. */
export function mobileAuthRouter(_deps: AppDeps): Router {
  const r = Router();
  r.use(requireJson);
  return r;
}
