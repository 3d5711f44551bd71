import type { z } from 'zod';

/** A dotted path such as `milestones[1]` or `train.epochs`; `(root)` for the value itself. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out || '(root)';
}

/** One line per problem, each naming the field and what was expected there. */
export function describeIssues(
  issues: readonly z.core.$ZodIssue[],
  prefix: readonly PropertyKey[] = [],
): string[] {
  return issues.map((issue) => {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      const where = path.length ? ` in '${formatPath(path)}'` : '';
      return `unknown option${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}${where}`;
    }
    const message = issue.message.replace(/^Invalid input: /, '');
    return `'${formatPath(path)}': ${message}`;
  });
}
