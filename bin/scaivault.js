#!/usr/bin/env node
'use strict';
// The CLI is TypeScript: tsx (a dependency) compiles it on load, so a fresh clone needs only `npm install`.
require('tsx/cjs');
require('../cli/main.ts');
