-- Viewer stats (GET /api/presence/stats in openapi.yaml): a page's viewer count over time, and its peak.

-- One row per page with viewers per sample (once a minute by default), plus a 0 when a
-- page that had viewers at the last sample has none any more. Kept for
-- PRESENCE_STATS_RETENTION.
CREATE TABLE viewer_samples (
    page_path TEXT NOT NULL,        -- the normalized page path
    sampled_at BIGINT NOT NULL,     -- unix milliseconds of the sample
    viewer_count BIGINT NOT NULL CHECK (viewer_count >= 0),  -- users with a live tab then
    PRIMARY KEY (page_path, sampled_at)  -- also the index of a page's history
);

-- For the retention sweep, which deletes by age over all pages.
CREATE INDEX viewer_samples_by_time ON viewer_samples (sampled_at);

-- The most viewers each page has had at once, exact (the registry tracks it on every
-- change) rather than sampled. Forgotten with the history once the page has had no
-- sample and no new peak for the retention.
CREATE TABLE page_peaks (
    page_path TEXT PRIMARY KEY NOT NULL,
    viewer_count BIGINT NOT NULL CHECK (viewer_count > 0),
    peak_at BIGINT NOT NULL         -- unix milliseconds when the page first had that many
);
