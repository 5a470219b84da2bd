// A webpack loader for tests: rewrites a module's source with the { from, to } pairs it is given, to build a
// deliberately changed workflow bundle without copying the workflows. It fails when a `from` is missing, so
// a test cannot pass because the code it meant to change moved.
export default function replaceLoader(source) {
  const { edits } = this.getOptions();
  let out = source;
  for (const { from, to } of edits) {
    if (!out.includes(from)) throw new Error(`replace-loader: ${this.resourcePath} has no ${JSON.stringify(from)}`);
    out = out.replace(from, to);
  }
  return out;
}
