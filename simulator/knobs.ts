// The simulator's behaviour dials, settable at start and at run time (PUT /admin/knobs).
// This file is part of the contract the OpenStack driver is tested against: see docs/simulator.md.
import { z } from 'zod';

export const OPERATIONS = [
  'auth',
  'server.create',
  'server.get',
  'server.list',
  'server.delete',
  'server.action',
  'flavor.list',
  'limits.get',
  'image.create',
  'image.upload',
  'image.get',
  'image.list',
  'image.delete',
  'image.stage',
  'image.import',
  'network.list',
] as const;
export type Operation = (typeof OPERATIONS)[number];

export const FAULT_KINDS = ['error500', 'error503', 'timeout', 'drop'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultRule {
  operation: Operation;
  /** error500/error503 answer with that status; drop performs the action then destroys the socket unanswered;
   *  timeout never answers (the socket stays open until the client gives up or the simulator closes). */
  kind: FaultKind;
  /** 0..1, drawn from the seeded fault stream. */
  rate: number;
  /** Apply to at most this many matching requests, then stop. */
  count?: number;
}

export interface Knobs {
  tokenTtlSeconds: number;
  /** Uniform, seeded. */
  bootSeconds: { min: number; max: number };
  /** null = unlimited. */
  uploadBytesPerSecond: number | null;
  latencyMs: { min: number; max: number };
  faults: FaultRule[];
  /** ports: Neutron's port quota, one port per network a server attaches to (default -1: unlimited). */
  quota: { instances: number; cores: number; ramMB: number; metadataItems: number; ports: number };
  /** Over the limit the API answers 429 with Retry-After. */
  rateLimit: { requestsPerSecond: number; retryAfterSeconds: number } | null;
  /** Fraction of new servers that end in ERROR instead of ACTIVE. */
  serverErrorRate: number;
  /** Deleted servers stay ACTIVE with task_state deleting forever. */
  hangDeletes: boolean;
  /** How long a deleted server is still listed by changes-since (as DELETED) before it is forgotten. */
  deletedRetentionSeconds: number;
  /** Neutron's networks (read-only through the API); servers attach to them by uuid. */
  networks: NetworkKnob[];
  /** Security group names every project has in Neutron; a server create naming another is refused (400). */
  securityGroups: string[];
  /** Glance's interoperable import methods (`GET /v2/info/import`); [] = import disabled (404). */
  imageImportMethods: ImportMethod[];
  /** false = `PUT /v2/images/{id}/file` is refused (403) as on clouds that allow only import. */
  imageDirectUpload: boolean;
  /** Refuse (415) uploaded or imported data whose first bytes are not the image's disk_format, as Glance does. */
  imageFormatEnforcement: boolean;
  /** What an SSH `exec` does: run the command, refuse the channel, or exit 1 with a message. */
  sshExec: 'run' | 'refuse' | 'fail';
  /** Whether SSH accepts any credentials or refuses every one. */
  sshAuth: 'accept' | 'refuse';
}

export interface NetworkKnob {
  id: string;
  name: string;
  /** router:external */
  external: boolean;
}

export const IMPORT_METHODS = ['glance-direct'] as const;
export type ImportMethod = (typeof IMPORT_METHODS)[number];

/** What setKnobs and PUT /admin/knobs accept: any subset of keys; quota may itself be partial. */
export type KnobsPatch = Partial<Omit<Knobs, 'quota'>> & { quota?: Partial<Knobs['quota']> };

export const DEFAULT_KNOBS: Knobs = {
  tokenTtlSeconds: 3600,
  bootSeconds: { min: 0.2, max: 0.5 },
  uploadBytesPerSecond: null,
  latencyMs: { min: 0, max: 0 },
  faults: [],
  quota: { instances: 100, cores: 400, ramMB: 819200, metadataItems: 128, ports: -1 },
  rateLimit: null,
  serverErrorRate: 0,
  hangDeletes: false,
  deletedRetentionSeconds: 3600,
  networks: [
    { id: '5f0e6b2a-8c1d-4e3f-9a7b-2c4d6e8f0a1b', name: 'private', external: false },
    { id: 'a1c3e5f7-9b2d-4f6a-8c0e-1d3f5a7b9c2e', name: 'public', external: true },
  ],
  securityGroups: ['default'],
  imageImportMethods: ['glance-direct'],
  imageDirectUpload: true,
  imageFormatEnforcement: false,
  sshExec: 'run',
  sshAuth: 'accept',
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const range = z
  .strictObject({ min: z.number().min(0), max: z.number().min(0) })
  .refine((r) => r.min <= r.max, { message: 'min must not exceed max' });

const faultRule = z.strictObject({
  operation: z.enum(OPERATIONS),
  kind: z.enum(FAULT_KINDS),
  rate: z.number().min(0).max(1),
  count: z.number().int().min(0).optional(),
});

const quotaPatch = z.strictObject({
  instances: z.number().int().min(-1),
  cores: z.number().int().min(-1),
  ramMB: z.number().int().min(-1),
  metadataItems: z.number().int().min(-1),
  ports: z.number().int().min(-1),
});

const knobsPatch = z.strictObject({
  tokenTtlSeconds: z.number().positive(),
  bootSeconds: range,
  uploadBytesPerSecond: z.number().positive().nullable(),
  latencyMs: range,
  faults: z.array(faultRule),
  quota: quotaPatch.partial(),
  rateLimit: z
    .strictObject({ requestsPerSecond: z.number().positive(), retryAfterSeconds: z.number().int().min(0) })
    .nullable(),
  serverErrorRate: z.number().min(0).max(1),
  hangDeletes: z.boolean(),
  deletedRetentionSeconds: z.number().min(0),
  networks: z
    .array(
      z.strictObject({
        id: z.string().regex(UUID, 'must be a lower-case UUID'),
        name: z.string().min(1).max(255),
        external: z.boolean(),
      }),
    )
    .refine((nets) => new Set(nets.map((n) => n.id)).size === nets.length, { message: 'network ids must be unique' }),
  securityGroups: z.array(z.string().min(1).max(255)),
  imageImportMethods: z.array(z.enum(IMPORT_METHODS)),
  imageDirectUpload: z.boolean(),
  imageFormatEnforcement: z.boolean(),
  sshExec: z.enum(['run', 'refuse', 'fail']),
  sshAuth: z.enum(['accept', 'refuse']),
});

export class KnobsError extends Error {}

/** Merges a partial patch over `base`; quota merges key by key, everything else replaces. Throws KnobsError. */
export function mergeKnobs(base: Knobs, patch: unknown): Knobs {
  const parsed = knobsPatch.partial().safeParse(patch);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      const where = i.path.length > 0 ? i.path.join('.') : '(top level)';
      return `${where}: ${i.message}`;
    });
    throw new KnobsError(
      `invalid knobs: ${problems.join('; ')}. Known keys: ${Object.keys(DEFAULT_KNOBS).join(', ')}; ` +
        `operations: ${OPERATIONS.join(', ')}`,
    );
  }
  const p = parsed.data;
  return {
    ...base,
    ...p,
    quota: { ...base.quota, ...(p.quota ?? {}) },
  } as Knobs;
}
