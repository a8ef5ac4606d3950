// The repository's commands (TypeScript entry points, through tsx) run as
// child processes, as a user runs them: what they print and their exit status.
import { type ChildProcess, execFile, spawn } from "node:child_process";

export interface Outcome {
  status: number;
  stdout: string;
  stderr: string;
}

/** The environment of the test run, less NODE_OPTIONS (vitest's) and XENSTORED_PATH. */
export function commandEnv(): NodeJS.ProcessEnv {
  const { XENSTORED_PATH: _, NODE_OPTIONS: __, ...env } = process.env;
  return env;
}

/** Runs `script` with `args` to its end. */
export function runCommand(script: string, args: string[], env = commandEnv()): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", script, ...args], { env }, (error, stdout, stderr) => {
      resolve({ status: error ? ((error as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

/** Starts a command that serves until stopped; resolves once it has printed its first line (the node process is the child). */
export async function startCommand(
  script: string,
  args: string[],
): Promise<{ child: ChildProcess; firstLine: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", script, ...args], {
    env: commandEnv(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (bytes: Buffer) => (stderr += bytes.toString()));
  const firstLine = await new Promise<string>((resolve, reject) => {
    let stdout = "";
    child.stdout!.on("data", (bytes: Buffer) => {
      stdout += bytes.toString();
      if (stdout.includes("\n")) resolve(stdout.slice(0, stdout.indexOf("\n")));
    });
    child.once("exit", (code) => reject(new Error(`${script} exited (${code}) before printing a line: ${stderr}`)));
  });
  return { child, firstLine };
}

/** Stops a started command with `signal`; its exit code, or the signal's name when it did not handle it. */
export function stopCommand(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<number | string> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode ?? child.signalCode!);
  const exited = new Promise<number | string>((resolve) => child.once("exit", (code, by) => resolve(code ?? by!)));
  child.kill(signal);
  return exited;
}
