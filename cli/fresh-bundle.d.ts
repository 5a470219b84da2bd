export const ROOT: string;
export function cacheDir(target: string): string | undefined;
export function freshBundle(dir: string | undefined): string | undefined;
export function currentBundle(target: string): string | undefined;
