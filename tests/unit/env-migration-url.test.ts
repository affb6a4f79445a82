import { describe, expect, it } from 'vitest';
import { parseEnv } from '../../server/env.js';
import { testEnv } from '../support/test-env.js';

describe('MIGRATION_DATABASE_URL', () => {
  const app = 'mysql://flight_app:a1@db:3306/flight_booking';

  it('is optional: unset (or empty in .env), migrations use DATABASE_URL', () => {
    expect(parseEnv({ ...testEnv(), DATABASE_URL: app }).MIGRATION_DATABASE_URL).toBeUndefined();
    expect(parseEnv({ ...testEnv(), DATABASE_URL: app, MIGRATION_DATABASE_URL: '' }).MIGRATION_DATABASE_URL).toBeUndefined();
  });

  it('names another user of the same database', () => {
    const migrator = 'mysql://flight_migrator:m1@db:3306/flight_booking';
    expect(parseEnv({ ...testEnv(), DATABASE_URL: app, MIGRATION_DATABASE_URL: migrator }).MIGRATION_DATABASE_URL).toBe(migrator);
  });

  it('refuses another database: migrations would change one schema while the app reads another', () => {
    expect(() => parseEnv({ ...testEnv(), DATABASE_URL: app, MIGRATION_DATABASE_URL: 'mysql://flight_migrator:m1@db:3306/flight_booking_old' })).toThrow(
      /MIGRATION_DATABASE_URL: must name the same database as DATABASE_URL/,
    );
  });

  it('refuses a URL that is not mysql://', () => {
    expect(() => parseEnv({ ...testEnv(), MIGRATION_DATABASE_URL: 'postgres://x@db/flight_booking' })).toThrow(/MIGRATION_DATABASE_URL must be a mysql:\/\/ URL/);
  });
});
