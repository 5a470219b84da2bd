// Cleanups that all run: one that throws must not leave the others' servers and connections open, or the
// test file never exits.

/** Runs every step in order, then throws the first failure (or all of them, as an AggregateError). */
export async function cleanupAll(steps: readonly (() => unknown)[]): Promise<void> {
  const errors: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, `${errors.length} cleanup steps failed`);
}
