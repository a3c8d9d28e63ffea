import { describeWithPostgres, dropSchema, newSchemaName } from '../../../../../test/support/postgres.js';
import { storeConformanceSuite } from '../conformance.suite.js';
import { DelegatingStore } from '../delegating.js';
import type { Store } from '../types.js';
import { openPostgresStore } from './postgres-store.js';

/** A store in a schema of its own, dropped when the store closes. */
async function freshStore(url: string): Promise<Store> {
  const schema = newSchemaName('conf');
  const store = await openPostgresStore({ url, schema, poolSize: 8 });
  return new (class extends DelegatingStore {
    override async close(): Promise<void> {
      await super.close();
      await dropSchema(url, schema);
    }
  })(store);
}

describeWithPostgres('postgres store', (url) => {
  storeConformanceSuite('postgres', () => freshStore(url));
});
