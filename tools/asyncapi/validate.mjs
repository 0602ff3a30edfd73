// Validate AsyncAPI documents with the official parser (the AsyncAPI 3.0 JSON Schema, the
// Kafka bindings' schemas, the spec's rules: references resolve, ...), then every message
// example against its message's payload and headers schemas with Ajv (the parser checks
// examples for AsyncAPI 2 only). Prints every finding; exits 1 on any error or warning.
//   node tools/asyncapi/validate.mjs schemas/asyncapi.yaml
import { readFile } from "node:fs/promises";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";
import Ajv from "ajv";
import addFormats from "ajv-formats";

const parser = new Parser();

function exampleProblems(document) {
  const problems = [];
  for (const message of document.allMessages()) {
    const ajv = addFormats(new Ajv({ allErrors: true, strict: false }));
    const parts = { payload: message.payload(), headers: message.headers() };
    for (const [index, example] of message.examples().all().entries()) {
      for (const [part, schema] of Object.entries(parts)) {
        const has = part === "payload" ? example.hasPayload() : example.hasHeaders();
        if (!has && schema === undefined) continue;
        if (schema === undefined) {
          problems.push(`${message.id()} example ${index} has ${part} but the message has none`);
          continue;
        }
        const value = part === "payload" ? example.payload() : example.headers();
        const validate = ajv.compile(schema.json());
        if (!validate(value === undefined ? null : value)) {
          for (const error of validate.errors) {
            problems.push(
              `${message.id()} example ${index} ${part}${error.instancePath}: ${error.message}`,
            );
          }
        }
      }
    }
  }
  return problems;
}

let failed = false;
for (const path of process.argv.slice(2)) {
  const text = await readFile(path, "utf8");
  const { document, diagnostics } = await parser.parse(text, { source: path });
  for (const d of diagnostics) {
    const where = d.path.join(".") || "(document)";
    console.log(`${path}: ${DiagnosticSeverity[d.severity]} ${d.code} at ${where}: ${d.message}`);
  }
  const blocking = diagnostics.filter(
    (d) => d.severity === DiagnosticSeverity.Error || d.severity === DiagnosticSeverity.Warning,
  );
  const problems = document === undefined ? [] : exampleProblems(document);
  for (const problem of problems) console.log(`${path}: Error example: ${problem}`);
  if (document === undefined || blocking.length > 0 || problems.length > 0) {
    failed = true;
  } else {
    const examples = document.allMessages().all().reduce((n, m) => n + m.examples().length, 0);
    console.log(
      `${path}: valid AsyncAPI ${document.version()}: ${document.allChannels().length} channels, ` +
        `${document.allMessages().length} messages, ${examples} examples checked`,
    );
  }
}
process.exit(failed ? 1 : 0);
