-- 0051 liveness of runs: who runs each run, and proof that it still does.
--
-- A run killed with its process (SIGKILL, OOM, a service manager's stop) never records its
-- end. Each run now names its process beyond the pid, which the kernel reuses: `process` is
-- the boot id and the process's start time in clock ticks (/proc/<pid>/stat field 22), so a
-- later process given the same pid is told apart. `heartbeat_at` is refreshed by the Runner
-- while the task runs, so a run of another host is known alive without seeing its process.
-- The sweep (infra/jobs/liveness.py) reads `WHERE status = 'running'` (runs_running_idx).
ALTER TABLE ops.runs ADD COLUMN process text;
ALTER TABLE ops.runs ADD COLUMN heartbeat_at timestamptz;
COMMENT ON COLUMN ops.runs.process IS
    'Identity of the running process beyond its pid: "<boot id>:<start time in clock ticks>"';
COMMENT ON COLUMN ops.runs.heartbeat_at IS
    'Last proof of life of a running run (refreshed every LOCXIA_RUN_HEARTBEAT_SECONDS)';

-- Terraform runs left planning or applying are found by the shape sweep at every start.
CREATE INDEX terraform_runs_open_idx ON ops.terraform_runs (status)
    WHERE status IN ('planning', 'applying');
