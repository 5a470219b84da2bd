// The clouds.yaml entries that reach a running simulator; printed by `nodepool sim-cloud` and used by tests.
import type { SimCloud } from '../simulator/index.ts';

export function cloudsYaml(sim: SimCloud, regions: string[]): string {
  return [
    'clouds:',
    '  sim:',
    '    auth:',
    `      auth_url: ${sim.authUrl}`,
    '      username: nodepool',
    '      password: secret',
    '      project_name: nodepool',
    '      user_domain_name: Default',
    '      project_domain_name: Default',
    `    region_name: ${regions[0]}`,
    '    identity_api_version: 3',
    '  sim-appcred:',
    '    auth_type: v3applicationcredential',
    '    auth:',
    `      auth_url: ${sim.authUrl}`,
    '      application_credential_id: nodepool-appcred',
    '      application_credential_secret: appcred-secret',
    `    region_name: ${regions[0]}`,
    '',
  ].join('\n');
}
