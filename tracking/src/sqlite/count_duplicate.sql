-- One more duplicate delivery ignored by the subscription.
-- $1 subscription.
INSERT INTO tracking_consumer_stats (subscription, duplicates_ignored)
VALUES ($1, 1)
ON CONFLICT (subscription) DO UPDATE
    SET duplicates_ignored = duplicates_ignored + 1
