// POST /servers: validates the request the way Nova's schema and API layer do, enforces quota, then records a
// BUILD server whose boot time and fate are drawn from the seeded stream and binds its SSH endpoint.
import type { Cloud } from '../cloud.ts';
import { AVAILABILITY_ZONE } from '../cloud.ts';
import type { Reply, RequestContext } from '../http.ts';
import { HttpError, isObject, isoSeconds, readJson } from '../http.ts';
import { generateHostKey } from '../ssh.ts';
import type { ImageRecord, ServerRecord, TokenRecord } from '../state.ts';
import type { Flavor } from '../cloud.ts';
import { flavorById } from './flavors.ts';
import { atLeast } from './microversion.ts';
import { checkQuota } from './quota.ts';
import { serverLinks } from './servers.ts';
import { accessIp, checkMetadata, checkServerName, invalid } from './validation.ts';
import { findKeypair } from './keypairs.ts';

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
  const name = checkServerName(s.name);
  if (typeof s.flavorRef !== 'string' && typeof s.flavorRef !== 'number') {
    throw invalid('flavorRef', s.flavorRef, "'flavorRef' is a required property");
  }
  const flavor = flavorById(String(s.flavorRef));
  if (!flavor) throw new HttpError(400, `Flavor ${String(s.flavorRef)} could not be found.`);
  const boot = bootSource(cloud, ctx, token, s);
  if (boot.image) checkImageFitsFlavor(boot.image, flavor, boot.volumes.length > 0);
  if (atLeast(ctx, 37)) {
    if (s.networks === undefined) throw invalid('server', s, "'networks' is a required property");
  }
  const networks = requestedNetworks(cloud, ctx, token, s.networks);
  const accessIPv4 = accessIp(s.accessIPv4, 'accessIPv4');
  const accessIPv6 = accessIp(s.accessIPv6, 'accessIPv6');
  const hints = (body as Record<string, unknown>)['OS-SCH-HNT:scheduler_hints'] ?? {};
  if (!isObject(hints))
    throw invalid('OS-SCH-HNT:scheduler_hints', hints, `${JSON.stringify(hints)} is not of type 'object'`);
  const metadata = s.metadata === undefined ? {} : checkMetadata(cloud, s.metadata, 'metadata');
  if (s.key_name !== undefined && (typeof s.key_name !== 'string' || !findKeypair(cloud, token.userId, s.key_name))) {
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
    // Security groups live in Neutron; a name it does not know fails the create.
    const missing = securityGroups.find((g) => !cloud.knobs.securityGroups.includes(g));
    if (missing !== undefined) throw new HttpError(400, `Security group ${missing} not found.`);
  }
  const tags = Array.isArray(s.tags) && atLeast(ctx, 52) ? s.tags.map(String) : [];

  checkQuota(cloud, token, ctx.region, flavor, networks.length);

  const now = Date.now();
  const id = cloud.uuid();
  const draw = cloud.bootDraw();
  const key = generateHostKey();
  const server: ServerRecord = {
    id,
    seq: cloud.store.nextSeq(),
    region: ctx.region,
    name,
    projectId: token.projectId ?? '',
    userId: token.userId,
    flavorId: flavor.id,
    imageId: boot.imageRefShown,
    networks,
    accessIPv4,
    accessIPv6,
    schedulerHints: hints,
    volumes: boot.volumes,
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

/** What the server boots from: an image (imageRef, or block_device_mapping_v2 from an image) and its volumes. */
function bootSource(
  cloud: Cloud,
  ctx: RequestContext,
  token: TokenRecord,
  s: Record<string, unknown>,
): { image?: ImageRecord; imageRefShown: string; volumes: NonNullable<ServerRecord['volumes']> } {
  const bdms = s.block_device_mapping_v2;
  const volumes: NonNullable<ServerRecord['volumes']> = [];
  let bootImage: ImageRecord | undefined;
  if (bdms !== undefined) {
    if (!Array.isArray(bdms) || !bdms.every(isObject)) {
      throw invalid('block_device_mapping_v2', bdms, `${JSON.stringify(bdms)} is not of type 'array'`);
    }
    for (const bdm of bdms) {
      const source = bdm.source_type;
      const destination = bdm.destination_type ?? 'volume';
      if (source === 'volume' || source === 'snapshot') {
        // There is no Cinder here, so no volume or snapshot can be found.
        throw new HttpError(
          400,
          `Block Device Mapping is Invalid: failed to get ${String(source)} ${String(bdm.uuid)}.`,
        );
      }
      if (source !== 'image' && source !== 'blank') {
        throw invalid(
          'source_type',
          source,
          `${JSON.stringify(source)} is not one of ['volume', 'image', 'snapshot', 'blank']`,
        );
      }
      if (destination !== 'volume' && destination !== 'local') {
        throw invalid(
          'destination_type',
          destination,
          `${JSON.stringify(destination)} is not one of ['local', 'volume']`,
        );
      }
      if (source === 'image') {
        const image = activeImage(cloud, ctx, token, bdm.uuid, 'block_device_mapping_v2/uuid');
        if (bdm.boot_index === 0 || bdm.boot_index === '0') bootImage = image;
        if (destination === 'volume') {
          const size = bdm.volume_size;
          if (!Number.isInteger(size) || (size as number) <= 0) {
            throw new HttpError(400, "Images with destination_type 'volume' need to have a non-zero size specified");
          }
          if ((size as number) < image.minDisk) {
            throw new HttpError(
              400,
              `Volume is smaller than the minimum size specified in image metadata. Volume size is ${(size as number) * 1024 ** 3} bytes, minimum size is ${image.minDisk * 1024 ** 3} bytes.`,
            );
          }
        }
      }
      if (destination === 'volume') {
        volumes.push({ id: cloud.uuid(), deleteOnTermination: bdm.delete_on_termination === true });
      }
    }
  }
  const ref = s.imageRef;
  if (ref !== undefined && ref !== '') {
    const image = activeImage(cloud, ctx, token, ref, 'imageRef');
    return { image, imageRefShown: volumes.length > 0 && bootImage ? '' : image.id, volumes };
  }
  if (!bootImage && volumes.length === 0) {
    throw new HttpError(400, 'Block Device Mapping is Invalid: You specified more local devices than the limit allows');
  }
  // Booted from a volume: Nova shows the image as "".
  return { image: bootImage, imageRefShown: '', volumes };
}

function activeImage(cloud: Cloud, ctx: RequestContext, token: TokenRecord, ref: unknown, field: string): ImageRecord {
  if (typeof ref !== 'string') throw invalid(field, ref, `${JSON.stringify(ref)} is not of type 'string'`);
  const imageId = ref.split('/').pop() ?? '';
  if (!UUID_RE.test(imageId)) throw invalid(field, ref, `'${ref}' is not a 'uuid'`);
  const image: ImageRecord | undefined = cloud.state.images[imageId];
  // Nova asks Glance with the caller's token: another project's private image is not found.
  const visible =
    image !== undefined &&
    (image.owner === token.projectId || image.visibility === 'public' || image.visibility === 'community');
  if (!image || !visible || image.region !== ctx.region) throw new HttpError(400, 'Can not find requested image');
  if (image.status !== 'active') throw new HttpError(400, `Image ${imageId} is not active.`);
  return image;
}

function checkImageFitsFlavor(image: ImageRecord, flavor: Flavor, bootsFromVolume: boolean): void {
  if (image.minRam > flavor.ram) throw new HttpError(400, "Flavor's memory is too small for requested image.");
  if (!bootsFromVolume && flavor.disk > 0 && image.minDisk > flavor.disk) {
    throw new HttpError(400, "Flavor's disk is too small for requested image.");
  }
}

/** The network ids the server attaches to, resolved the way Nova does against Neutron's networks. */
function requestedNetworks(cloud: Cloud, ctx: RequestContext, token: TokenRecord, networks: unknown): string[] {
  const available = cloud.knobs.networks;
  if (networks === 'none' && atLeast(ctx, 37)) return [];
  if (networks === undefined || (networks === 'auto' && atLeast(ctx, 37))) {
    const candidates = available.filter((n) => !n.external);
    if (candidates.length === 1) return [candidates[0]!.id];
    if (candidates.length > 1) {
      throw new HttpError(
        409,
        'More than one possible network found. Specify network ID(s) to select which one(s) to connect to.',
      );
    }
    if (networks === undefined) return [];
    throw new HttpError(400, `Unable to automatically allocate a network for project ${token.projectId ?? ''}`);
  }
  if (!Array.isArray(networks) || !networks.every(isObject)) {
    throw invalid('networks', networks, `${JSON.stringify(networks)} is not of type 'array'`);
  }
  return networks.map((n) => {
    for (const key of Object.keys(n)) {
      if (!['uuid', 'port', 'fixed_ip', 'tag'].includes(key)) {
        throw invalid('networks', networks, `Additional properties are not allowed ('${key}' was unexpected)`);
      }
    }
    if (n.port !== undefined && n.port !== null) {
      throw new HttpError(400, `Port ${String(n.port)} could not be found.`);
    }
    if (n.uuid === undefined) throw new HttpError(400, 'Bad network format: missing uuid');
    const uuid = String(n.uuid);
    if (!UUID_RE.test(uuid)) {
      throw new HttpError(400, `Bad networks format: network uuid is not in proper format (${uuid})`);
    }
    const found = available.find((x) => x.id === uuid.toLowerCase());
    if (!found) throw new HttpError(400, `Network ${uuid} could not be found.`);
    if (found.external) {
      throw new HttpError(403, `It is not allowed to create an interface on external network ${found.id}`);
    }
    return found.id;
  });
}
