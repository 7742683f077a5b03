-- Records a message of the in-process bus the service gave up on (table
-- tracking.dead_letters; the Pulsar feed uses a dead-letter topic instead).
-- $1 subscription, $2 event id (or NULL), $3 message key, $4 payload, $5 properties
-- (JSON object), $6 why.
INSERT INTO tracking.dead_letters (subscription, event_id, message_key, payload, properties, reason)
VALUES ($1, $2, $3, $4, $5, $6)
