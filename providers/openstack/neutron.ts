// Neutron v2.0, read-only: turning the network names nodepool.yaml uses into the UUIDs Nova wants.
import { Invalid } from '../errors.ts';
import type { ServiceCall } from './http.ts';

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

interface Network {
  id: string;
  name: string;
}

export class NeutronClient {
  readonly #call: ServiceCall;
  constructor(call: ServiceCall) {
    this.#call = call;
  }

  async listNetworks(filter: { name?: string } = {}): Promise<Network[]> {
    const query = new URLSearchParams();
    if (filter.name !== undefined) query.set('name', filter.name);
    query.append('fields', 'id');
    query.append('fields', 'name');
    const res = await this.#call({ operation: 'network.list', method: 'GET', path: '/v2.0/networks', query });
    const networks = (res.body as { networks?: Array<{ id?: unknown; name?: unknown }> }).networks ?? [];
    return networks.map((n) => ({ id: String(n.id), name: typeof n.name === 'string' ? n.name : '' }));
  }

  /** The one network called `name`; Invalid naming what exists when there is none, or the ids when several. */
  async resolve(name: string, cloudName: string): Promise<string> {
    const found = await this.listNetworks({ name });
    if (found.length === 1) return found[0]!.id;
    if (found.length > 1) {
      throw new Invalid(
        `server.create: network name "${name}" is ambiguous in cloud ${cloudName}: ${found.length} networks have it ` +
          `(${found.map((n) => n.id).join(', ')}); put the UUID of the one you mean in the pool's networks`,
        { operation: 'server.create' },
      );
    }
    const names = [...new Set((await this.listNetworks()).map((n) => n.name).filter((n) => n !== ''))].sort();
    throw new Invalid(
      `server.create: network "${name}" not found in cloud ${cloudName} (it has: ${names.join(', ') || 'none'}); ` +
        `name one of these or give its UUID`,
      { operation: 'server.create' },
    );
  }
}
