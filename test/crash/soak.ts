/**
 * `make soak`: the crash harness of test/crash/crash.test.ts for 1,000 SIGKILLs (PAIRGATE_SOAK_KILLS to
 * change). Prints progress every 50 kills and the counts; exits 1 if anything acknowledged was lost or
 * an invariant broke.
 */
import { runCrashHarness } from "./crash-harness";

async function main(): Promise<void> {
  const kills = Number(process.env.PAIRGATE_SOAK_KILLS ?? 1000);
  const started = Date.now();
  const counts = await runCrashHarness({
    kills,
    progress: (line) => {
      if (/^kill \d*(50|00):/.test(line)) console.log(`${Math.round((Date.now() - started) / 1000)}s ${line}`);
    },
  });
  console.log(
    `soak: ${counts.kills} kills, ${counts.acked} acknowledged ops, ${counts.lost} lost, ${counts.partial} partial, ` +
      `${counts.inFlight} in flight at a kill (resolved), ${counts.lostReplies} lost claim/rotate replies recovered, ` +
      `${counts.checks} checks, ${Math.round((Date.now() - started) / 1000)} s`,
  );
  for (const p of counts.problems) console.log(`  ${p}`);
  if (counts.lost > 0 || counts.partial > 0) process.exitCode = 1;
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
