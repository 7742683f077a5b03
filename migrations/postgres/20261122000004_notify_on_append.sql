-- Wakes the log's readers (projectors, the outbox relay) as soon as events commit,
-- so their lag is a round trip, not a poll interval. NOTIFY is transactional: the
-- notification is delivered when (and only if) the appending transaction commits.
-- Statement-level: one notification per append, however many events it wrote.
-- Readers poll as well, so a lost notification only delays them.
CREATE FUNCTION notify_events_appended() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    PERFORM pg_notify('alpes_events_appended', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER events_appended
    AFTER INSERT ON events
    FOR EACH STATEMENT
EXECUTE FUNCTION notify_events_appended();
