// Every key of Zuul nodepool's configuration reference (top level, labels, diskimages and the OpenStack driver),
// plus the keys this project adds, with what each one does here. The one place that says which keys are
// implemented, replaced or not yet supported: the schema refuses and accepts keys from it, the loader prints the
// notices from it, and docs/configuration.md's key table is generated from it (`npm run docs:config`).

/**
 * - implemented: parsed into the Config and acted on (`acts` says where);
 * - replaced: nodepool's, meaningless here; accepted with a notice saying what replaces it (`acts`);
 * - not-yet: nodepool's, not implemented; a located error "KEY is nodepool's but not supported yet";
 * - extension: ours, not nodepool's (nodepool-on-Temporal).
 */
export type KeyStatus = 'implemented' | 'replaced' | 'not-yet' | 'extension';

export interface KeyInfo {
  key: string;
  status: KeyStatus;
  /** The value's form, in the terms of docs/configuration.md's "Value types". */
  type: string;
  /** The default here; `required` when it must be given. */
  default?: string;
  /** Where it acts (implemented, extension) or what replaces it (replaced). */
  acts: string;
  /** Replaced keys: the notice printed when the key is found. */
  notice?: string;
}

export type SectionId =
  | 'top'
  | 'webapp'
  | 'zookeeper-servers'
  | 'zookeeper-tls'
  | 'tenant-resource-limits'
  | 'temporal'
  | 'database'
  | 'labels'
  | 'diskimages'
  | 'providers'
  | 'provider-diskimages'
  | 'cloud-images'
  | 'pools'
  | 'pool-labels'
  | 'simulator'
  | 'simulator-quota';

export interface SectionInfo {
  id: SectionId;
  /** How keys of this section are written in the doc table and in messages: `providers[].pools[].`. */
  prefix: string;
  /**
   * Where its mappings are in the file: segments, `*` for every item of a list. Absent for sections that are
   * only documented (their parent key is replaced or not supported, so their keys are never read).
   */
  at?: readonly string[];
  keys: readonly KeyInfo[];
}

const TEMPORAL_INSTEAD = 'Temporal coordinates the workers instead of ZooKeeper: see the `temporal` section';

const impl = (key: string, type: string, def: string | undefined, acts: string): KeyInfo => ({
  key,
  status: 'implemented',
  type,
  ...(def === undefined ? {} : { default: def }),
  acts,
});
const ours = (key: string, type: string, def: string | undefined, acts: string): KeyInfo => ({
  key,
  status: 'extension',
  type,
  ...(def === undefined ? {} : { default: def }),
  acts,
});
const replaced = (key: string, type: string, acts: string, notice?: string): KeyInfo => ({
  key,
  status: 'replaced',
  type,
  acts,
  ...(notice === undefined ? {} : { notice }),
});
const zookeeper = (key: string, type: string): KeyInfo =>
  replaced(
    key,
    type,
    TEMPORAL_INSTEAD,
    `nodepool's ${key} is not used: Temporal coordinates the workers instead of ZooKeeper (see the temporal section)`,
  );
/** `acts`: what it does in nodepool. */
const notYet = (key: string, type: string, acts: string): KeyInfo => ({
  key,
  status: 'not-yet',
  type,
  acts,
});

export const SECTIONS: readonly SectionInfo[] = [
  {
    id: 'top',
    prefix: '',
    at: [],
    keys: [
      replaced(
        'webapp',
        'mapping',
        'our status endpoints (/image-list, /dib-image-list, /node-list, /label-list, /request-list, /metrics) listen on its `port` and `listen_address`',
        "nodepool's webapp is replaced by our status endpoints (/image-list, /node-list, …, /metrics), which listen on its port and listen_address",
      ),
      impl('elements-dir', 'path', 'none', 'dib builds: the elements path given to `dib-cmd`'),
      impl(
        'images-dir',
        'path',
        '`/var/lib/nodepool/images`',
        'builds write images here; the worker creates it at start',
      ),
      notYet('images-dir-required-free', 'count (MiB)', 'nodepool: builds wait for this much free space in images-dir'),
      impl('build-log-dir', 'path', '`/var/log/nodepool/builds`', "builds: each build's log file"),
      impl('build-log-retention', 'count', '`7`', 'builds: logs kept per diskimage'),
      zookeeper('zookeeper-servers', 'list'),
      zookeeper('zookeeper-tls', 'mapping'),
      zookeeper('zookeeper-timeout', 'seconds'),
      impl('labels', 'list', '`[]`', 'the labels users request'),
      impl('max-hold-age', 'seconds', 'none (`0`: none)', 'pools: held nodes older than this are deleted'),
      impl('diskimages', 'list', '`[]`', 'the images built'),
      impl('providers', 'list', '`[]`', 'the clouds'),
      notYet('tenant-resource-limits', 'list', 'nodepool: servers, cores and RAM limits per Zuul tenant'),
      ours('vhd-converter', '`auto` \\| `builtin` \\| `vhd-util`', '`auto`', 'conversions: how VHD images are made'),
      ours('vhd-util', 'path', 'none (search `PATH`)', 'conversions: the `vhd-util` program'),
      ours('temporal', 'mapping', 'see below', 'the worker and CLI: the Temporal service'),
      ours('database', 'mapping', 'see below', 'the worker: where records are kept'),
    ],
  },
  {
    id: 'webapp',
    prefix: 'webapp.',
    at: ['webapp'],
    keys: [
      impl('port', 'count', '`8005`', 'status endpoints: the port'),
      impl(
        'listen_address',
        'string',
        '`127.0.0.1` (nodepool: `0.0.0.0`)',
        'status endpoints: the address; loopback unless set',
      ),
    ],
  },
  {
    id: 'zookeeper-servers',
    prefix: 'zookeeper-servers[].',
    keys: [
      replaced('host', 'string', 'with `zookeeper-servers`'),
      replaced('port', 'count', 'with `zookeeper-servers`'),
      replaced('chroot', 'string', 'with `zookeeper-servers`'),
    ],
  },
  {
    id: 'zookeeper-tls',
    prefix: 'zookeeper-tls.',
    keys: [
      replaced('ca', 'path', 'with `zookeeper-tls`'),
      replaced('cert', 'path', 'with `zookeeper-tls`'),
      replaced('key', 'path', 'with `zookeeper-tls`'),
    ],
  },
  {
    id: 'tenant-resource-limits',
    prefix: 'tenant-resource-limits[].',
    keys: [
      notYet('tenant-name', 'string', 'with `tenant-resource-limits`'),
      notYet('max-cores', 'count', 'with `tenant-resource-limits`'),
      notYet('max-ram', 'count', 'with `tenant-resource-limits`'),
      notYet('max-servers', 'count', 'with `tenant-resource-limits`'),
    ],
  },
  {
    id: 'temporal',
    prefix: 'temporal.',
    at: ['temporal'],
    keys: [
      ours('address', 'name', '`localhost:7233`', 'worker and CLI: the Temporal frontend (`TEMPORAL_ADDRESS` wins)'),
      ours('namespace', 'name', '`default`', 'worker and CLI: the Temporal namespace (`TEMPORAL_NAMESPACE` wins)'),
      ours('task-queue', 'name', '`nodepool`', 'worker and CLI: the task queue (`NODEPOOL_TASK_QUEUE` wins)'),
      ours('tls', 'boolean', 'on when a TLS key is set', 'worker and CLI: TLS to Temporal (`TEMPORAL_TLS` wins)'),
      ours(
        'tls-cert-path',
        'path',
        'none',
        'worker and CLI: mTLS client certificate (`TEMPORAL_TLS_CLIENT_CERT_PATH` wins)',
      ),
      ours('tls-key-path', 'path', 'none', 'worker and CLI: mTLS client key (`TEMPORAL_TLS_CLIENT_KEY_PATH` wins)'),
      ours(
        'tls-ca-path',
        'path',
        'system CAs',
        "worker and CLI: the server's CA (`TEMPORAL_TLS_SERVER_CA_CERT_PATH` wins)",
      ),
      ours('tls-server-name', 'name', 'the host', "worker and CLI: the name on the server's certificate"),
    ],
  },
  {
    id: 'database',
    prefix: 'database.',
    at: ['database'],
    keys: [
      ours('url', 'name', 'none', 'worker: a PostgreSQL URL (`DATABASE_URL` wins); without it, embedded PGlite'),
      ours('data-dir', 'path', '`/var/lib/nodepool/db`', "worker: the embedded database's directory"),
    ],
  },
  {
    id: 'labels',
    prefix: 'labels[].',
    at: ['labels', '*'],
    keys: [
      impl('name', 'name', 'required', 'the label users request; pools serve it'),
      impl('min-ready', 'count', '`0`', 'pools: ready nodes kept waiting (`-1`, disabled, is not supported yet)'),
      impl('max-ready-age', 'seconds', 'none (`0`: none)', 'pools: ready nodes idle this long are replaced'),
    ],
  },
  {
    id: 'diskimages',
    prefix: 'diskimages[].',
    at: ['diskimages', '*'],
    keys: [
      impl('name', 'name', 'required', "referred to by providers' diskimages and pool labels"),
      impl('abstract', 'boolean', '`false`', 'loading: never built nor uploaded; only a `parent` for others'),
      impl('parent', 'name', 'none', 'loading: inherits the parent diskimage (see Diskimage inheritance)'),
      impl('build-timeout', 'seconds', '`28800` (`8h`)', 'image build workflow: bounds the whole build'),
      impl('dib-cmd', 'string', '`disk-image-create`', 'dib builds: the command run (it may carry arguments)'),
      impl(
        'delete-after-upload',
        'boolean',
        '`false`',
        'builds: local files are deleted once every upload is READY (but `keep-formats`)',
      ),
      impl('elements', 'list of names', '`[]`', "dib builds: the elements; appended to the parent's"),
      impl('env-vars', 'map', '`{}`', "builds: the environment; merged over the parent's"),
      impl('formats', 'list of formats', 'derived', 'builds: formats made (see Image formats)'),
      impl('keep-formats', 'list of formats', '`[]`', 'builds: with `delete-after-upload`, the formats kept on disk'),
      impl('pause', 'boolean', '`false`', 'builds: no new builds of it (uploads of existing builds go on)'),
      impl(
        'python-path',
        'string',
        '`auto`',
        "builds and nodes: the image's python interpreter (nodepool hands it to Zuul)",
      ),
      impl('rebuild-age', 'seconds', '`86400` (`24h`)', 'builds: rebuilt when the newest READY build is older'),
      impl('release', 'string', 'none', 'dib builds: `DIB_RELEASE`; a number is taken as its text (`9` is `"9"`)'),
      notYet('shell-type', 'string', "nodepool: the node's shell, for Zuul (ansible_shell_type)"),
      impl(
        'username',
        'name',
        'none (nodepool: `zuul`)',
        'nodes booted from it: the login user; snapshot builds: the template login',
      ),
      ours('builder', '`dib` \\| `script` \\| `snapshot`', '`dib`', 'builds: how the image is made (see Builders)'),
      ours(
        'script',
        'executable path',
        'required for `script`, `snapshot`',
        'script builds: the build; snapshot builds: the setup run on the template',
      ),
      ours(
        'template-domain',
        'name',
        '`nodepool.local`',
        'snapshot builds: template servers are named `<image>-<version>.template.<template-domain>`',
      ),
      ours('validate', 'boolean', '`false`', 'uploads: a new READY upload boots one node before it becomes current'),
      ours(
        'validate-script',
        'executable path',
        'none',
        'uploads: run over SSH on the validation node (needs `validate`)',
      ),
    ],
  },
  {
    id: 'providers',
    prefix: 'providers[].',
    at: ['providers', '*'],
    keys: [
      impl('name', 'name', 'required', "tags the provider's servers and images"),
      impl(
        'driver',
        '`openstack` \\| `simulator`',
        '`openstack`',
        "the driver; nodepool's other drivers: `driver X is not supported yet`",
      ),
      impl('max-concurrency', 'count', 'none (`0`: none)', 'pools: launches under way at once in this provider'),
      notYet('priority', 'count', "nodepool: the default priority of the provider's pools"),
      impl('cloud', 'name', 'required for `openstack`', 'driver: the clouds.yaml cloud'),
      impl('region-name', 'name', "the cloud's", 'driver: the region'),
      impl('boot-timeout', 'seconds', '`60`', 'launches: from ACTIVE to a reachable SSH host key'),
      impl('launch-timeout', 'seconds', '`3600`', 'launches: from create to ACTIVE'),
      impl('launch-retries', 'count', '`3`', 'launches: attempts before a request fails'),
      replaced(
        'nodepool-id',
        'string',
        "deprecated in nodepool; our servers and images are found by their provider's tags",
        "nodepool-id is deprecated in nodepool and not used: servers and images are recognised by their provider's tags",
      ),
      impl('rate', 'number ≥ 0', '`1.0`', 'driver: seconds between API calls'),
      impl('hostname-format', 'format string', '`{label.name}-{provider.name}-{node.id}`', 'launches: the server name'),
      impl('image-name-format', 'format string', '`{image_name}-{timestamp}`', 'uploads: the cloud image name'),
      impl(
        'post-upload-hook',
        'executable path',
        'none',
        'uploads: run as `HOOK PROVIDER EXTERNAL_IMAGE_ID LOCAL_IMAGE_FILE` before an upload is used; non-zero deletes it',
      ),
      replaced(
        'clean-floating-ips',
        'boolean',
        'the driver allocates no floating IPs (it does not use Neutron for addresses), so there are none to clean',
        'clean-floating-ips is not used: the driver allocates no floating IPs, so none are left to clean',
      ),
      notYet('port-cleanup-interval', 'seconds', 'nodepool: deletes ports left DOWN this long'),
      impl('image-upload-timeout', 'seconds', '`3600`', "uploads: each upload's time limit"),
      impl('diskimages', 'list', '`[]`', 'uploads: the diskimages uploaded here'),
      impl('cloud-images', 'list', '`[]`', 'launches: existing cloud images pool labels boot from'),
      impl('pools', 'list', '`[]`', 'launches: the pools booting nodes here'),
      ours(
        'image-format',
        'format',
        'clouds.yaml `image_format`, else `qcow2`',
        'builds and uploads: the format uploaded',
      ),
      ours('vhd-converter', 'as top level', 'the top-level value', 'conversions: overrides the top-level value'),
      ours('simulator', 'mapping', 'none', '`driver: simulator`: the simulated cloud'),
    ],
  },
  {
    id: 'provider-diskimages',
    prefix: 'providers[].diskimages[].',
    at: ['providers', '*', 'diskimages', '*'],
    keys: [
      impl('name', 'name', 'required', 'a top-level diskimage, not abstract'),
      impl('pause', 'boolean', '`false`', 'uploads: none to this provider'),
      impl('config-drive', 'boolean', "`true` (nodepool: the cloud's)", 'launches: boot with a config drive'),
      impl('meta', 'map', '`{}`', 'uploads: properties set on the uploaded image'),
      notYet('connection-type', 'string', 'nodepool: how Zuul connects to the node (ssh, winrm, …)'),
      impl('connection-port', 'count', '`22`', 'ready checks and snapshot setup scripts: the SSH port'),
      ours(
        'base-image',
        'name',
        'required for `snapshot`',
        'snapshot builds: the cloud image (name or id) the template boots from',
      ),
      ours('flavor-name', 'name', 'required for `snapshot`', 'snapshot builds: the flavor of the template'),
      ours(
        'username',
        'name',
        "the diskimage's `username`, else `root`",
        'snapshot builds: the login running the setup script',
      ),
      ours('private-key', 'path', 'none', 'snapshot builds: the SSH key running the setup script'),
      ours('networks', 'networks', '`auto`', 'snapshot builds: the networks of the template'),
    ],
  },
  {
    id: 'cloud-images',
    prefix: 'providers[].cloud-images[].',
    at: ['providers', '*', 'cloud-images', '*'],
    keys: [
      impl(
        'name',
        'name',
        'required',
        'pool labels refer to it (`cloud-image`); the cloud image name or id unless `image-id` / `image-name`',
      ),
      impl('config-drive', 'boolean', "none (the cloud's)", 'launches: boot with a config drive'),
      impl('image-id', 'string', 'none', 'launches: the cloud image, by id (excludes `image-name`)'),
      impl('image-name', 'string', 'none', 'launches: the cloud image, by name or id (excludes `image-id`)'),
      impl('username', 'name', 'none', 'nodes booted from it: the login user'),
      impl('python-path', 'string', '`auto`', 'nodes booted from it: the python interpreter'),
      notYet('shell-type', 'string', "nodepool: the node's shell, for Zuul (ansible_shell_type)"),
      notYet('connection-type', 'string', 'nodepool: how Zuul connects to the node (ssh, winrm, …)'),
      impl('connection-port', 'count', '`22`', 'ready checks and snapshot setup scripts: the SSH port'),
    ],
  },
  {
    id: 'pools',
    prefix: 'providers[].pools[].',
    at: ['providers', '*', 'pools', '*'],
    keys: [
      impl('name', 'name', 'required', 'unique within the provider'),
      notYet('priority', 'count', 'nodepool: requests go to pools of lower priority numbers first'),
      notYet('node-attributes', 'map', 'nodepool: attributes stored with each node for Zuul'),
      impl('max-cores', 'count', 'none', "pools: vCPUs across the pool's servers"),
      impl('max-servers', 'count', 'required', 'pools: servers at once'),
      impl('max-ram', 'count (MB)', 'none', "pools: RAM across the pool's servers"),
      notYet('max-volumes', 'count', "nodepool: volumes across the pool's servers"),
      notYet('max-volume-gb', 'count', "nodepool: volume gigabytes across the pool's servers"),
      impl('ignore-provider-quota', 'boolean', '`false`', "pools: launch without checking the cloud's quota"),
      impl('availability-zones', 'list of names', 'any', 'launches: zones to boot in'),
      impl(
        'networks',
        'networks',
        '`auto`',
        'launches: networks attached (names resolved through Neutron); `auto` and `none` are ours',
      ),
      impl('security-groups', 'list of names', "the project's default", 'launches: security groups of each server'),
      impl(
        'auto-floating-ip',
        'boolean',
        '`true`',
        'launches: a no-op, the driver allocates no floating IPs (no Neutron addresses)',
      ),
      impl('host-key-checking', 'boolean', '`true`', 'launches: wait for and record the SSH host keys'),
      impl('labels', 'list', 'required', 'the labels this pool serves'),
    ],
  },
  {
    id: 'pool-labels',
    prefix: 'providers[].pools[].labels[].',
    at: ['providers', '*', 'pools', '*', 'labels', '*'],
    keys: [
      impl('name', 'name', 'required', 'a top-level label'),
      impl(
        'diskimage',
        'name',
        'this or `cloud-image`',
        "launches: boot the current upload of this provider's diskimage",
      ),
      impl('cloud-image', 'name', 'this or `diskimage`', "launches: boot one of this provider's `cloud-images`"),
      impl('flavor-name', 'name', 'required', 'launches: the flavor (containing this text when `min-ram` is set)'),
      impl('min-ram', 'count (MB)', 'none', 'launches: the smallest flavor with this RAM (with `flavor-name`)'),
      impl('boot-from-volume', 'boolean', '`false`', 'launches: boot from a volume made from the image'),
      impl('volume-size', 'count (GB)', '`50`', 'launches: the boot volume size, with `boot-from-volume`'),
      impl('networks', 'networks', "the pool's", "launches: overrides the pool's `networks`"),
      impl('key-name', 'name', 'none', 'launches: the key pair to boot with'),
      impl('console-log', 'boolean', '`false`', 'launches: a failed ready check saves the console log'),
      impl('instance-properties', 'map', '`{}`', 'launches: server metadata'),
      notYet('dynamic-instance-properties', 'map', 'nodepool: instance-properties filled in from the request'),
      impl('userdata', 'string', 'none', 'launches: the user data given to the server'),
    ],
  },
  {
    id: 'simulator',
    prefix: 'providers[].simulator.',
    at: ['providers', '*', 'simulator'],
    keys: [
      ours('seed', 'whole number', "the simulator's", "the simulated cloud's random choices"),
      ours('boot-time', 'seconds', "the simulator's", 'how long a server takes to become ACTIVE'),
      ours('regions', 'list of names', "the simulator's", 'regions the simulated cloud offers'),
      ours('quota', 'mapping', "the simulator's", "the simulated project's quota (below)"),
    ],
  },
  {
    id: 'simulator-quota',
    prefix: 'providers[].simulator.quota.',
    at: ['providers', '*', 'simulator', 'quota'],
    keys: [
      ours('instances', 'count', "the simulator's", 'servers'),
      ours('cores', 'count', "the simulator's", 'vCPUs'),
      ours('ram', 'count (MB)', "the simulator's", 'RAM'),
    ],
  },
];

export function sectionInfo(id: SectionId): SectionInfo {
  const found = SECTIONS.find((s) => s.id === id);
  if (!found) throw new Error(`no section ${id}`);
  return found;
}

/** The notice printed when a replaced key is found. */
export function replacedNotice(key: KeyInfo): string {
  return key.notice ?? `nodepool's ${key.key} is not used here: ${key.acts}`;
}

/** The error for a nodepool key not supported yet. */
export function notYetMessage(key: string): string {
  return `${key} is nodepool's but not supported yet`;
}

/** Drivers of nodepool other than openstack. */
export const OTHER_DRIVERS = [
  'static',
  'kubernetes',
  'openshift',
  'openshiftpods',
  'aws',
  'azure',
  'gce',
  'ibmvpc',
  'metastatic',
] as const;
