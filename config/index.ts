// The configuration's public face: load it, read its types, ask which formats an image needs.
export { ConfigError, formatIssue, type ConfigIssue } from './errors.ts';
export { loadConfig, parseConfig, type LoadOptions } from './load.ts';
export { imageFormatsForDiskimage, type CloudImageFormat } from './image-formats.ts';
export { parseDuration } from './schema.ts';
export type {
  Builder,
  Config,
  DatabaseSettings,
  Diskimage,
  Driver,
  ImageFormat,
  Label,
  Pool,
  PoolLabel,
  Provider,
  ProviderDiskimage,
  SimulatorSettings,
  TemporalSettings,
  VhdConverter,
} from './schema.ts';
