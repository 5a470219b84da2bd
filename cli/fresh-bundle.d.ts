export const ROOT: string;
export function cacheDir(): string | undefined;
export function freshBundle(dir?: string): string | undefined;
