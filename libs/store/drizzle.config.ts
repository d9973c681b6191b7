import { defineConfig } from 'drizzle-kit';

// Run from the repository root: `npm run db:generate` writes SQL migrations to ./migrations.
export default defineConfig({
  dialect: 'postgresql',
  schema: './libs/store/src/schema/index.ts',
  out: './migrations',
});
