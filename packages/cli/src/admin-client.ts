/** A key `truce dev` made, as it keeps it in its data folder. */
export interface DevKey {
  readonly id: string;
  readonly key: string;
}

interface Subscription {
  readonly id: string;
  readonly status: string;
}

/**
 * The few admin API calls (SPEC 5.4) `truce dev` makes to set up its consumers: through HTTP, as
 * an operator would, so the audit log shows them.
 */
export class AdminClient {
  constructor(
    private readonly baseUrl: string,
    private readonly adminKey: string,
    private readonly timeoutMs = 10_000,
  ) {}

  /**
   * Makes sure the consumer `name` exists, has a working key (`known` when it still exists, a new
   * one otherwise) and an approved subscription to each of `routes`.
   */
  async consumerWithKey(name: string, known: DevKey | undefined, routes: readonly string[]): Promise<DevKey> {
    const created = await this.call('POST', '/consumers', { name });
    if (created.status !== 201 && created.status !== 409)
      throw await this.failure('create consumer', created);
    await created.body?.cancel();
    const path = `/consumers/${encodeURIComponent(name)}/keys`;
    let key = known;
    if (key) {
      const listed = await this.call('GET', `${path}?limit=1000`);
      if (!listed.ok) throw await this.failure('list keys', listed);
      const { items } = (await listed.json()) as { items: { id: string }[] };
      if (!items.some((k) => k.id === key!.id)) key = undefined;
    }
    if (!key) {
      const made = await this.call('POST', path);
      if (made.status !== 201) throw await this.failure('create a key', made);
      const body = (await made.json()) as { id: string; key: string };
      key = { id: body.id, key: body.key };
    }
    for (const route of routes) await this.approved(name, route);
    return key;
  }

  private async approved(consumer: string, route: string): Promise<void> {
    const query = `consumer=${encodeURIComponent(consumer)}&route=${encodeURIComponent(route)}`;
    const listed = await this.call('GET', `/subscriptions?${query}`);
    if (!listed.ok) throw await this.failure('list subscriptions', listed);
    let [subscription] = ((await listed.json()) as { items: Subscription[] }).items;
    if (!subscription) {
      const made = await this.call('POST', '/subscriptions', { consumer, route });
      if (made.status !== 201) throw await this.failure('subscribe', made);
      subscription = (await made.json()) as Subscription;
    }
    if (subscription.status === 'approved') return;
    const approved = await this.call('POST', `/subscriptions/${subscription.id}/approve`);
    if (!approved.ok) throw await this.failure('approve a subscription', approved);
    await approved.body?.cancel();
  }

  private call(method: string, path: string, body?: unknown): Promise<Response> {
    return fetch(`${this.baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.adminKey}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
  }

  private async failure(what: string, response: Response): Promise<Error> {
    const text = await response.text().catch(() => '');
    return new Error(`the admin API refused to ${what}: ${response.status} ${text.slice(0, 300)}`);
  }
}
