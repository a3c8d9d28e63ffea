import type { JsonObject } from '../store/types.js';

/** One collection as written in the configuration file. */
export interface CollectionConfigInput {
  readonly description?: string;
  readonly schema?: JsonObject;
  readonly requirePreconditions?: boolean;
  readonly staleWriteStatus?: 409 | 412;
  readonly history?: { readonly keep?: number };
}

/** The configuration file as written (SPEC section 2), after schema validation. */
export interface TruceConfigInput {
  readonly listen?: string;
  readonly storage?: string;
  readonly durability?: 'normal' | 'strict';
  readonly actorHeader?: string;
  readonly bodyLimit?: number;
  readonly problemTypeBase?: string;
  readonly collections: Readonly<Record<string, CollectionConfigInput>>;
}

/** A collection with every default filled in. */
export interface CollectionConfig {
  readonly name: string;
  readonly description: string | undefined;
  readonly schema: JsonObject | undefined;
  readonly requirePreconditions: boolean;
  readonly staleWriteStatus: 409 | 412;
  readonly historyKeep: number;
}

/** The resolved configuration the server runs with. */
export interface TruceConfig {
  readonly listen: { readonly host: string; readonly port: number };
  readonly storage: string;
  readonly durability: 'normal' | 'strict';
  /** Lower-cased request header name. */
  readonly actorHeader: string;
  readonly bodyLimit: number;
  readonly problemTypeBase: string;
  readonly collections: ReadonlyMap<string, CollectionConfig>;
  /** Folder relative storage paths resolve against (the configuration file's folder, or the cwd). */
  readonly baseDir: string;
}

/** One reason a configuration was refused, with the JSON Pointer of the offending value. */
export interface ConfigIssue {
  readonly pointer: string;
  readonly message: string;
}
