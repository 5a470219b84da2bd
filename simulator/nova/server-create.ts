// POST /servers: validates the request the way Nova's schema and API layer do, enforces quota, then records a
// BUILD server whose boot time and fate are drawn from the seeded stream and binds its SSH endpoint.
import type { Cloud } from '../cloud.ts';
import { AVAILABILITY_ZONE } from '../cloud.ts';
import type { Reply, RequestContext } from '../http.ts';
import { HttpError, isObject, isoSeconds, readJson } from '../http.ts';
import { generateHostKey } from '../ssh.ts';
import type { ImageRecord, ServerRecord, TokenRecord } from '../state.ts';
import { flavorById } from './flavors.ts';
import { atLeast } from './microversion.ts';
import { checkQuota } from './quota.ts';
import { serverLinks } from './servers.ts';
import { checkMetadata, invalid } from './validation.ts';

const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

const CREATE_KEYS = new Set([
  'name',
  'imageRef',
  'flavorRef',
  'metadata',
  'min_count',
  'max_count',
  'networks',
  'key_name',
  'user_data',
  'security_groups',
  'availability_zone',
  'config_drive',
  'block_device_mapping',
  'block_device_mapping_v2',
  'description',
  'hostname',
  'tags',
  'trusted_image_certificates',
  'host',
  'hypervisor_hostname',
  'OS-DCF:diskConfig',
  'adminPass',
  'accessIPv4',
  'accessIPv6',
  'personality',
  'return_reservation_id',
]);

export async function createServer(cloud: Cloud, ctx: RequestContext, token: TokenRecord): Promise<Reply> {
  const body = await readJson(ctx.req, 'compute');
  if (!isObject(body) || !isObject(body.server)) {
    throw invalid('root', body, "'server' is a required property");
  }
  const s = body.server;
  for (const key of Object.keys(s)) {
    if (!CREATE_KEYS.has(key)) {
      throw invalid('server', s, `Additional properties are not allowed ('${key}' was unexpected)`);
    }
  }
  if (typeof s.name !== 'string' || s.name.length < 1 || s.name.length > 255 || s.name.trim() !== s.name) {
    throw invalid('name', s.name, 'name must be a string of 1 to 255 characters without leading or trailing spaces');
  }
  if (typeof s.flavorRef !== 'string' && typeof s.flavorRef !== 'number') {
    throw invalid('flavorRef', s.flavorRef, "'flavorRef' is a required property");
  }
  const flavor = flavorById(String(s.flavorRef));
  if (!flavor) throw new HttpError(400, `Flavor ${String(s.flavorRef)} could not be found.`);
  if (typeof s.imageRef !== 'string' || s.imageRef === '') {
    throw new HttpError(400, 'Block Device Mapping is Invalid: You specified more local devices than the limit allows');
  }
  const imageId = s.imageRef.split('/').pop() ?? '';
  if (!UUID_RE.test(imageId)) throw invalid('imageRef', s.imageRef, `'${s.imageRef}' is not a 'uuid'`);
  const image: ImageRecord | undefined = cloud.state.images[imageId];
  if (!image || image.region !== ctx.region) throw new HttpError(400, 'Can not find requested image');
  if (image.status !== 'active') throw new HttpError(400, `Image ${imageId} is not active.`);
  if (atLeast(ctx, 37)) {
    if (s.networks === undefined) throw invalid('server', s, "'networks' is a required property");
  }
  if (s.networks !== undefined) {
    const ok =
      (atLeast(ctx, 37) && (s.networks === 'auto' || s.networks === 'none')) ||
      (Array.isArray(s.networks) && s.networks.every((n) => isObject(n)));
    if (!ok) throw invalid('networks', s.networks, `${JSON.stringify(s.networks)} is not of type 'array'`);
  }
  const metadata = s.metadata === undefined ? {} : checkMetadata(cloud, s.metadata, 'metadata');
  if (s.key_name !== undefined && (typeof s.key_name !== 'string' || s.key_name === '')) {
    throw new HttpError(400, 'Invalid key_name provided.');
  }
  if (s.availability_zone !== undefined && s.availability_zone !== AVAILABILITY_ZONE) {
    throw new HttpError(400, 'The requested availability zone is not available');
  }
  if (s.user_data !== undefined) {
    if (typeof s.user_data !== 'string' || !/^[A-Za-z0-9+/=\s]*$/.test(s.user_data) || s.user_data.length > 65535) {
      throw invalid('user_data', s.user_data, 'user_data must be Base64 of at most 65535 bytes');
    }
  }
  let securityGroups = ['default'];
  if (s.security_groups !== undefined) {
    if (
      !Array.isArray(s.security_groups) ||
      !s.security_groups.every((g) => isObject(g) && typeof g.name === 'string')
    ) {
      throw invalid('security_groups', s.security_groups, 'expected a list of {"name": …}');
    }
    securityGroups = s.security_groups.map((g) => String((g as { name: string }).name));
  }
  const tags = Array.isArray(s.tags) && atLeast(ctx, 52) ? s.tags.map(String) : [];

  checkQuota(cloud, token, ctx.region, flavor);

  const now = Date.now();
  const id = cloud.uuid();
  const draw = cloud.bootDraw();
  const key = generateHostKey();
  const server: ServerRecord = {
    id,
    seq: cloud.store.nextSeq(),
    region: ctx.region,
    name: s.name,
    projectId: token.projectId ?? '',
    userId: token.userId,
    flavorId: flavor.id,
    imageId,
    metadata,
    status: 'BUILD',
    vmState: 'building',
    taskState: 'scheduling',
    powerState: 0,
    fate: draw.error ? 'ERROR' : 'ACTIVE',
    readyAt: now + draw.seconds * 1000,
    created: isoSeconds(now),
    updated: isoSeconds(now),
    launchedAt: null,
    terminatedAt: null,
    address: '',
    mac: `fa:16:3e:${cloud.randomHex(6).replace(/(..)(?!$)/g, '$1:')}`,
    hostKeyPrivate: key.privateKey,
    hostKeyPublic: key.publicKey,
    availabilityZone: AVAILABILITY_ZONE,
    keyName: typeof s.key_name === 'string' ? s.key_name : null,
    adminPass: cloud.randomHex(12),
    securityGroups,
    configDrive: s.config_drive === true || s.config_drive === 'True' ? 'True' : '',
    description: typeof s.description === 'string' ? s.description : null,
    tags,
    deleting: false,
  };
  server.address = await cloud.ssh.bind(id, key.privateKey, cloud.nextLoopbackAddress(), () =>
    cloud.nextLoopbackAddress(),
  );
  cloud.state.servers[id] = server;
  cloud.save();
  cloud.advance();
  const url = `${cloud.computeUrl(ctx.region)}/servers/${id}`;
  return {
    status: 202,
    headers: { Location: url },
    json: {
      server: {
        id,
        links: serverLinks(cloud, ctx.region, id),
        'OS-DCF:diskConfig': 'MANUAL',
        security_groups: securityGroups.map((name) => ({ name })),
        adminPass: server.adminPass,
      },
    },
  };
}
