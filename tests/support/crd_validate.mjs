// Validates prometheus-operator custom resources (monitoring.coreos.com/v1) with the validators
// that @kubernetes-models/prometheus-operator ships: ajv-compiled from prometheus-operator's own
// API types (the version is in tests/support/package.json). Used by tests/support/crds.py.
//
//   node tests/support/crd_validate.mjs NODE_PREFIX < objects.json
//
// stdin: a JSON list of objects; stdout: a JSON list with one list of problems per object
// (empty: valid). NODE_PREFIX is where ensure_node_packages (scripts/lib.sh) installed the
// packages (.cache/node). One process validates a whole batch: node's start-up is most of the cost.
//
// Two kinds of problem are reported:
// - the schema's own errors (types, patterns, enums, required fields), as ajv words them;
// - unknown fields. The compiled schemas do not refuse them (an API server prunes them; only
//   `kubectl apply --validate=strict` refuses them), so each object is handed to the validator
//   behind a Proxy that records which keys the validator reads. A compiled validator reads every
//   property its schema declares and enumerates the keys of a map (labels, annotations); a key
//   of the object that it never read is one the schema does not know.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const prefix = process.argv[2];
if (!prefix) {
  process.stderr.write("usage: node crd_validate.mjs NODE_PREFIX < objects.json\n");
  process.exit(2);
}
const models = join(
  prefix,
  "node_modules",
  "@kubernetes-models",
  "prometheus-operator",
  "monitoring.coreos.com",
  "v1",
);

const classes = new Map();
async function modelClass(kind) {
  if (!/^[A-Z][A-Za-z]+$/.test(kind)) throw new Error(`not a kind: ${JSON.stringify(kind)}`);
  if (!classes.has(kind)) {
    const mod = await import(pathToFileURL(join(models, `${kind}.js`)).href);
    classes.set(kind, mod[kind]);
  }
  return classes.get(kind);
}

function isObject(v) {
  return v !== null && typeof v === "object";
}

// A read-only view of `root` whose property reads are recorded in `read` (target -> keys).
function watched(root, read) {
  const proxies = new WeakMap();
  const wrap = (target) => {
    if (!isObject(target)) return target;
    if (!proxies.has(target)) {
      read.set(target, new Set());
      proxies.set(
        target,
        new Proxy(target, {
          get(t, key, receiver) {
            if (typeof key === "string") read.get(t).add(key);
            return wrap(Reflect.get(t, key, receiver));
          },
          set: () => false,
          deleteProperty: () => false,
        }),
      );
    }
    return proxies.get(target);
  };
  return wrap(root);
}

function unknownFields(node, read, path, out) {
  if (Array.isArray(node)) {
    node.forEach((v, i) => unknownFields(v, read, `${path}/${i}`, out));
  } else if (isObject(node)) {
    for (const [key, value] of Object.entries(node)) {
      const where = `${path}/${key.replaceAll("~", "~0").replaceAll("/", "~1")}`;
      if (!read.get(node)?.has(key)) out.push(`${where} is not a field of the schema`);
      else unknownFields(value, read, where, out);
    }
  }
}

async function problems(obj) {
  if (!isObject(obj) || obj.apiVersion !== "monitoring.coreos.com/v1") {
    return [`not a monitoring.coreos.com/v1 object: ${JSON.stringify(obj?.apiVersion)}`];
  }
  const Model = await modelClass(obj.kind);
  const read = new Map();
  const out = [];
  try {
    // the model's validate() runs the compiled validator on `this`; called on the watched view
    // rather than on a model instance, whose constructor would read every key itself
    Model.prototype.validate.call(watched(obj, read));
  } catch (err) {
    if (!Array.isArray(err.errors)) throw err;
    for (const e of err.errors) out.push(`${e.instancePath || "/"} ${e.message}`);
  }
  if (out.length === 0) unknownFields(obj, read, "", out);
  return out;
}

const objects = JSON.parse(readFileSync(0, "utf8"));
const results = [];
for (const obj of objects) results.push(await problems(obj));
process.stdout.write(JSON.stringify(results));
