#!/usr/bin/env node
/** The `weightseal` executable (package.json bin): see docs/cli.md. */
import { runCli } from './program.js';

process.exitCode = await runCli(process.argv.slice(2));
