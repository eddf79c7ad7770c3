-- 0004 runs woken by a change to a params table (JobSpec.wake_on) are recorded as 'event'.
ALTER TABLE ops.runs DROP CONSTRAINT runs_trigger_check;
ALTER TABLE ops.runs ADD CONSTRAINT runs_trigger_check
    CHECK (trigger IN ('schedule', 'manual', 'chain', 'service', 'event'));
