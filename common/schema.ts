/**
 * Runbook input schemas and their validation. Pure code: the CLI validates before it starts a run,
 * and the workflow validates again (input from the Temporal UI arrives unchecked) with the same
 * function, so both give the same message.
 */

export type FieldType = 'string' | 'integer' | 'boolean' | 'string[]' | 'object';

export interface FieldSpec {
  type: FieldType;
  description: string;
  required?: boolean;
  /** Allowed values for a string field. */
  enum?: readonly string[];
}

export type InputSchema = Record<string, FieldSpec>;

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function checkField(path: string, spec: FieldSpec, value: unknown): string | undefined {
  switch (spec.type) {
    case 'string':
      if (typeof value !== 'string') return `${path} must be a string (got ${typeOf(value)})`;
      if (value.trim() === '') return `${path} must not be empty`;
      if (spec.enum && !spec.enum.includes(value))
        return `${path} must be one of ${spec.enum.join(', ')} (got '${value}')`;
      return undefined;
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value))
        return `${path} must be an integer (got ${typeOf(value)})`;
      return undefined;
    case 'boolean':
      if (typeof value !== 'boolean') return `${path} must be true or false (got ${typeOf(value)})`;
      return undefined;
    case 'string[]':
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'string'))
        return `${path} must be an array of strings (got ${typeOf(value)})`;
      return undefined;
    case 'object':
      if (typeOf(value) !== 'object') return `${path} must be a JSON object (got ${typeOf(value)})`;
      return undefined;
  }
}

/**
 * Checks `input` against `schema` and returns every problem at once, each naming the field and
 * what is allowed. An empty list means the input is valid.
 */
export function validateInput(runbook: string, schema: InputSchema, input: unknown): string[] {
  if (typeOf(input) !== 'object') {
    return [`input of ${runbook} must be a JSON object like {"target": "<name>"} (got ${typeOf(input)})`];
  }
  const record = input as Record<string, unknown>;
  const problems: string[] = [];
  for (const [field, spec] of Object.entries(schema)) {
    const value = record[field];
    if (value === undefined) {
      if (spec.required) problems.push(`input.${field} is required (${spec.type}: ${spec.description})`);
      continue;
    }
    const problem = checkField(`input.${field}`, spec, value);
    if (problem) problems.push(problem);
  }
  for (const field of Object.keys(record)) {
    if (!(field in schema)) {
      problems.push(
        `input.${field} is not a field of ${runbook}; its fields are: ${Object.keys(schema).join(', ')}`,
      );
    }
  }
  return problems;
}

/** The field every runbook takes: which configured target to act on. */
export const TARGET_FIELD: FieldSpec = {
  type: 'string',
  required: true,
  description: 'name of a target in the worker config',
};
