/* Following one job at a time from a component: the job's latest state re-renders the caller, the watch stops
 * when the component goes away, and words for what a job is doing. The loop itself is api.js's watchJob. */
import { useEffect, useRef, useState } from "../vendor/preact-hooks.mjs";
import { isTerminal, watchJob } from "../js/api.js";

export const JOB_WORDS = {
  queued: "waiting for a worker",
  running: "running",
  retrying: "retrying",
  succeeded: "done",
  failed: "failed",
  cancelled: "cancelled",
};

/** `[job, follow, reset]`: `follow(job)` watches it until it ends and resolves to the final job (null if the
 * component went away or a newer follow replaced it). */
export function useJob() {
  const [job, setJob] = useState(null);
  const ctl = useRef(null);
  useEffect(() => () => ctl.current && ctl.current.abort(), []);

  const follow = async (start) => {
    if (ctl.current) ctl.current.abort();
    setJob(start);
    if (isTerminal(start)) return start;
    const c = new AbortController();
    ctl.current = c;
    try {
      const final = await watchJob(start.id, { signal: c.signal, onUpdate: (j) => !c.signal.aborted && setJob(j) });
      return c.signal.aborted ? null : final;
    } catch (err) {
      if (err && err.name === "AbortError") return null;
      throw err;
    }
  };
  const reset = () => {
    if (ctl.current) ctl.current.abort();
    setJob(null);
  };
  return [job, follow, reset];
}

/** Watch `job` in place of whatever `ctl` (a ref) was watching: null if the job has already ended, else
 * watchJob's promise of the final job. */
export function rewatch(ctl, job, options) {
  if (ctl.current) ctl.current.abort();
  if (isTerminal(job)) return null;
  const c = new AbortController();
  ctl.current = c;
  return watchJob(job.id, { ...options, signal: c.signal });
}

/** The result of an endpoint that answers 200 with data, or 202 with a job whose result is that data. */
export async function dataOrJob(response, follow) {
  if (response && response.job) {
    const final = await follow(response.job);
    if (!final) return null;
    if (final.status !== "succeeded") {
      const err = new Error((final.error && final.error.message) || `the job ${final.status}`);
      err.code = (final.error && final.error.code) || final.status;
      err.job = final;
      throw err;
    }
    return final.result;
  }
  return response;
}

/** "running", "failed: …" — a job's state in words for a status line. */
export function jobLine(job) {
  if (!job) return "";
  const words = JOB_WORDS[job.status] || job.status;
  if (job.status === "failed" && job.error) return `${words}: ${job.error.message || job.error.code}`;
  return words;
}
