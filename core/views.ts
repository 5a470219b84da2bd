// What the CLI and the status pages show, as the worker's activities report it through workflows: plain data
// shapes, so the CLI knows what it is given without importing the activities that make it.

/** One provider as `nodepool info` shows it: the cloud's quota, flavors, servers and images, ours and foreign. */
export interface ProviderSnapshot {
  provider: string;
  cloud: string;
  region?: string;
  imageFormat: string;
  quota: { limits: Record<string, number | null>; usage: Record<string, number> };
  flavors: { name: string; vcpus: number; ramMB: number; diskGB: number }[];
  servers: { id: string; name: string; state: string; ip?: string; nodeId?: string; image?: string }[];
  serversByState: Record<string, number>;
  foreignServers: number;
  images: { id: string; name: string; state: string; uploadId?: string; size?: number }[];
  foreignImages: number;
}

/** A local build, as dib-image-list shows it. */
export interface DibImage {
  id: number;
  image: string;
  builder: string;
  version: number;
  state: string;
  /** The files it made (the raw and each converted format). */
  files: string[];
  /** ms since epoch of the last state change. */
  stateSince: number;
  reason?: string;
  workflowId?: string;
}

/** The end of a build's log, as build-log shows it. */
export interface BuildLog {
  buildId: number;
  path: string;
  size: number;
  /** The log's last bytes (all of it when small). */
  text: string;
  truncated: boolean;
}
