// The shape of nodepool.yaml. Keys are kebab-case in the file, as in nodepool; every section turns them
// into camelCase for the code, so the rest of the project never sees a quoted 'max-servers'.
import { z } from 'zod';
import { didYouMean } from './suggest.ts';

type Camel<S extends string> = S extends `${infer Head}-${infer Tail}` ? `${Head}${Capitalize<Camel<Tail>>}` : S;
type CamelKeys<T> = { [K in keyof T as K extends string ? Camel<K> : K]: T[K] };
type Simplify<T> = { [K in keyof T]: T[K] } & {};

function camel(key: string): string {
  return key.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Marks issues whose location is the offending key itself rather than its value. */
export const UNKNOWN_KEY = 'unknown-key';

/**
 * A mapping with a fixed set of keys. Unknown keys are reported even when other values in the same mapping
 * are wrong (zod skips ordinary refinements then), so one run shows every mistake.
 */
function section<S extends z.ZodRawShape>(shape: S) {
  const keys = Object.keys(shape);
  return z
    .looseObject(shape)
    .check(
      z.superRefine(
        (value, ctx) => {
          if (typeof value !== 'object' || value === null || Array.isArray(value)) return;
          for (const key of Object.keys(value)) {
            if (keys.includes(key)) continue;
            const hint = didYouMean(key, keys);
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

/** How a found value is named in messages. */
export function describe(value: unknown): string {
  if (value === null) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value);
  return String(value);
}

const name = () => z.string().min(1);
const count = () => z.int().min(0);
const strings = () => z.array(name()).min(1);
const stringMap = () => z.record(z.string(), z.string());

export const IMAGE_FORMATS = ['qcow2', 'raw', 'vhd'] as const;
export const imageFormatSchema = z.enum(IMAGE_FORMATS);
export const VHD_CONVERTERS = ['auto', 'builtin', 'vhd-util'] as const;
const vhdConverterSchema = z.enum(VHD_CONVERTERS);
export const DRIVERS = ['openstack', 'simulator'] as const;
export const BUILDERS = ['dib', 'script'] as const;

const labelSchema = section({
  name: name(),
  'min-ready': count().default(0),
  'max-ready-age': seconds().optional(),
});

const poolLabelSchema = section({
  name: name(),
  diskimage: name(),
  'flavor-name': name(),
  'key-name': name().optional(),
  'min-ram': count().optional(),
});

const poolSchema = section({
  name: name(),
  'max-servers': count(),
  'max-cores': count().optional(),
  'max-ram': count().optional(),
  'availability-zones': strings().optional(),
  networks: strings().optional(),
  labels: z.array(poolLabelSchema),
});

const providerDiskimageSchema = section({
  name: name(),
  pause: z.boolean().default(false),
  'config-drive': z.boolean().default(true),
  meta: stringMap().default({}),
});

const simulatorSchema = section({
  seed: z.int().optional(),
  'boot-time': seconds().optional(),
  regions: strings().optional(),
  quota: section({
    instances: count().optional(),
    cores: count().optional(),
    ram: count().optional(),
  }).optional(),
});

const providerSchema = section({
  name: name(),
  driver: z.enum(DRIVERS).default('openstack'),
  cloud: name().optional(),
  'region-name': name().optional(),
  rate: z.number().min(0).default(1),
  'boot-timeout': seconds().default(60),
  'launch-timeout': seconds().default(3600),
  'launch-retries': count().default(3),
  'image-format': imageFormatSchema.optional(),
  'vhd-converter': vhdConverterSchema.optional(),
  diskimages: z.array(providerDiskimageSchema).default([]),
  pools: z.array(poolSchema).default([]),
  simulator: simulatorSchema.optional(),
});

const diskimageSchema = section({
  name: name(),
  builder: z.enum(BUILDERS).default('dib'),
  elements: strings().optional(),
  script: name().optional(),
  formats: z.array(imageFormatSchema).min(1).optional(),
  'rebuild-age': seconds().default(86400),
  'build-timeout': seconds().default(28800),
  pause: z.boolean().default(false),
  'env-vars': stringMap().default({}),
  release: name().optional(),
  username: name().optional(),
});

const temporalSchema = section({
  address: name().default('localhost:7233'),
  namespace: name().default('default'),
  'task-queue': name().default('nodepool'),
});

const databaseSchema = section({
  url: name().optional(),
  'data-dir': name().default('/var/lib/nodepool/db'),
});

export const configSchema = section({
  labels: z.array(labelSchema).default([]),
  providers: z.array(providerSchema).default([]),
  diskimages: z.array(diskimageSchema).default([]),
  'max-hold-age': seconds().optional(),
  'vhd-converter': vhdConverterSchema.default('auto'),
  'vhd-util': name().optional(),
  'images-dir': name().default('/var/lib/nodepool/images'),
  'build-log-dir': name().default('/var/log/nodepool/builds'),
  'build-log-retention': count().default(7),
  temporal: temporalSchema.prefault({}),
  database: databaseSchema.prefault({}),
});

export type Config = z.output<typeof configSchema>;
export type Label = Config['labels'][number];
export type Provider = Config['providers'][number];
export type ProviderDiskimage = Provider['diskimages'][number];
export type Pool = Provider['pools'][number];
export type PoolLabel = Pool['labels'][number];
export type SimulatorSettings = NonNullable<Provider['simulator']>;
export type Diskimage = Config['diskimages'][number];
export type TemporalSettings = Config['temporal'];
export type DatabaseSettings = Config['database'];
export type ImageFormat = (typeof IMAGE_FORMATS)[number];
export type VhdConverter = (typeof VHD_CONVERTERS)[number];
export type Driver = (typeof DRIVERS)[number];
export type Builder = (typeof BUILDERS)[number];
