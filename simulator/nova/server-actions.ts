// POST /servers/{id}/action: the two actions nodepool uses, createImage (a snapshot that goes
// queued → saving → active on the clock) and os-getConsoleOutput (a boot log carrying the host key).
import type { Cloud } from '../cloud.ts';
import { newImageRecord } from '../glance/records.ts';
import type { Reply, RequestContext } from '../http.ts';
import { HttpError, isObject, isoSeconds, readJson } from '../http.ts';
import type { ServerRecord } from '../state.ts';
import { projectById, userById } from '../identity.ts';
import { flavorById } from './flavors.ts';
import { atLeast } from './microversion.ts';
import { checkMetadata, invalid } from './validation.ts';

export async function serverAction(cloud: Cloud, ctx: RequestContext, s: ServerRecord): Promise<Reply> {
  const body = await readJson(ctx.req, 'compute');
  if (!isObject(body) || Object.keys(body).length !== 1) {
    throw new HttpError(400, 'There is no such action: ' + (isObject(body) ? Object.keys(body).join(',') : ''));
  }
  const [action, args] = Object.entries(body)[0]!;
  if (action === 'createImage') return createImage(cloud, ctx, s, args);
  if (action === 'os-getConsoleOutput') {
    if (s.status !== 'ACTIVE') {
      throw new HttpError(409, `Cannot 'get_console_output' instance ${s.id} while it is in vm_state ${s.vmState}`);
    }
    const output =
      `[    0.000000] Linux version 6.1.0 (nodepool simulator)\n` +
      `ci-info: ++++++++++++++++ Net device info ++++++++++++++++\n` +
      `ci-info: | eth0 | True | ${s.address} | 255.0.0.0 | global | ${s.mac} |\n` +
      `-----BEGIN SSH HOST KEY KEYS-----\n${s.hostKeyPublic.split(' ').slice(0, 2).join(' ')} root@${s.name}\n` +
      `-----END SSH HOST KEY KEYS-----\n` +
      `Cloud-init v. 23.4 finished. Datasource DataSourceOpenStackLocal.\n`;
    const length = isObject(args) && typeof args.length === 'number' ? args.length : undefined;
    const lines = output.split('\n');
    return {
      status: 200,
      json: { output: length === undefined ? output : lines.slice(-length - 1).join('\n') },
    };
  }
  throw new HttpError(400, `There is no such action: ${action}`);
}

function createImage(cloud: Cloud, ctx: RequestContext, s: ServerRecord, args: unknown): Reply {
  if (!isObject(args) || typeof args.name !== 'string' || args.name.length < 1 || args.name.length > 255) {
    throw invalid('name', isObject(args) ? args.name : args, "'name' is a required property");
  }
  const metadata = args.metadata === undefined ? {} : checkMetadata(cloud, args.metadata, 'metadata');
  if (!['ACTIVE', 'SHUTOFF', 'SUSPENDED', 'PAUSED'].includes(s.status) || s.taskState !== null) {
    const what = s.taskState !== null ? `task_state ${s.taskState}` : `vm_state ${s.vmState}`;
    throw new HttpError(409, `Cannot 'createImage' instance ${s.id} while it is in ${what}`);
  }
  const now = Date.now();
  const { min, max } = cloud.knobs.bootSeconds;
  const seconds = cloud.bootDraw().seconds || (min + max) / 2;
  const id = cloud.uuid();
  const source = cloud.state.images[s.imageId];
  const image = newImageRecord(
    cloud,
    {
      id,
      region: s.region,
      name: args.name,
      visibility: 'private',
      owner: s.projectId,
      minDisk: flavorById(s.flavorId)?.disk ?? 0,
      properties: {
        ...(source
          ? Object.fromEntries(Object.entries(source.properties).filter(([k]) => !k.startsWith('owner_')))
          : {}),
        ...metadata,
        instance_uuid: s.id,
        user_id: s.userId,
        image_type: 'snapshot',
        base_image_ref: s.imageId,
        image_location: 'snapshot',
        image_state: 'available',
        owner_project_name: projectById(s.projectId)?.name ?? s.projectId,
        owner_user_name: userById(s.userId)?.name ?? s.userId,
      },
      savingAt: now + (seconds * 1000) / 3,
      activeAt: now + seconds * 1000,
    },
    now,
  );
  cloud.state.images[id] = image;
  s.taskState = 'image_uploading';
  s.updated = isoSeconds(now);
  cloud.save();
  cloud.advance();
  if (atLeast(ctx, 45)) return { status: 202, json: { image_id: id } };
  return { status: 202, headers: { Location: `${cloud.imageUrl(s.region)}/v2/images/${id}` } };
}
