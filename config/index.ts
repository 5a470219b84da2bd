// The configuration's public face: load it, read its types, ask which formats an image needs, name things.
export { ConfigError, formatIssue, type ConfigIssue } from './errors.ts';
export { loadConfig, parseConfig, parseConfigs, type ConfigSource, type LoadOptions } from './load.ts';
export { imageFormatsForDiskimage, type CloudImageFormat } from './image-formats.ts';
export { formatHostname, formatImageName, templateServerName } from './names.ts';
export { parseDuration } from './schema.ts';
export type {
  Builder,
  Config,
  DatabaseSettings,
  Diskimage,
  Driver,
  ImageFormat,
  Label,
  LabelImage,
  NetworkChoice,
  Pool,
  PoolLabel,
  Provider,
  ProviderCloudImage,
  ProviderDiskimage,
  SimulatorSettings,
  TemporalSettings,
  VhdConverter,
  WebappSettings,
} from './schema.ts';
