// Writes generated/<name>.ts for every ../*.json dashboard: the JSON as an object literal typed as
// @grafana/schema's Dashboard, and its panels typed per panel plugin (panel-types.ts).
// An object literal (rather than `import x from './d.json'`) keeps string literal types
// ('row', 'query', ...) and gets TypeScript's excess-property checks, so unknown or misspelt
// fields are errors too. `npm run check` then runs `tsc --noEmit`.
import { readdirSync, readFileSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { join, dirname, basename } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dashboardsDir = join(here, '..');
const out = join(here, 'generated');
rmSync(out, { recursive: true, force: true });
mkdirSync(out);
const files = readdirSync(dashboardsDir).filter((f) => f.endsWith('.json')).sort();
if (files.length === 0) {
  console.error(`no dashboards found in ${dashboardsDir}`);
  process.exit(1);
}
for (const f of files) {
  const json = JSON.parse(readFileSync(join(dashboardsDir, f), 'utf8'));
  const name = basename(f, '.json');
  const body = [
    `// GENERATED from dashboards/${f} by generate-ts.mjs — do not edit.`,
    `import type { Dashboard } from '@grafana/schema';`,
    `import type { Json, KnownPanel } from '../panel-types';`,
    `export const dashboard: Json<Dashboard> = ${JSON.stringify(json, null, 2)};`,
    `export const panels: Json<KnownPanel>[] = ${JSON.stringify(json.panels ?? [], null, 2)};`,
    '',
  ].join('\n');
  writeFileSync(join(out, `${name}.ts`), body);
  console.log(`generated/${name}.ts <- dashboards/${f}`);
}
