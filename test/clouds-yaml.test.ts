import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { inspect } from 'node:util';
import { stringify } from 'yaml';
import { configFileCandidates, loadCloudConfig, type CloudsYamlOptions } from '../providers/openstack/clouds-yaml.ts';
import { Invalid } from '../providers/errors.ts';
import { adapterForCloud } from '../providers/index.ts';

/** A sandbox with its own cwd, home and site directory, so the machine's real files never interfere. */
function sandbox(env: NodeJS.ProcessEnv = {}) {
  const root = mkdtempSync(join(tmpdir(), 'clouds-yaml-'));
  const paths = {
    cwd: join(root, 'work'),
    home: join(root, 'home'),
    site: join(root, 'etc', 'openstack'),
  };
  for (const p of Object.values(paths)) mkdirSync(p, { recursive: true });
  const opts: CloudsYamlOptions = { cwd: paths.cwd, home: paths.home, siteDirs: [paths.site], env };
  const write = (file: string, data: unknown) => {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, typeof data === 'string' ? data : stringify(data));
    return file;
  };
  return { root, ...paths, opts, write };
}

function cloud(authUrl: string, extra: Record<string, unknown> = {}) {
  return {
    auth: {
      auth_url: authUrl,
      username: 'alice',
      password: 'hunter2-pass',
      project_name: 'ci',
      user_domain_name: 'Default',
      project_domain_name: 'Default',
    },
    ...extra,
  };
}

test('the current directory beats ~/.config/openstack, and files are never merged', () => {
  const s = sandbox();
  s.write(join(s.cwd, 'clouds.yaml'), { clouds: { a: cloud('https://cwd.example/identity') } });
  s.write(join(s.home, '.config', 'openstack', 'clouds.yaml'), {
    clouds: { a: cloud('https://home.example'), b: cloud('https://home.example') },
  });
  const a = loadCloudConfig('a', s.opts);
  assert.equal(a.authUrl, 'https://cwd.example/identity/v3');
  assert.equal(a.source.configFile, join(s.cwd, 'clouds.yaml'));
  assert.throws(() => loadCloudConfig('b', s.opts), /Cloud b was not found/);
});

test('OS_CLIENT_CONFIG_FILE goes first; a missing one falls through to the search path', () => {
  const s = sandbox();
  const explicit = s.write(join(s.root, 'elsewhere.yaml'), { clouds: { a: cloud('https://explicit.example/v3') } });
  s.write(join(s.cwd, 'clouds.yaml'), { clouds: { a: cloud('https://cwd.example') } });
  s.opts.env = { OS_CLIENT_CONFIG_FILE: explicit };
  assert.equal(loadCloudConfig('a', s.opts).authUrl, 'https://explicit.example/v3');
  s.opts.env = { OS_CLIENT_CONFIG_FILE: join(s.root, 'missing.yaml') };
  assert.equal(loadCloudConfig('a', s.opts).authUrl, 'https://cwd.example/v3');
});

test('XDG_CONFIG_HOME, then the site directory, and clouds.yml / clouds.json are found', () => {
  const s = sandbox();
  s.write(join(s.site, 'clouds.json'), JSON.stringify({ clouds: { a: cloud('https://site.example') } }));
  assert.equal(loadCloudConfig('a', s.opts).authUrl, 'https://site.example/v3');
  const xdg = join(s.root, 'xdg');
  s.write(join(xdg, 'openstack', 'clouds.yml'), { clouds: { a: cloud('https://xdg.example') } });
  s.opts.env = { XDG_CONFIG_HOME: xdg };
  assert.equal(loadCloudConfig('a', s.opts).authUrl, 'https://xdg.example/v3');
  const order = configFileCandidates(s.opts);
  assert.ok(order.indexOf(join(s.cwd, 'clouds.yaml')) < order.indexOf(join(xdg, 'openstack', 'clouds.yaml')));
  assert.ok(order.indexOf(join(xdg, 'openstack', 'clouds.json')) < order.indexOf(join(s.site, 'clouds.yaml')));
});

test('secure.yaml is deep-merged on top, its values winning', () => {
  const s = sandbox();
  const c = cloud('https://keystone.example');
  delete (c.auth as Record<string, unknown>).password;
  s.write(join(s.cwd, 'clouds.yaml'), { clouds: { a: { ...c, region_name: 'One' } } });
  s.write(join(s.home, '.config', 'openstack', 'secure.yaml'), {
    clouds: { a: { auth: { password: 'from-secure-file' }, region_name: 'Two' } },
  });
  const a = loadCloudConfig('a', s.opts);
  assert.equal(a.credentials.kind, 'password');
  assert.equal(a.credentials.kind === 'password' && a.credentials.password.reveal(), 'from-secure-file');
  assert.equal(a.regionName, 'Two');
  if (a.credentials.kind === 'password') assert.equal(a.credentials.username, 'alice');
  assert.equal(a.source.secureFile, join(s.home, '.config', 'openstack', 'secure.yaml'));
});

test('OS_CLOUD chooses the cloud, an explicit name beats it, and a lone cloud needs no name', () => {
  const s = sandbox();
  s.write(join(s.cwd, 'clouds.yaml'), {
    clouds: { a: cloud('https://a.example'), b: cloud('https://b.example') },
  });
  s.opts.env = { OS_CLOUD: 'b' };
  assert.equal(loadCloudConfig(undefined, s.opts).name, 'b');
  assert.equal(loadCloudConfig('a', s.opts).name, 'a');
  s.opts.env = {};
  assert.throws(() => loadCloudConfig(undefined, s.opts), /No cloud named.*OS_CLOUD/);
  const lone = sandbox();
  lone.write(join(lone.cwd, 'clouds.yaml'), { clouds: { only: cloud('https://only.example') } });
  assert.equal(loadCloudConfig(undefined, lone.opts).name, 'only');
});

test('OS_* variables form the envvars cloud (renamed by OS_CLOUD_NAME) and never patch file clouds', () => {
  const s = sandbox({
    OS_AUTH_URL: 'https://env.example:5000',
    OS_USERNAME: 'envuser',
    OS_PASSWORD: 'env-password',
    OS_PROJECT_NAME: 'envproject',
    OS_USER_DOMAIN_NAME: 'Default',
    OS_PROJECT_DOMAIN_ID: 'default',
    OS_REGION_NAME: 'RegionEnv',
    OS_IMAGE_FORMAT: 'vhd',
    OS_STDERR_CAPTURE: 'ignored',
  });
  s.write(join(s.cwd, 'clouds.yaml'), { clouds: { filed: cloud('https://file.example') } });
  const env = loadCloudConfig(undefined, s.opts);
  assert.equal(env.name, 'envvars');
  assert.equal(env.authUrl, 'https://env.example:5000/v3');
  assert.equal(env.regionName, 'RegionEnv');
  assert.equal(env.imageFormat, 'vhd');
  assert.equal(env.source.fromEnvironment, true);
  assert.deepEqual(env.credentials.kind === 'password' && env.credentials.scope, {
    projectName: 'envproject',
    projectDomainId: 'default',
  });
  const filed = loadCloudConfig('filed', s.opts);
  assert.equal(filed.authUrl, 'https://file.example/v3');
  assert.equal(filed.regionName, undefined);
  assert.equal(filed.credentials.kind === 'password' && filed.credentials.username, 'alice');

  s.opts.env = { ...s.opts.env, OS_CLOUD_NAME: 'mine' };
  assert.equal(loadCloudConfig(undefined, s.opts).name, 'mine');
});

test('selector variables alone make no envvars cloud', () => {
  const s = sandbox({ OS_REGION_NAME: 'R', OS_CLOUD_NAME: 'x' });
  assert.throws(() => loadCloudConfig('envvars', s.opts), /Cloud envvars was not found/);
});

test('a missing cloud names the cloud, every file searched, the file used and the clouds it has', () => {
  const s = sandbox();
  s.write(join(s.home, '.config', 'openstack', 'clouds.yaml'), { clouds: { present: cloud('https://x.example') } });
  s.write(join(s.cwd, 'clouds.yml'), 'clouds: [this is: not valid');
  let err: unknown;
  try {
    loadCloudConfig('absent', s.opts);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof Invalid, 'a config problem is Invalid: retrying cannot fix it');
  assert.match(err.message, /Cloud absent was not found/);
  for (const f of configFileCandidates(s.opts)) assert.ok(err.message.includes(f), `lists ${f}`);
  assert.match(err.message, /Skipped: .*clouds\.yml \(not valid YAML/);
  assert.match(err.message, /Used: .*home.*clouds\.yaml/);
  assert.match(err.message, /Clouds found: present/);
});

test('application credentials by id, and by name with a user; auth_type inferred from the secret', () => {
  const s = sandbox();
  s.write(join(s.cwd, 'clouds.yaml'), {
    clouds: {
      byid: {
        auth_type: 'v3applicationcredential',
        auth: {
          auth_url: 'https://k.example/v3',
          application_credential_id: 'cred-1',
          application_credential_secret: 'appcred-s3cret',
        },
      },
      byname: {
        auth: {
          auth_url: 'https://k.example/v3',
          application_credential_name: 'nodepool',
          application_credential_secret: 'appcred-s3cret',
          username: 'alice',
          user_domain_name: 'Default',
        },
      },
      broken: { auth_type: 'v3applicationcredential', auth: { auth_url: 'https://k.example' } },
    },
  });
  const byId = loadCloudConfig('byid', s.opts).credentials;
  assert.equal(byId.kind, 'application_credential');
  assert.equal(byId.kind === 'application_credential' && byId.id, 'cred-1');
  const byName = loadCloudConfig('byname', s.opts).credentials;
  assert.equal(byName.kind, 'application_credential');
  assert.equal(byName.kind === 'application_credential' && byName.name, 'nodepool');
  assert.throws(() => loadCloudConfig('broken', s.opts), /cloud broken in .* has no application_credential_secret/);
});

test('image_format, regions with values, interfaces and endpoint overrides', () => {
  const s = sandbox();
  s.write(join(s.cwd, 'clouds.yaml'), {
    clouds: {
      xen: cloud('https://xen.example/v3/', {
        image_format: 'vhd',
        regions: ['DFW', { name: 'IAD', values: { image_format: 'raw', interface: 'internal' } }],
        'image-endpoint-override': 'https://glance.example',
        network_endpoint_override: 'https://neutron.example/',
        compute_endpoint_type: 'admin',
        image_api_use_import: true,
      }),
      plain: cloud('https://plain.example'),
      badflag: cloud('https://plain.example', { image_api_use_import: 'sometimes' }),
    },
  });
  const dfw = loadCloudConfig('xen', s.opts);
  assert.equal(dfw.regionName, 'DFW', 'with no region_name the first region is used');
  assert.equal(dfw.imageFormat, 'vhd');
  assert.equal(dfw.authUrl, 'https://xen.example/v3');
  assert.deepEqual(dfw.interfaces, { compute: 'admin', image: 'public', network: 'public' });
  assert.deepEqual(dfw.endpointOverrides, { image: 'https://glance.example', network: 'https://neutron.example' });
  assert.equal(dfw.imageUseImport, true);
  const iad = loadCloudConfig('xen', { ...s.opts, region: 'IAD' });
  assert.equal(iad.imageFormat, 'raw');
  assert.deepEqual(iad.interfaces, { compute: 'admin', image: 'internal', network: 'internal' });
  assert.throws(() => loadCloudConfig('xen', { ...s.opts, region: 'LON' }), /Region LON .* valid choices: DFW, IAD/);
  assert.equal(loadCloudConfig('plain', s.opts).imageFormat, 'qcow2');
  assert.equal(loadCloudConfig('plain', s.opts).imageUseImport, false);
  assert.throws(
    () => loadCloudConfig('badflag', s.opts),
    /image_api_use_import must be true or false, not "sometimes"/,
  );
});

test('a secure.yaml that cannot be read is named in the error it may have caused', () => {
  const s = sandbox();
  // The password lives in secure.yaml, which cannot be read (a directory stands in for a file root could read).
  s.write(join(s.cwd, 'clouds.yaml'), {
    clouds: { a: { auth: { auth_url: 'https://k.example', username: 'alice', project_name: 'ci' } } },
  });
  mkdirSync(join(s.cwd, 'secure.yaml'));
  assert.throws(
    () => loadCloudConfig('a', s.opts),
    (err: Error) =>
      err instanceof Invalid &&
      /has no password/.test(err.message) &&
      err.message.includes(`Skipped secure file: ${join(s.cwd, 'secure.yaml')} (EISDIR)`),
  );
  assert.throws(() => loadCloudConfig('missing', s.opts), /Skipped secure file: .*secure\.yaml \(EISDIR\)/);
});

test('openstacksdk auth fix-ups: tenant alias, domain_name for both, which of top-level and auth wins', () => {
  const s = sandbox();
  s.write(join(s.cwd, 'clouds.yaml'), {
    clouds: {
      a: {
        project_name: 'top-project',
        username: 'top-user',
        auth: {
          auth_url: 'https://k.example',
          username: 'auth-user',
          password: 'pw-123456',
          tenant_name: 'auth-project',
          domain_name: 'Corp',
        },
      },
    },
  });
  const c = loadCloudConfig('a', s.opts).credentials;
  assert.equal(c.kind, 'password');
  if (c.kind !== 'password') return;
  assert.equal(c.username, 'auth-user', 'for plugin options auth wins');
  assert.equal(c.userDomainName, 'Corp');
  assert.deepEqual(
    c.scope,
    { projectName: 'top-project', projectDomainName: 'Corp' },
    'for project keys top-level wins',
  );
});

test('Keystone v2, vendor profiles, missing passwords and disabled TLS checks are refused clearly', () => {
  const s = sandbox();
  s.write(join(s.cwd, 'clouds.yaml'), {
    clouds: {
      v2: cloud('https://k.example/v2.0'),
      v2api: cloud('https://k.example', { identity_api_version: '2.0' }),
      rax: { profile: 'rackspace', auth: { username: 'u', password: 'p-123456' } },
      nopass: { auth: { auth_url: 'https://k.example', username: 'u', project_name: 'p' } },
      insecure: cloud('https://k.example', { verify: false }),
      noproject: { auth: { auth_url: 'https://k.example', username: 'u', password: 'p-123456' } },
    },
  });
  assert.throws(() => loadCloudConfig('v2', s.opts), /Keystone v3 only/);
  assert.throws(() => loadCloudConfig('v2api', s.opts), /identity_api_version 2\.0/);
  assert.throws(() => loadCloudConfig('rax', s.opts), /vendor profile/);
  assert.throws(() => loadCloudConfig('nopass', s.opts), /has no password .*secure\.yaml/);
  assert.throws(() => loadCloudConfig('insecure', s.opts), /NODE_EXTRA_CA_CERTS/);
  assert.throws(() => loadCloudConfig('noproject', s.opts), /names no project/);
});

test('a resolved cloud never shows its password or secret in JSON, inspect or string form', () => {
  const s = sandbox();
  s.write(join(s.cwd, 'clouds.yaml'), {
    clouds: {
      pw: cloud('https://k.example'),
      app: {
        auth: {
          auth_url: 'https://k.example',
          application_credential_id: 'id-1',
          application_credential_secret: 'appcred-s3cret',
        },
      },
    },
  });
  for (const [name, secret] of [
    ['pw', 'hunter2-pass'],
    ['app', 'appcred-s3cret'],
  ] as const) {
    const c = loadCloudConfig(name, s.opts);
    const shown = [
      JSON.stringify(c),
      inspect(c, { depth: 10 }),
      `${String(c.credentials.kind === 'password' ? c.credentials.password : c.credentials.secret)}`,
    ];
    for (const text of shown) assert.ok(!text.includes(secret), `${name}: ${text}`);
    assert.match(JSON.stringify(c), /\[redacted\]/);
  }
});

test('adapters are reused for the same cloud, and a credential rotated in secure.yaml gets a new one', () => {
  const s = sandbox();
  s.write(join(s.cwd, 'clouds.yaml'), { clouds: { ci: cloud('https://keystone.example.com:5000/v3') } });
  const first = adapterForCloud('ci', s.opts);
  assert.equal(adapterForCloud('ci', s.opts), first, 'one adapter (one token) per cloud while nothing changes');
  assert.notEqual(adapterForCloud('ci', { ...s.opts, fresh: true }), first, 'fresh builds a new one');

  s.write(join(s.cwd, 'secure.yaml'), { clouds: { ci: { auth: { password: 'rotated-pass' } } } });
  const rotated = adapterForCloud('ci', s.opts);
  assert.notEqual(rotated, first, 'the rotated password is picked up without a restart');
  assert.equal(adapterForCloud('ci', s.opts), rotated);
  assert.doesNotMatch(inspect(rotated), /rotated-pass|hunter2-pass/);

  // Parsed files are reused while unchanged; a rewrite of the same length right away is still a change.
  s.write(join(s.cwd, 'secure.yaml'), { clouds: { ci: { auth: { password: 'rotated-pas2' } } } });
  const again = adapterForCloud('ci', s.opts);
  assert.notEqual(again, rotated, 'a second rotation, same size, is picked up too');
  const resolved = loadCloudConfig('ci', s.opts);
  assert.equal(resolved.credentials.kind === 'password' && resolved.credentials.password.reveal(), 'rotated-pas2');
});

test('endpoint overrides lose trailing slashes, which would double up with the paths the driver appends', () => {
  const s = sandbox();
  s.write(join(s.cwd, 'clouds.yaml'), {
    clouds: {
      ci: cloud('https://keystone.example.com:5000/v3', {
        compute_endpoint_override: 'https://nova.example.com/v2.1/',
        image_endpoint_override: 'https://glance.example.com//',
      }),
    },
  });
  const c = loadCloudConfig('ci', s.opts);
  assert.equal(c.endpointOverrides.compute, 'https://nova.example.com/v2.1');
  assert.equal(c.endpointOverrides.image, 'https://glance.example.com');
});
