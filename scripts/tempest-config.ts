// What `npm run test:tempest` asks Tempest to judge: the suites, the tempest.conf that enables exactly what the
// simulator claims (docs/simulator.md), and the tests switched off with the reason for each. docs/simulator.md
// lists the same switches; change both together.

export const TEMPEST_VERSION = '47.0.0';

export interface Suite {
  name: string;
  /** Test ids (without the [tags] suffix) that belong to the suite. */
  pattern: RegExp;
  /** Every test must pass: none skipped, none failed. */
  allMustPass?: boolean;
}

export const SUITES: Suite[] = [
  {
    name: 'image v2 core',
    pattern:
      /^tempest\.api\.image\.v2\.(test_images\.(BasicOperationsImagesTest|ListUserImagesTest)|test_images_negative\.ImagesNegativeTest|test_images_tags\.|test_images_tags_negative\.)/,
    allMustPass: true,
  },
  { name: 'image v2', pattern: /^tempest\.api\.image\.v2\./ },
  { name: 'identity v3', pattern: /^tempest\.api\.identity\.v3\./ },
  {
    name: 'compute',
    pattern:
      /^tempest\.api\.compute\.(servers\.(test_create_server|test_servers_negative|test_list_servers_negative|test_server_metadata)\.|flavors\.)/,
  },
];

/** What runs: every suite above (admin tests are outside the claim: the simulator has no admin role). */
export const INCLUDE = [
  '^tempest\\.api\\.image\\.v2\\.',
  '^tempest\\.api\\.identity\\.v3\\.',
  '^tempest\\.api\\.compute\\.servers\\.(test_create_server|test_servers_negative|test_list_servers_negative|test_server_metadata)\\.',
  '^tempest\\.api\\.compute\\.flavors\\.',
];

export interface Switch {
  /** A tempest.conf setting (section.option = value) or an exclude regex. */
  what: string;
  why: string;
}

/** Tests switched off by regex, each with its reason (they do not run at all). */
export const EXCLUDE: Array<{ regex: string; why: string }> = [
  {
    regex: '^tempest\\.api\\.identity\\.v3\\.test_ec2_credentials\\.',
    why: 'EC2 credentials are not emulated (no Keystone credentials API)',
  },
  {
    regex: '^tempest\\.api\\.image\\.v2\\.(test_images_member|test_images\\.ListSharedImagesTest\\.)',
    why: 'image members (sharing an image with another project) are not emulated',
  },
  {
    regex: '^tempest\\.api\\.image\\.v2\\.test_images_metadefs_schema\\.',
    why: 'the metadata definitions catalog (metadefs) is not emulated',
  },
];

/** tempest.conf settings that turn off what the simulator does not claim, each with its reason. */
export const FEATURES: Array<{ section: string; option: string; value: string; why: string }> = [
  { section: 'service_available', option: 'cinder', value: 'false', why: 'Cinder (volumes) is not emulated' },
  { section: 'service_available', option: 'swift', value: 'false', why: 'Swift is not emulated' },
  { section: 'service_available', option: 'horizon', value: 'false', why: 'there is no dashboard' },
  {
    section: 'validation',
    option: 'run_validation',
    value: 'false',
    why: 'guests are not VMs: no console login, no guest agent, no pinging them',
  },
  {
    section: 'identity-feature-enabled',
    option: 'access_rules',
    value: 'false',
    why: 'application-credential access rules are not emulated',
  },
  {
    section: 'image-feature-enabled',
    option: 'image_format_enforcement',
    value: 'false',
    why: 'the simulator checks image data against disk_format only with the imageFormatEnforcement knob on',
  },
  { section: 'compute-feature-enabled', option: 'pause', value: 'false', why: 'pause is not emulated' },
  { section: 'compute-feature-enabled', option: 'suspend', value: 'false', why: 'suspend is not emulated' },
  { section: 'compute-feature-enabled', option: 'shelve', value: 'false', why: 'shelve is not emulated' },
  { section: 'compute-feature-enabled', option: 'rescue', value: 'false', why: 'rescue is not emulated' },
  { section: 'compute-feature-enabled', option: 'resize', value: 'false', why: 'resize is not emulated' },
  {
    section: 'compute-feature-enabled',
    option: 'cold_migration',
    value: 'false',
    why: 'migration is not emulated (one simulated host)',
  },
  {
    section: 'compute-feature-enabled',
    option: 'live_migration',
    value: 'false',
    why: 'migration is not emulated (one simulated host)',
  },
  {
    section: 'compute-feature-enabled',
    option: 'interface_attach',
    value: 'false',
    why: 'attaching interfaces (Neutron ports) is not emulated',
  },
  {
    section: 'compute-feature-enabled',
    option: 'metadata_service',
    value: 'false',
    why: 'there is no metadata service for guests',
  },
  {
    section: 'compute-feature-enabled',
    option: 'change_password',
    value: 'false',
    why: 'changing a guest password is not emulated',
  },
];

/** The rest of tempest.conf: where the cloud is and what it offers. */
export function tempestConf(opts: {
  authUrl: string;
  accountsFile: string;
  lockDir: string;
  logFile: string;
  imageRef: string;
  imageRefAlt: string;
  publicNetworkId: string;
}): string {
  const sections: Record<string, Record<string, string>> = {
    DEFAULT: { log_file: opts.logFile, debug: 'true', use_stderr: 'false' },
    oslo_concurrency: { lock_path: opts.lockDir },
    auth: {
      use_dynamic_credentials: 'false',
      test_accounts_file: opts.accountsFile,
      default_credentials_domain_name: 'Default',
      create_isolated_networks: 'false',
      tempest_roles: '',
    },
    identity: {
      uri_v3: `${opts.authUrl}/v3`,
      auth_version: 'v3',
      region: 'RegionOne',
      v3_endpoint_type: 'public',
    },
    'identity-feature-enabled': { api_v2: 'false', api_v3: 'true' },
    compute: {
      image_ref: opts.imageRef,
      image_ref_alt: opts.imageRefAlt,
      flavor_ref: '1',
      flavor_ref_alt: '2',
      region: 'RegionOne',
      endpoint_type: 'publicURL',
      min_microversion: '2.1',
      max_microversion: '2.104',
      build_interval: '1',
      build_timeout: '60',
      fixed_network_name: 'private',
    },
    'compute-feature-enabled': {},
    image: { region: 'RegionOne', endpoint_type: 'publicURL', build_interval: '1', build_timeout: '60' },
    'image-feature-enabled': { import_image: 'true' },
    // Neutron is on so that compute tests find their network by name (GET /v2.0/networks?name=); only the
    // network list is emulated and no network API test is run.
    network: { region: 'RegionOne', endpoint_type: 'publicURL', public_network_id: opts.publicNetworkId },
    service_available: { glance: 'true', nova: 'true', neutron: 'true' },
    validation: {},
  };
  for (const f of FEATURES) (sections[f.section] ??= {})[f.option] = f.value;
  return Object.entries(sections)
    .map(([name, opts]) => [`[${name}]`, ...Object.entries(opts).map(([k, v]) => `${k} = ${v}`), ''].join('\n'))
    .join('\n');
}
