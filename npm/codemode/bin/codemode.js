#!/usr/bin/env node
// The `codemode` command of the npm package: runs the codemode binary that the package of this
// platform (an optional dependency, which npm installs only where its `os`, `cpu` and `libc`
// match) carries, with this process's arguments, standard streams and exit status.
"use strict";

const { spawn } = require("node:child_process");
const path = require("node:path");

// Every platform a binary is published for, and the package that carries it.
const PLATFORMS = {
  "linux x64 glibc": "@codemode/linux-x64-gnu",
};

function fail(message) {
  process.stderr.write(`codemode: ${message}\n`);
  process.exit(1);
}

function libc() {
  if (process.platform !== "linux") return "";
  const report = process.report && process.report.getReport();
  return report && report.header && report.header.glibcVersionRuntime ? "glibc" : "musl";
}

function binary() {
  if (process.env.CODEMODE_BINARY) return process.env.CODEMODE_BINARY;
  const platform = [process.platform, process.arch, libc()].filter(Boolean).join(" ");
  const name = PLATFORMS[platform];
  if (!name) {
    fail(
      `there is no codemode binary for ${platform} in this package (there is for: ` +
        `${Object.keys(PLATFORMS).join(", ")}). Build it from source with ` +
        "`cargo install --locked --path crates/codemode` in a checkout, or set " +
        "CODEMODE_BINARY to a codemode binary.",
    );
  }
  let manifest;
  try {
    manifest = require.resolve(`${name}/package.json`);
  } catch {
    fail(
      `the package ${name}, which carries codemode's binary for ${platform}, is not ` +
        "installed. npm installs it as an optional dependency of codemode; installing with " +
        "--omit=optional (or --no-optional) leaves it out. Install codemode again without it.",
    );
  }
  return path.join(path.dirname(manifest), "bin", "codemode");
}

const child = spawn(binary(), process.argv.slice(2), { stdio: "inherit" });
// A client that stops codemode signals this process: the binary gets the same signal.
const forwarded = ["SIGINT", "SIGTERM", "SIGHUP"];
for (const signal of forwarded) process.on(signal, () => child.kill(signal));
child.on("error", (error) => fail(`cannot start ${error.path || "the binary"}: ${error.message}`));
child.on("exit", (code, signal) => {
  if (signal) {
    // Die of the same signal, so that whoever started this sees what the binary saw.
    for (const s of forwarded) process.removeAllListeners(s);
    process.kill(process.pid, signal);
  } else {
    process.exit(code);
  }
});
