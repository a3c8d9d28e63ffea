import { describeWithPostgres, dropSchema, newSchemaName } from '../../../../test/support/postgres.js';
import { openPostgresDatabase } from '../storage/postgres.js';
import { gatewayStoreConformance } from './conformance.suite.js';
import { PostgresGatewayStore } from './postgres.js';

describeWithPostgres('postgres gateway store', (url) => {
  // Each instance has a pool of its own, as two gateway processes would; one schema per test.
  gatewayStoreConformance('postgres', async () => {
    const schema = newSchemaName('gws');
    const at = `${url}${url.includes('?') ? '&' : '?'}schema=${schema}`;
    return {
      open: async () => new PostgresGatewayStore(await openPostgresDatabase(at, { poolSize: 4 })),
      dispose: () => dropSchema(url, schema),
    };
  });
});
