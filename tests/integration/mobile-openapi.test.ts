import { Validator } from '@seriousme/openapi-schema-validator';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from '../support/lifecycle.js';
import { mobileAuthRouter } from '../../server/http/mobile-auth.js';
import { AuthSession, MeResponse, TokenPair } from '../../server/http/mobile-auth.schema.js';

/**
 * The mobile API's OpenAPI document: valid OpenAPI 3.1 by the official schemas, listing exactly the
 * routes the router serves, and true about real answers (bodies, statuses, error codes).
 */

/** What the validator takes: a parsed specification. */
type Spec = Exclude<Parameters<Validator['validate']>[0], string>;

interface Doc {
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, { content?: { 'application/json': { schema: unknown } } }> }>>;
}

const t = useTestApp();
let doc: Doc;
beforeAll(async () => {
  const res = await fetch(`${t.baseUrl}/api/mobile/v1/openapi.json`);
  expect(res.status).toBe(200);
  doc = (await res.json()) as Doc;
});

const call = (method: string, path: string, body?: unknown, token?: string) =>
  fetch(`${t.baseUrl}/api/mobile/v1${path}`, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });

/** The error codes the document allows for this route and status. */
function documentedCodes(method: string, path: string, status: number): string[] {
  const schema = doc.paths[path]?.[method]?.responses[String(status)]?.content?.['application/json'].schema as
    | { properties: { error: { properties: { code: { enum: string[] } } } } }
    | undefined;
  return schema?.properties.error.properties.code.enum ?? [];
}

async function expectDocumentedError(res: Response, method: string, path: string) {
  const body = (await res.json()) as { error: { code: string; message: string; requestId: string } };
  expect(documentedCodes(method, path, res.status)).toContain(body.error.code);
  expect(body.error.requestId).toBe(res.headers.get('x-request-id'));
}

describe('GET /api/mobile/v1/openapi.json', () => {
  it('is a valid OpenAPI 3.1 document by the official schemas', async () => {
    const validator = new Validator();
    const result = await validator.validate(doc as unknown as Spec);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    // The validator does refuse: the same document without its required `info` fails.
    const { info: _info, ...broken } = doc as unknown as Record<string, unknown>;
    expect((await new Validator().validate(broken as unknown as Spec)).valid).toBe(false);
  });

  it('lists every route the mobile router serves, and no other', () => {
    const served = mobileAuthRouter(t.deps)
      .stack.flatMap((layer) => {
        const route = (layer as { route?: { path: string; methods: Record<string, boolean> } }).route;
        return route ? Object.keys(route.methods).map((m) => `${m.toUpperCase()} ${route.path}`) : [];
      })
      .sort();
    const documented = Object.entries(doc.paths)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    expect(documented).toEqual(served);
    expect(served).toContain('POST /auth/register');
  });

  it('documents every error status in the one envelope, with 500 everywhere', () => {
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        expect({ path, method, has500: '500' in op.responses }).toEqual({ path, method, has500: true });
        for (const [status, response] of Object.entries(op.responses)) {
          if (Number(status) < 400) continue;
          expect(response.content?.['application/json'].schema).toMatchObject({ required: ['error'] });
        }
      }
    }
  });
});

describe('the document is true about real answers', () => {
  it('register, me, refresh, logout, and their refusals', async () => {
    const email = `openapi-${Date.now()}@example.test`;
    const registered = await call('POST', '/auth/register', { email, password: 'a long passphrase', name: 'Noura' });
    expect(registered.status).toBe(201);
    const session = AuthSession.parse(await registered.json());

    const me = await call('GET', '/auth/me', undefined, session.accessToken);
    expect(me.status).toBe(200);
    expect(MeResponse.parse(await me.json()).user.email).toBe(email);

    const refreshed = await call('POST', '/auth/refresh', { refreshToken: session.refreshToken });
    expect(refreshed.status).toBe(200);
    const tokens = TokenPair.parse(await refreshed.json());
    expect((await call('POST', '/auth/logout', { refreshToken: tokens.refreshToken })).status).toBe(204);

    const taken = await call('POST', '/auth/register', { email, password: 'a long passphrase', name: 'Noura' });
    expect(taken.status).toBe(409);
    await expectDocumentedError(taken, 'post', '/auth/register');
    const wrong = await call('POST', '/auth/login', { email, password: 'not the passphrase' });
    expect(wrong.status).toBe(401);
    await expectDocumentedError(wrong, 'post', '/auth/login');
    const invalid = await call('POST', '/auth/login', { email: 'not an email', password: 'x' });
    expect(invalid.status).toBe(400);
    await expectDocumentedError(invalid, 'post', '/auth/login');
    const notJson = await fetch(`${t.baseUrl}/api/mobile/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hi' });
    expect(notJson.status).toBe(415);
    await expectDocumentedError(notJson, 'post', '/auth/login');
    const spent = await call('POST', '/auth/refresh', { refreshToken: session.refreshToken });
    expect(spent.status).toBe(401);
    await expectDocumentedError(spent, 'post', '/auth/refresh');
    const anonymous = await call('GET', '/auth/me');
    expect(anonymous.status).toBe(401);
    await expectDocumentedError(anonymous, 'get', '/auth/me');
  });
});
