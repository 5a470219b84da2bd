// How the worker turns a diskimage of nodepool.yaml into what the builder activity runs. Resolved here, inside
// the worker, because env-vars may hold secrets that must never enter a workflow history.
import type { BuildSpec } from '../activities/build-image.ts';
import { imageFormatsForDiskimage, type Config } from '../config/index.ts';

// Paths arrive anchored at the config file's directory (config/load.ts).
export function buildSpecResolver(config: Config): (image: string) => BuildSpec {
  return (image) => {
    const d = config.diskimages.find((x) => x.name === image);
    if (!d) throw new Error(`diskimage ${image} is not in this worker's nodepool.yaml`);
    if (d.builder !== 'dib' && d.builder !== 'script')
      throw new Error(`diskimage ${image} uses builder ${d.builder}, which builds no local disk image`);
    const elementsDir = config.elementsDir;
    return {
      image: d.name,
      builder: d.builder,
      ...(d.elements ? { elements: d.elements } : {}),
      ...(d.release === undefined ? {} : { release: d.release }),
      envVars: d.envVars,
      ...(d.script ? { script: d.script } : {}),
      dibCmd: d.dibCmd,
      pythonPath: d.pythonPath,
      ...(elementsDir ? { elementsDir } : {}),
      formats: [...imageFormatsForDiskimage(config, d.name)],
      buildTimeoutSeconds: d.buildTimeout,
    };
  };
}
