import { execFileSync } from 'node:child_process';
import { mkdtempSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

/**
 * Another revision of the product, checked out beside this one (a detached git worktree sharing this
 * checkout's node_modules), so a code change can be measured against its baseline in the same run.
 */
export function checkoutRevision(revision: string): { root: string; label: string; remove(): void } {
  const root = mkdtempSync(path.join(os.tmpdir(), 'scaivault-baseline-'));
  const git = (...args: string[]) =>
    execFileSync('git', args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
      .toString()
      .trim();
  git('worktree', 'add', '--detach', '--force', root, revision);
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(root, 'node_modules'));
  return {
    root,
    label: `${revision} (${git('rev-parse', '--short', revision)})`,
    remove: () => void git('worktree', 'remove', '--force', root),
  };
}
