-- A forced recheck stays queued until the check it asked for is stored:
-- the engine's leader claims the rows it takes (claimed_by names its term)
-- and deletes them only after the pass that checked them has stored its
-- results. A leader that dies in between leaves its rows claimed by a
-- term that has ended, and the next leader claims them again. A request
-- that arrives for a claimed target clears the claim, so the target is
-- checked once more after the bounce that asked.
ALTER TABLE recheck_queue
    ADD COLUMN claimed_by text,
    ADD COLUMN claimed_ms bigint;
