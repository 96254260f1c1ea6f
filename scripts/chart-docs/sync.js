#!/usr/bin/env node
// Keeps a chart's README Parameters tables and values.schema.json descriptions in step
// with the `## @param` comments of its values.yaml, the one place they are written.
//
// Run through scripts/chart-docs.sh, which installs the pinned
// @bitnami/readme-generator-for-helm and passes its directory as --tool:
//
//   node sync.js --tool DIR --chart DIR            rewrite README.md and the schema
//   node sync.js --tool DIR --chart DIR --check    change nothing; exit 1 on any drift
//
// The generator renders the README tables and checks that every value has a @param.
// Its own schema output would replace the hand-written constraints of
// values.schema.json (types, enums, patterns, required, additionalProperties), so the
// schema is not generated: only each property's `description` is set from values.yaml,
// and the keys of the two files must match.
//
// One addition to the generator's format: a description may go on over the following
// lines that start with `##` and two or more spaces. They are joined into one line
// before the generator reads the file (it reads only the line with the tag).
'use strict';

const childProcess = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const FIX_HINT = 'run scripts/chart-docs.sh';

// Exit statuses: drift or bad documentation (what --check is for), and a broken setup.
const EXIT_DRIFT = 1;
const EXIT_SETUP = 2;

/** A problem that the user fixes (exit 1), as opposed to a broken setup (exit 2). */
class DocsError extends Error {}

function parseArgs(argv) {
  const args = { tool: null, chart: null, check: false };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--check') {
      args.check = true;
    } else if ((arg === '--tool' || arg === '--chart') && i + 1 < argv.length) {
      args[arg.slice(2)] = argv[i + 1];
      i += 1;
    } else {
      throw new Error(`unknown argument ${JSON.stringify(arg)}`);
    }
  }
  if (!args.tool || !args.chart) {
    throw new Error('usage: sync.js --tool DIR --chart DIR [--check]');
  }
  return args;
}

// ---------------------------------------------------------------------------------
// values.yaml comments
// ---------------------------------------------------------------------------------

const TAG_WITH_TEXT = /^\s*##\s*@(param|extra|skip)\s/;
const TAG_ANY = /^\s*##\s*@\w+/;
const CONTINUATION = /^\s*## {2,}(\S.*)$/;
const DESCRIPTION_START = /^\s*##\s*@descriptionStart\b/;
const DESCRIPTION_END = /^\s*##\s*@descriptionEnd\b/;

/**
 * Joins continuation lines onto the tag line they continue (keeping the line count,
 * so the generator's messages still point at the right place) and refuses `##` lines
 * the generator would silently ignore.
 */
function joinContinuations(text) {
  const lines = text.split('\n');
  const errors = [];
  let tagLine = -1; // index of the @param/@extra/@skip line being continued
  let inDescription = false; // inside @descriptionStart ... @descriptionEnd
  lines.forEach((line, i) => {
    if (inDescription) {
      inDescription = !DESCRIPTION_END.test(line);
      return;
    }
    const continuation = line.match(CONTINUATION);
    if (continuation && tagLine >= 0) {
      lines[tagLine] = `${lines[tagLine].trimEnd()} ${continuation[1].trim()}`;
      lines[i] = '';
      return;
    }
    tagLine = TAG_WITH_TEXT.test(line) ? i : -1;
    if (DESCRIPTION_START.test(line)) {
      inDescription = true;
    } else if (/^\s*##/.test(line) && !TAG_ANY.test(line)) {
      errors.push(
        `values.yaml line ${i + 1}: a \`##\` line that is neither a tag nor the ` +
          'continuation of a @param/@extra line (use a single `#` for other comments): ' +
          line.trim(),
      );
    }
  });
  return { text: lines.join('\n'), errors };
}

/** Markdown tables end a cell at `|`: escape it in descriptions for the README only. */
function escapePipesInTags(text) {
  return text
    .split('\n')
    .map((line) => (TAG_WITH_TEXT.test(line) ? line.replace(/(?<!\\)\|/g, '\\|') : line))
    .join('\n');
}

/** The generator's own parse of the joined file: name -> {description, extra, modifiers}. */
function readParams(tool, joinedValuesPath) {
  const { parseMetadataComments } = require(path.join(tool.root, 'lib', 'parser'));
  const metadata = parseMetadataComments(joinedValuesPath, tool.config);
  const params = new Map();
  const errors = [];
  for (const param of metadata.parameters) {
    if (param.skip) continue;
    if (params.has(param.name)) {
      errors.push(`values.yaml: ${param.name} is documented twice`);
    }
    params.set(param.name, {
      description: param.description.trim(),
      extra: param.extra,
      modifiers: param.modifiers,
    });
  }
  return { params, errors };
}

/** True when `dotted` names a key of the parsed values (documented keys have no dots). */
function hasValue(values, dotted) {
  let node = values;
  for (const key of dotted.split('.')) {
    if (node === null || typeof node !== 'object' || Array.isArray(node) || !(key in node)) {
      return false;
    }
    node = node[key];
  }
  return true;
}

// A @param with a [modifier] is not checked by the generator (neither it nor what is
// under it), so a misspelt one would only show as a README row for nothing.
function checkParamsNameValues(tool, valuesText, params) {
  // The generator's own YAML parser, wherever npm placed it.
  const YAML = require(require.resolve('yaml', { paths: [tool.root] }));
  const values = YAML.parse(valuesText) || {};
  const errors = [];
  for (const [name, param] of params) {
    if (!param.extra && !hasValue(values, name)) {
      errors.push(
        `values.yaml: @param ${name} names no value (use @extra for a key without a default)`,
      );
    }
  }
  return errors;
}

// ---------------------------------------------------------------------------------
// README
// ---------------------------------------------------------------------------------

/** Runs the generator on a copy of README.md and returns the copy's new text. */
function renderReadme(tool, workDir, valuesPath, readmeText) {
  const readmeCopy = path.join(workDir, 'README.md');
  fs.writeFileSync(readmeCopy, readmeText);
  const run = childProcess.spawnSync(
    process.execPath,
    [tool.bin, '--values', valuesPath, '--readme', readmeCopy],
    { encoding: 'utf8' },
  );
  if (run.status !== 0) {
    const output = `${run.stdout || ''}${run.stderr || ''}`;
    // Its findings are the `ERROR: ` lines before the final `ERROR: Wrong metadata!`.
    const reported = output
      .split('\n')
      .filter((line) => line.startsWith('ERROR: ') && !line.includes('Wrong metadata'))
      .map((line) => `values.yaml: ${line.slice('ERROR: '.length)}`);
    const lines = reported.length > 0 ? reported : [output.trim()];
    throw new DocsError(`readme-generator refused values.yaml:\n  ${lines.join('\n  ')}`);
  }
  return fs.readFileSync(readmeCopy, 'utf8');
}

/** The Parameters section's table rows by value name, `| \`name\` | ... |`. */
function readmeRows(text) {
  const rows = new Map();
  const lines = text.split('\n');
  const start = lines.findIndex((line) => /^## Parameters\s*$/.test(line));
  const length = lines.slice(start + 1).findIndex((line) => /^## /.test(line));
  const end = length < 0 ? lines.length : start + 1 + length;
  const section = start < 0 ? [] : lines.slice(start + 1, end);
  for (const line of section) {
    const match = line.match(/^\|\s*`([^`]+)`\s*\|/);
    if (match) rows.set(match[1], line.replace(/\s+/g, ' ').trim());
  }
  return rows;
}

/** One line per value whose README row is missing, extra or different. */
function readmeDrift(actual, expected) {
  const have = readmeRows(actual);
  const want = readmeRows(expected);
  const drift = [];
  for (const [name, row] of want) {
    if (!have.has(name)) {
      drift.push(`README.md: no row for ${name}`);
    } else if (have.get(name) !== row) {
      drift.push(`README.md: the row of ${name} differs from values.yaml`);
    }
  }
  for (const name of have.keys()) {
    if (!want.has(name)) {
      drift.push(`README.md: a row for ${name}, which values.yaml does not document`);
    }
  }
  if (drift.length === 0) {
    drift.push(
      'README.md: the Parameters section differs from values.yaml (sections, order or layout)',
    );
  }
  return drift;
}

// ---------------------------------------------------------------------------------
// values.schema.json
// ---------------------------------------------------------------------------------

/** Every object property reachable through `properties`, by dotted path. */
function schemaProperties(node, prefix = '', out = new Map()) {
  const props = node && typeof node.properties === 'object' ? node.properties : {};
  for (const [key, child] of Object.entries(props)) {
    const dotted = prefix ? `${prefix}.${key}` : key;
    out.set(dotted, child);
    schemaProperties(child, dotted, out);
  }
  return out;
}

/** `node` with `description` set (or removed), placed right after `type`. */
function withDescription(node, description) {
  const out = {};
  const place = () => {
    if (description !== undefined) out.description = description;
  };
  if (!('type' in node)) place();
  for (const [key, value] of Object.entries(node)) {
    if (key === 'description') continue;
    out[key] = value;
    if (key === 'type') place();
  }
  return out;
}

function isUnder(dotted, ancestor) {
  return dotted.startsWith(`${ancestor}.`);
}

/**
 * The schema with every documented key's description taken from values.yaml.
 * Returns the new schema text, the description drift (which a rewrite fixes) and the
 * key mismatches (which need a hand edit: a new key needs its constraints written).
 */
function syncSchema(schemaText, params) {
  const schema = JSON.parse(schemaText);
  const props = schemaProperties(schema);
  const documented = [...params.keys()];
  const drift = [];
  const mismatches = [];

  for (const name of documented) {
    if (!props.has(name)) {
      mismatches.push(
        `values.schema.json: no property for ${name}, which values.yaml documents ` +
          '(add it to the schema with its type and constraints)',
      );
    }
  }

  // Pre-order walk: a parent is replaced before its children are visited, and the
  // replacement shares the `properties` object, so children are replaced in place.
  const parents = new Map([['', schema]]);
  for (const [dotted, node] of props) parents.set(dotted, node);
  for (const dotted of props.keys()) {
    const cut = dotted.lastIndexOf('.');
    const parentPath = cut < 0 ? '' : dotted.slice(0, cut);
    const key = dotted.slice(cut + 1);
    const parent = parents.get(parentPath);
    const node = parent.properties[key];
    const param = params.get(dotted);

    let want;
    if (param) {
      want = param.description;
    } else if (documented.some((name) => isUnder(dotted, name))) {
      continue; // a field inside a documented value (e.g. issuerRef.name): not a key
    } else if (documented.some((name) => isUnder(name, dotted))) {
      want = undefined; // an intermediate object: described only by an @extra
    } else {
      mismatches.push(
        `values.schema.json: property ${dotted} is not documented in values.yaml ` +
          '(add a `## @param` for it, or `## @extra` when it has no default)',
      );
      continue;
    }

    if (node.description !== want) {
      drift.push(
        want === undefined
          ? `values.schema.json: ${dotted} has a description, ` +
              `but values.yaml has no @extra ${dotted}`
          : `values.schema.json: the description of ${dotted} differs from values.yaml\n` +
              `    values.yaml: ${JSON.stringify(want)}\n` +
              `    schema:      ${JSON.stringify(node.description ?? null)}`,
      );
    }
    const replaced = withDescription(node, want);
    parent.properties[key] = replaced;
    parents.set(dotted, replaced);
  }

  const text = `${JSON.stringify(schema, null, 2)}\n`;
  if (drift.length === 0 && text !== schemaText) {
    drift.push('values.schema.json: not in canonical form (2-space JSON, description after type)');
  }
  return { text, drift, mismatches };
}

// ---------------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------------

function loadTool(dir) {
  const root = path.join(dir, 'node_modules', '@bitnami', 'readme-generator-for-helm');
  const bin = path.join(root, 'bin', 'index.js');
  if (!fs.existsSync(bin)) throw new Error(`no readme-generator under ${dir}`);
  const config = JSON.parse(fs.readFileSync(path.join(root, 'config.json'), 'utf8'));
  return { root, bin, config };
}

function unifiedDiff(label, actual, expected, workDir) {
  const a = path.join(workDir, `${label}.committed`);
  const b = path.join(workDir, `${label}.expected`);
  fs.writeFileSync(a, actual);
  fs.writeFileSync(b, expected);
  const run = childProcess.spawnSync(
    'diff',
    ['-u', '--label', `${label} (committed)`, '--label', `${label} (from values.yaml)`, a, b],
    { encoding: 'utf8' },
  );
  return run.stdout;
}

function run(args) {
  const tool = loadTool(args.tool);
  const chart = path.resolve(args.chart);
  const files = {
    values: path.join(chart, 'values.yaml'),
    readme: path.join(chart, 'README.md'),
    schema: path.join(chart, 'values.schema.json'),
  };
  const valuesText = fs.readFileSync(files.values, 'utf8');
  const readmeText = fs.readFileSync(files.readme, 'utf8');
  const schemaText = fs.readFileSync(files.schema, 'utf8');

  const joined = joinContinuations(valuesText);
  if (joined.errors.length > 0) throw new DocsError(joined.errors.join('\n'));

  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chart-docs-'));
  try {
    const joinedPath = path.join(workDir, 'values.yaml');
    fs.writeFileSync(joinedPath, joined.text);
    // Every problem a rewrite cannot fix, all reported at once.
    const { params, errors } = readParams(tool, joinedPath);
    errors.push(...checkParamsNameValues(tool, valuesText, params));
    const headings = readmeText.split('\n').filter((line) => /^## Parameters\s*$/.test(line));
    if (headings.length !== 1) {
      errors.push('README.md: needs exactly one `## Parameters` heading, where the tables go');
    }
    const readmeValuesPath = path.join(workDir, 'values-readme.yaml');
    fs.writeFileSync(readmeValuesPath, escapePipesInTags(joined.text));
    let readme = readmeText;
    if (headings.length === 1) {
      try {
        readme = renderReadme(tool, workDir, readmeValuesPath, readmeText);
      } catch (err) {
        if (!(err instanceof DocsError)) throw err;
        errors.push(err.message);
      }
    }
    const schema = syncSchema(schemaText, params);
    errors.push(...schema.mismatches);
    if (errors.length > 0) throw new DocsError(errors.join('\n'));

    const readmeChanged = readme !== readmeText;
    const schemaChanged = schema.text !== schemaText;
    if (!args.check) {
      if (readmeChanged) fs.writeFileSync(files.readme, readme);
      if (schemaChanged) fs.writeFileSync(files.schema, schema.text);
      const changed = [];
      if (readmeChanged) changed.push('README.md');
      if (schemaChanged) changed.push('values.schema.json');
      const done = changed.length > 0 ? `rewrote ${changed.join(' and ')}` : 'up to date';
      console.log(`chart-docs: ${done}`);
      return 0;
    }
    if (!readmeChanged && !schemaChanged) {
      console.log('chart-docs: README.md and values.schema.json agree with values.yaml');
      return 0;
    }
    const drift = [];
    if (readmeChanged) drift.push(...readmeDrift(readmeText, readme));
    if (schemaChanged) drift.push(...schema.drift);
    console.error(drift.map((line) => `chart-docs: ${line}`).join('\n'));
    if (readmeChanged) {
      console.error(unifiedDiff('README.md', readmeText, readme, workDir));
    }
    if (schemaChanged) {
      console.error(unifiedDiff('values.schema.json', schemaText, schema.text, workDir));
    }
    console.error(
      "chart-docs: the chart's docs differ from values.yaml, their one source: edit values.yaml " +
        `(not README.md or the schema's descriptions), then ${FIX_HINT}`,
    );
    return EXIT_DRIFT;
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

function main() {
  try {
    process.exitCode = run(parseArgs(process.argv.slice(2)));
  } catch (err) {
    if (err instanceof DocsError) {
      console.error(err.message.split('\n').map((line) => `chart-docs: ${line}`).join('\n'));
      console.error(
        'chart-docs: fix what is said above in values.yaml, values.schema.json or README.md, ' +
          `then ${FIX_HINT}`,
      );
      process.exitCode = EXIT_DRIFT;
    } else {
      console.error(`chart-docs: error: ${err.message}`);
      process.exitCode = EXIT_SETUP;
    }
  }
}

main();
