// The shape of nodepool.yaml. Keys are kebab-case in the file, as in nodepool; every section turns them
// into camelCase for the code, so the rest of the project never sees a quoted 'max-servers'. Which nodepool
// keys each section knows, replaces or does not support yet comes from keys.ts.
import { z } from 'zod';
import { describe } from './describe.ts';
import { OTHER_DRIVERS, notYetMessage, sectionInfo, type SectionId } from './keys.ts';
import { formatFields } from './names.ts';
import { didYouMean } from './suggest.ts';

export { describe };

type Camel<S extends string> = S extends `${infer Head}-${infer Tail}`
  ? `${Head}${Capitalize<Camel<Tail>>}`
  : S extends `${infer Head}_${infer Tail}`
    ? `${Head}${Capitalize<Camel<Tail>>}`
    : S;
type CamelKeys<T> = { [K in keyof T as K extends string ? Camel<K> : K]: T[K] };
type Simplify<T> = { [K in keyof T]: T[K] } & {};

function camel(key: string): string {
  return key.replace(/[-_]([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Marks issues whose location is the offending key itself rather than its value. */
export const UNKNOWN_KEY = 'unknown-key';

/** The keys a section's schema parses, for the check that keys.ts and the schema agree. */
export const SCHEMA_KEYS = new Map<SectionId, string[]>();

/** Drops undefined values, so optional fields are absent rather than present and undefined. */
export function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/**
 * A mapping with a fixed set of keys. Keys nodepool documents are known even when not parsed here: a replaced
 * key is accepted (the loader prints its notice), a key not supported yet is an error saying so, and only other
 * keys are "unknown". Key problems are reported even when values in the same mapping are wrong (zod skips
 * ordinary refinements then), so one run shows every mistake.
 */
function section<S extends z.ZodRawShape>(id: SectionId, shape: S) {
  const keys = Object.keys(shape);
  SCHEMA_KEYS.set(id, keys);
  const nodepool = new Map(sectionInfo(id).keys.map((k) => [k.key, k]));
  const candidates = [...new Set([...keys, ...nodepool.keys()])];
  return z
    .looseObject(shape)
    .check(
      z.superRefine(
        (value, ctx) => {
          if (typeof value !== 'object' || value === null || Array.isArray(value)) return;
          for (const key of Object.keys(value)) {
            if (keys.includes(key)) continue;
            const known = nodepool.get(key);
            if (known?.status === 'replaced') continue;
            if (known?.status === 'not-yet') {
              ctx.addIssue({ code: 'custom', path: [key], params: { kind: UNKNOWN_KEY }, message: notYetMessage(key) });
              continue;
            }
            const hint = didYouMean(key, candidates);
            ctx.addIssue({
              code: 'custom',
              path: [key],
              params: { kind: UNKNOWN_KEY },
              message: hint
                ? `unknown key '${key}'${hint}`
                : `unknown key '${key}'; expected one of: ${keys.join(', ')}`,
            });
          }
        },
        { when: () => true },
      ),
    )
    .transform((value) => {
      const out: Record<string, unknown> = {};
      for (const key of keys) {
        const v = (value as Record<string, unknown>)[key];
        if (v !== undefined) out[camel(key)] = v;
      }
      return out as Simplify<CamelKeys<z.output<z.ZodObject<S>>>>;
    });
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** Parses `90`, `90s`, `15m`, `24h`, `1d12h` to seconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (!/^(\d+(\.\d+)?[smhd])+$/.test(trimmed)) return /^\d+(\.\d+)?$/.test(trimmed) ? Number(trimmed) : undefined;
  let total = 0;
  for (const m of trimmed.matchAll(/(\d+(?:\.\d+)?)([smhd])/g))
    total += Number(m[1]) * (UNIT_SECONDS[m[2] ?? 's'] ?? 1);
  return total;
}

/** Seconds, as a number or as a duration string like `24h`. */
function seconds() {
  return z.unknown().transform((value, ctx): number => {
    const parsed = typeof value === 'number' ? value : typeof value === 'string' ? parseDuration(value) : Number.NaN;
    if (parsed === undefined || !Number.isFinite(parsed) || parsed < 0) {
      ctx.addIssue({
        code: 'custom',
        input: value,
        message:
          value === undefined
            ? 'missing required key'
            : `expected seconds (a number ≥ 0) or a duration like 90s, 15m, 24h, 1d12h; found ${describe(value)}`,
      });
      return z.NEVER;
    }
    return parsed;
  });
}

/** nodepool's "0 disables": seconds where 0 means none. */
const secondsOrNone = () => seconds().transform((s) => (s === 0 ? undefined : s));

const name = () => z.string().min(1);
const count = () => z.int().min(0);
const port = () => z.int().min(1).max(65535);
const strings = () => z.array(name()).min(1);
/** A list where nodepool takes an empty one as "not given". */
const optionalStrings = () => z.array(name()).transform((list) => (list.length === 0 ? undefined : list));
const stringMap = () => z.record(z.string(), z.string());

/** nodepool's `rate` is coerced to a float: `rate: '0.5'` is a number too. */
const rate = () =>
  z.union(
    [
      z.number(),
      z
        .string()
        .regex(/^\s*\d+(\.\d+)?\s*$/)
        .transform(Number),
    ],
    {
      error: (issue) => `expected a number, found ${describe(issue.input)}`,
    },
  );

/** `min-ready: -1` disables a label in nodepool; not here yet. */
const minReady = () =>
  z.unknown().transform((value, ctx): number => {
    if (value === -1) {
      ctx.addIssue({
        code: 'custom',
        input: value,
        message: `min-ready -1 (the label disabled) is nodepool's but not supported yet; use 0, or remove the label from its pools`,
      });
      return z.NEVER;
    }
    const parsed = count().safeParse(value);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.issues.push({ ...issue, input: value } as never);
      return z.NEVER;
    }
    return parsed.data;
  });

/** A DNS domain, for template server names. */
const domain = () =>
  z.string().regex(/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/, {
    error: (issue) => `expected a DNS domain like openstack.org, found ${describe(issue.input)}`,
  });

/** How a server is attached to networks: names or UUIDs, or Nova's `auto` or `none`. */
export type NetworkChoice = 'auto' | 'none' | string[];

/** `auto`, `none`, or a list of network names or UUIDs; nodepool's empty list is the cloud's default (auto). */
const networks = () =>
  z.unknown().transform((value, ctx): NetworkChoice => {
    if (value === 'auto' || value === 'none') return value;
    if (Array.isArray(value) && value.every((v) => typeof v === 'string' && v.length > 0))
      return value.length === 0 ? 'auto' : (value as string[]);
    ctx.addIssue({
      code: 'custom',
      input: value,
      message: `expected auto, none, or a list of network names or UUIDs, found ${describe(value)}`,
    });
    return z.NEVER;
  });

/** A Python format string whose fields must be among `fields`. */
const formatString = (fields: readonly string[]) =>
  name().superRefine((value, ctx) => {
    const unknown = formatFields(value).filter((f) => !fields.includes(f));
    if (unknown.length > 0)
      ctx.addIssue({
        code: 'custom',
        input: value,
        message: `unknown field {${unknown[0]}} in ${JSON.stringify(value)}; the fields are ${fields.map((f) => `{${f}}`).join(', ')}`,
      });
  });

export const IMAGE_NAME_FIELDS = ['image_name', 'timestamp'] as const;
export const HOSTNAME_FIELDS = ['label.name', 'provider.name', 'node.id'] as const;

export const IMAGE_FORMATS = ['qcow2', 'raw', 'vhd'] as const;
export const imageFormatSchema = z.enum(IMAGE_FORMATS);
export const VHD_CONVERTERS = ['auto', 'builtin', 'vhd-util'] as const;
const vhdConverterSchema = z.enum(VHD_CONVERTERS);
export const DRIVERS = ['openstack', 'simulator'] as const;
export const BUILDERS = ['dib', 'script', 'snapshot'] as const;

const labelSchema = section('labels', {
  name: name(),
  'min-ready': minReady().default(0),
  'max-ready-age': secondsOrNone().optional(),
}).transform((l) => defined(l));

/** How a pool label boots: the provider's current upload of a diskimage, or a cloud image. */
export type LabelImage = { diskimage: string } | { cloudImage: string };

const poolLabelSchema = section('pool-labels', {
  name: name(),
  diskimage: name().optional(),
  'cloud-image': name().optional(),
  'flavor-name': name(),
  'min-ram': count().optional(),
  'key-name': name().optional(),
  'boot-from-volume': z.boolean().default(false),
  'volume-size': z.int().min(1).default(50),
  networks: networks().optional(),
  'console-log': z.boolean().default(false),
  'instance-properties': stringMap().default({}),
  userdata: z.string().optional(),
})
  .check(
    z.superRefine((label, ctx) => {
      if (label.diskimage !== undefined && label.cloudImage !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['cloud-image'],
          params: { kind: UNKNOWN_KEY },
          message: `diskimage and cloud-image exclude each other; keep one`,
        });
      else if (label.diskimage === undefined && label.cloudImage === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['diskimage'],
          message: `missing required key 'diskimage' (or 'cloud-image'): what the label boots`,
        });
    }),
  )
  .transform(({ networks: choice, ...label }) => ({
    ...label,
    image: (label.diskimage !== undefined
      ? { diskimage: label.diskimage }
      : { cloudImage: label.cloudImage as string }) as LabelImage,
    ...(choice === undefined ? {} : { networkChoice: choice }),
  }));

const poolSchema = section('pools', {
  name: name(),
  'max-servers': count(),
  'max-cores': count().optional(),
  'max-ram': count().optional(),
  'ignore-provider-quota': z.boolean().default(false),
  'availability-zones': optionalStrings().optional(),
  networks: networks().optional(),
  'security-groups': optionalStrings().optional(),
  'auto-floating-ip': z.boolean().default(true),
  'host-key-checking': z.boolean().default(true),
  labels: z.array(poolLabelSchema),
}).transform(({ networks: choice, ...pool }) =>
  defined({
    ...pool,
    // Kept as before for code that reads the list; the full choice (auto, none or a list) is networkChoice.
    networks: Array.isArray(choice) ? choice : undefined,
    networkChoice: choice ?? ('auto' as NetworkChoice),
  }),
);

const providerDiskimageSchema = section('provider-diskimages', {
  name: name(),
  pause: z.boolean().default(false),
  'config-drive': z.boolean().default(true),
  meta: stringMap().default({}),
  'base-image': name().optional(),
  'flavor-name': name().optional(),
  username: name().optional(),
  'private-key': name().optional(),
  networks: networks().optional(),
  'connection-port': port().default(22),
}).transform(({ networks: choice, ...image }) => ({
  ...image,
  ...(choice === undefined ? {} : { networkChoice: choice }),
}));

const cloudImageSchema = section('cloud-images', {
  name: name(),
  'config-drive': z.boolean().optional(),
  'image-id': name().optional(),
  'image-name': name().optional(),
  username: name().optional(),
  'python-path': name().default('auto'),
  'connection-port': port().default(22),
});

const simulatorSchema = section('simulator', {
  seed: z.int().optional(),
  'boot-time': seconds().optional(),
  regions: strings().optional(),
  quota: section('simulator-quota', {
    instances: count().optional(),
    cores: count().optional(),
    ram: count().optional(),
  }).optional(),
});

const openstackProviderSchema = section('providers', {
  name: name(),
  driver: z.enum(DRIVERS).default('openstack'),
  'max-concurrency': count()
    .transform((n) => (n === 0 ? undefined : n))
    .optional(),
  cloud: name().optional(),
  'region-name': name().optional(),
  rate: rate().pipe(z.number().min(0)).default(1),
  'boot-timeout': seconds().default(60),
  'launch-timeout': seconds().default(3600),
  'launch-retries': count().default(3),
  'hostname-format': formatString(HOSTNAME_FIELDS).default('{label.name}-{provider.name}-{node.id}'),
  'image-name-format': formatString(IMAGE_NAME_FIELDS).default('{image_name}-{timestamp}'),
  'post-upload-hook': name().optional(),
  'image-upload-timeout': seconds().default(3600),
  'image-format': imageFormatSchema.optional(),
  'vhd-converter': vhdConverterSchema.optional(),
  diskimages: z.array(providerDiskimageSchema).default([]),
  'cloud-images': z.array(cloudImageSchema).default([]),
  pools: z.array(poolSchema).default([]),
  simulator: simulatorSchema.optional(),
}).transform((p) => defined(p));

/** A provider of another nodepool driver is one error at its driver line, whatever else it holds. */
const providerSchema = z
  .unknown()
  .check(
    z.superRefine((value, ctx) => {
      const driver = typeof value === 'object' && value !== null ? (value as { driver?: unknown }).driver : undefined;
      if (typeof driver === 'string' && (OTHER_DRIVERS as readonly string[]).includes(driver))
        ctx.addIssue({
          code: 'custom',
          path: ['driver'],
          input: driver,
          message: `driver ${driver} is not supported yet`,
        });
    }),
  )
  .pipe(openstackProviderSchema);

/** A diskimage as written: what it does not say comes from its parent, then from the defaults (inherit.ts). */
const diskimageSchema = section('diskimages', {
  name: name(),
  abstract: z.boolean().optional(),
  parent: name().optional(),
  builder: z.enum(BUILDERS).optional(),
  elements: z.array(name()).optional(),
  script: name().optional(),
  formats: z.array(imageFormatSchema).min(1).optional(),
  'keep-formats': z.array(imageFormatSchema).optional(),
  'delete-after-upload': z.boolean().optional(),
  'rebuild-age': seconds().optional(),
  'build-timeout': seconds().optional(),
  'dib-cmd': name().optional(),
  pause: z.boolean().optional(),
  'env-vars': stringMap().optional(),
  release: name().optional(),
  username: name().optional(),
  'python-path': name().optional(),
  'template-domain': domain().optional(),
  validate: z.boolean().optional(),
  'validate-script': name().optional(),
});

const webappSchema = section('webapp', {
  port: z.int().min(1).max(65535).default(8005),
  listen_address: name().default('127.0.0.1'),
});

const temporalSchema = section('temporal', {
  address: name().default('localhost:7233'),
  namespace: name().default('default'),
  'task-queue': name().default('nodepool'),
  tls: z.boolean().optional(),
  'tls-cert-path': name().optional(),
  'tls-key-path': name().optional(),
  'tls-ca-path': name().optional(),
  'tls-server-name': name().optional(),
});

const databaseSchema = section('database', {
  url: name().optional(),
  'data-dir': name().default('/var/lib/nodepool/db'),
});

export const configSchema = section('top', {
  labels: z.array(labelSchema).default([]),
  providers: z.array(providerSchema).default([]),
  diskimages: z.array(diskimageSchema).default([]),
  webapp: webappSchema.prefault({}),
  'elements-dir': name().optional(),
  'max-hold-age': secondsOrNone().optional(),
  'vhd-converter': vhdConverterSchema.default('auto'),
  'vhd-util': name().optional(),
  'images-dir': name().default('/var/lib/nodepool/images'),
  'build-log-dir': name().default('/var/log/nodepool/builds'),
  'build-log-retention': count().default(7),
  temporal: temporalSchema.prefault({}),
  database: databaseSchema.prefault({}),
}).transform((c) => defined(c));

export type ImageFormat = (typeof IMAGE_FORMATS)[number];
export type VhdConverter = (typeof VHD_CONVERTERS)[number];
export type Driver = (typeof DRIVERS)[number];
export type Builder = (typeof BUILDERS)[number];

/** The configuration as the schema reads it, before diskimage inheritance. */
export type ParsedConfig = z.output<typeof configSchema>;
/** A diskimage as written in the file (camelCase), before inheritance and defaults. */
export type DiskimageAsWritten = ParsedConfig['diskimages'][number];

/** A diskimage as built: its parents' settings and the defaults applied. Abstract diskimages are not in Config. */
export interface Diskimage {
  name: string;
  /** The diskimage it inherits from (direct parent), if any. */
  parent?: string;
  builder: Builder;
  /** diskimage-builder elements, the parents' first; undefined when none was given anywhere. */
  elements?: string[];
  /** Absolute path: the build script (script) or the setup script run on the template (snapshot). */
  script?: string;
  formats?: ImageFormat[];
  /** Seconds. */
  rebuildAge: number;
  /** Seconds. */
  buildTimeout: number;
  pause: boolean;
  envVars: Record<string, string>;
  release?: string;
  username?: string;
  /** nodepool's python-path: `auto` unless set. */
  pythonPath: string;
  /** The diskimage-builder command, possibly with arguments: `disk-image-create` unless set. */
  dibCmd: string;
  /** With deleteAfterUpload: formats kept on disk. */
  keepFormats: ImageFormat[];
  deleteAfterUpload: boolean;
  /** Template servers (snapshot builds) are named `<image>-<version>.template.<templateDomain>`. */
  templateDomain: string;
  /** A new READY upload boots one node before it becomes current. */
  validate: boolean;
  /** Absolute path of the script run over SSH on the validation node. */
  validateScript?: string;
}

export type Config = Simplify<Omit<ParsedConfig, 'diskimages'> & { diskimages: Diskimage[] }>;
export type Label = Config['labels'][number];
export type Provider = Config['providers'][number];
export type ProviderDiskimage = Provider['diskimages'][number];
export type ProviderCloudImage = Provider['cloudImages'][number];
export type Pool = Provider['pools'][number];
export type PoolLabel = Pool['labels'][number];
export type SimulatorSettings = NonNullable<Provider['simulator']>;
export type TemporalSettings = Config['temporal'];
export type DatabaseSettings = Config['database'];
export type WebappSettings = Config['webapp'];
