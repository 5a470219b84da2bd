// A credential that cannot leak by accident: JSON, string conversion and util.inspect all print a marker.
import { inspect } from 'node:util';

const MARKER = '[redacted]';

export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  /** The only way to read the value; grep for it to audit every use. */
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return MARKER;
  }
  toJSON(): string {
    return MARKER;
  }
  [inspect.custom](): string {
    return MARKER;
  }
}
