-- One more duplicate delivery ignored by the subscription.
-- $1 subscription.
INSERT INTO tracking.consumer_stats AS stats (subscription, duplicates_ignored)
VALUES ($1, 1)
ON CONFLICT (subscription) DO UPDATE
    SET duplicates_ignored = stats.duplicates_ignored + 1
