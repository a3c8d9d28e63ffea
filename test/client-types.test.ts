import { describe, expectTypeOf, it } from 'vitest';
import {
  createClient,
  isProblem,
  type Change,
  type Client,
  type FromSchema,
  type JsonValue,
  type NumberPointer,
  type Resource,
  type Snapshot,
} from '@truce/client';

/**
 * The typed surface (checked by `tsc -p tsconfig.tests.json`, which `npm test` runs): collection
 * types inferred from schemas or declared, problems narrowed by code. The bodies never run a request.
 */
const schemas = {
  products: {
    schema: {
      type: 'object',
      required: ['sku', 'name'],
      properties: {
        sku: { type: 'string' },
        name: { type: 'string' },
        price: { type: 'number' },
        stock: { type: 'integer' },
        tags: { type: 'array', items: { type: 'string' } },
        status: { enum: ['draft', 'live'] },
        dims: { type: 'object', properties: { weight: { type: 'number' } } },
      },
    },
  },
  notes: {},
} as const;

describe('types', () => {
  it('infers documents from JSON Schemas', () => {
    type Product = FromSchema<(typeof schemas)['products']['schema']>;
    expectTypeOf<Product>().toEqualTypeOf<{
      sku: string;
      name: string;
      price?: number;
      stock?: number;
      tags?: string[];
      status?: 'draft' | 'live';
      dims?: { weight?: number };
    }>();
    expectTypeOf<NumberPointer<Product>>().toEqualTypeOf<'/price' | '/stock' | '/dims/weight'>();

    const api = createClient({ baseUrl: 'http://localhost', collections: schemas });
    type Api = typeof api;
    expectTypeOf<Awaited<ReturnType<Api['get']>>>().toMatchTypeOf<Snapshot<unknown>>();
    const typed = async () => {
      const { data } = await api.get('products', 'p1');
      expectTypeOf(data.sku).toEqualTypeOf<string>();
      expectTypeOf(data._version).toEqualTypeOf<number>();
      await api.increment('products', 'p1', '/stock', -1);
      // @ts-expect-error: not a numeric member
      await api.increment('products', 'p1', '/name', 1);
      // @ts-expect-error: not a collection of this client
      await api.get('orders', 'o1');
      // @ts-expect-error: a required member is missing
      await api.create('products', { name: 'No sku' });
      await api.update('products', 'p1', (doc) => {
        doc.stock = (doc.stock ?? 0) + 1;
        // @ts-expect-error: the server's members are read-only
        doc._version = 3;
      });
      await api.patch('products', 'p1', { price: null, dims: { weight: 2 } });
      // @ts-expect-error: wrong type in a merge patch
      await api.patch('products', 'p1', { price: 'free' });
      for await (const change of api.changes('products'))
        expectTypeOf(change.doc).toEqualTypeOf<Product | null>();
      // Collections without a schema hold any JSON object.
      const note = await api.get('notes', 'n1');
      expectTypeOf(note.data['anything']).toEqualTypeOf<JsonValue | undefined>();
    };
    void typed;
  });

  it('takes declared collection types, and is untyped without any', () => {
    interface Order {
      customer: string;
      status?: 'pending' | 'paid';
    }
    const api = createClient<{ orders: Order }>({ baseUrl: 'http://localhost' });
    expectTypeOf(api).toEqualTypeOf<Client<{ orders: Order }>>();
    const declared = async () => {
      const order = await api.transition('orders', 'o1', 'pay');
      expectTypeOf(order.data).toEqualTypeOf<Resource<Order>>();
      for await (const change of api.changes()) expectTypeOf(change).toEqualTypeOf<Change<Order, 'orders'>>();
    };
    void declared;
    const loose = createClient({ baseUrl: 'http://localhost' });
    const untyped = async () => {
      const any = await loose.get('whatever', 'x');
      expectTypeOf(any.data.id).toEqualTypeOf<string>();
      await loose.increment('whatever', 'x', '/any/pointer', 1);
    };
    void untyped;
  });

  it('narrows problems by code', () => {
    const error: unknown = undefined;
    if (isProblem(error, 'unique-violation')) {
      expectTypeOf(error.problem.fields).toEqualTypeOf<string[]>();
      expectTypeOf(error.problem.existing).toEqualTypeOf<string>();
      expectTypeOf(error.response).toEqualTypeOf<Response>();
      // Every broken business rule of the write, each narrowed by its own code.
      const v = error.problem.violations?.[0];
      if (v?.code === 'rule-violated') expectTypeOf(v.rule).toEqualTypeOf<string>();
      if (v?.code === 'dangling-reference') expectTypeOf(v.pointer).toEqualTypeOf<string>();
    }
    if (isProblem(error, ['stale-write', 'edit-conflict'])) {
      expectTypeOf(error.code).toEqualTypeOf<'stale-write' | 'edit-conflict'>();
    }
    if (isProblem(error, 'insufficient')) expectTypeOf(error.problem.minimum).toEqualTypeOf<number>();
  });
});
