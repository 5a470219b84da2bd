// TEMPORARY local stand-in (not committed): helper H2 delivers the real builders.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface BuildSpec {
  image: string;
  builder: 'dib' | 'script';
  elements?: string[];
  release?: string;
  envVars: Record<string, string>;
  script?: string;
  dibCmd?: string;
  pythonPath?: string;
  elementsDir?: string;
  formats: string[];
  buildTimeoutSeconds: number;
}
export interface BuildDiskImageInput {
  image: string;
  version: number;
  buildId: number;
  imagesDir: string;
  logPath: string;
}
export interface BuildDiskImageResult {
  rawPath: string;
  size: number;
  sha256: string;
}
export function buildImageActivities(deps: { specFor(image: string): BuildSpec }) {
  return {
    async buildDiskImage(input: BuildDiskImageInput): Promise<BuildDiskImageResult> {
      const spec = deps.specFor(input.image);
      const rawPath = join(input.imagesDir, `${input.image}-${input.version}.raw`);
      const r = spawnSync(spec.script as string, [rawPath], {
        env: { ...process.env, ...spec.envVars, IMAGE_PATH: rawPath },
      });
      if (r.status !== 0) throw new Error(`script failed ${r.stderr}`);
      return {
        rawPath,
        size: statSync(rawPath).size,
        sha256: createHash('sha256').update(readFileSync(rawPath)).digest('hex'),
      };
    },
  };
}
