// Property tests run with one fixed seed, so CI is deterministic; FC_SEED=<n> (or FC_SEED=random) explores
// other cases locally. A failure prints its seed and counterexample; turn it into a named test case.
import fc from 'fast-check';

const requested = process.env.FC_SEED;
const seed = requested === 'random' ? Date.now() ^ (Math.random() * 0x100000000) : Number(requested ?? 20261126);
if (!Number.isInteger(seed)) throw new Error(`FC_SEED=${requested} is not an integer (or "random")`);
fc.configureGlobal({ seed });

export default fc;
