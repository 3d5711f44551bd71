import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '@recallkit/core';

/** Appends one JSON object per line; each record is a single write, so a kill loses at most the last line. */
export class MetricsLog {
  constructor(readonly file: string) {}

  async append(record: Record<string, unknown>): Promise<void> {
    await fs.mkdir(path.dirname(this.file), { recursive: true });
    await fs.appendFile(this.file, `${JSON.stringify(record)}\n`);
  }

  /**
   * Drops the records written after `step` (work a resumed run is about to redo) and any torn
   * last line, rewriting the file atomically.
   */
  async truncateAfter(step: number): Promise<void> {
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch {
      return;
    }
    const kept = text.split('\n').filter((line) => {
      if (!line) return false;
      try {
        const record = JSON.parse(line) as { step?: number };
        return typeof record.step !== 'number' || record.step <= step;
      } catch {
        return false;
      }
    });
    await writeFileAtomic(this.file, kept.map((line) => `${line}\n`).join(''));
  }
}
