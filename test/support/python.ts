import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

const TARGET = path.resolve(__dirname, '..', '..', '.tools', 'python');

/** The guide's Python snippets need httpx and psycopg2: installed once into the project's tool folder. */
export function pythonWithGuideDeps(): { python: string; env: Record<string, string> } {
  const python = process.env.PYTHON ?? 'python3';
  if (!existsSync(path.join(TARGET, 'httpx')) || !existsSync(path.join(TARGET, 'psycopg2'))) {
    execFileSync(
      python,
      [
        '-m',
        'pip',
        'install',
        '--quiet',
        '--disable-pip-version-check',
        '--target',
        TARGET,
        'httpx',
        'psycopg2-binary',
      ],
      {
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
  }
  return { python, env: { PYTHONPATH: TARGET } };
}
