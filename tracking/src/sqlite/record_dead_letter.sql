-- Records a message of the in-process bus the service gave up on (see the migration).
-- $1 subscription, $2 event id (or NULL), $3 message key, $4 payload, $5 properties
-- (JSON object), $6 why.
INSERT INTO tracking_dead_letters (subscription, event_id, message_key, payload, properties, reason)
VALUES ($1, $2, $3, $4, $5, $6)
