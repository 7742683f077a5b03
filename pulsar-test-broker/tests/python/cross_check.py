"""Cross-checks the test broker against the official Apache Pulsar client (pulsar-client on
PyPI, a binding of the C++ client), which is stricter about the protocol than the Rust one.

Usage:
    cross_check.py URL                        run every check, print a summary line
    cross_check.py URL produce TOPIC COUNT    produce COUNT messages (batched), for interop tests
    cross_check.py URL consume TOPIC COUNT    consume COUNT messages from the earliest, print
                                              each as "received payload|key|property source"
                                              (the C++ client logs to stdout too)

Exits non-zero if a check fails.
"""

import itertools
import os
import sys
import time
import traceback

import pulsar
from pulsar import ConsumerType, InitialPosition, MessageId

RECEIVE_TIMEOUT_MS = 10_000
_counter = itertools.count()


def unique(name):
    """A fresh topic or subscription name: the checks share one broker."""
    return f"{name}-{int(time.time() * 1000)}-{next(_counter)}"


def new_client(url):
    # run.sh sends the client's logs to a file (shown on failure): the checks that expect an
    # error would otherwise print error lines on success too
    log_file = os.environ.get("PULSAR_CLIENT_LOG")
    if log_file:
        logger = pulsar.FileLogger(pulsar.LoggerLevel.Info, log_file)
    else:
        logger = pulsar.ConsoleLogger(pulsar.LoggerLevel.Warn)
    return pulsar.Client(url, operation_timeout_seconds=10, logger=logger)


def subscribe(client, topic, subscription, consumer_type=ConsumerType.Exclusive, **options):
    return client.subscribe(
        topic, subscription, consumer_type=consumer_type, initial_position=InitialPosition.Earliest, **options
    )


def receive(consumer):
    return consumer.receive(timeout_millis=RECEIVE_TIMEOUT_MS)


def assert_nothing_more(consumer, within_ms=300):
    try:
        message = consumer.receive(timeout_millis=within_ms)
    except pulsar.Timeout:
        return
    raise AssertionError(f"unexpected message {message.data()!r}")


def check_exclusive_round_trip_with_metadata(client):
    topic = unique("exclusive")
    consumer = subscribe(client, topic, "audit")
    producer = client.create_producer(topic, producer_name=unique("py-producer"))
    for i in range(5):
        producer.send(
            f"order-{i}".encode(),
            properties={"event-type": "OrderPlaced", "index": str(i)},
            partition_key=f"order-{i}",
            event_timestamp=1_700_000_000_000 + i,
        )
    for i in range(5):
        message = receive(consumer)
        assert message.data() == f"order-{i}".encode(), message.data()
        assert message.properties() == {"event-type": "OrderPlaced", "index": str(i)}, message.properties()
        assert message.partition_key() == f"order-{i}"
        assert message.event_timestamp() == 1_700_000_000_000 + i
        assert message.producer_name() == producer.producer_name()
        assert message.redelivery_count() == 0
        consumer.acknowledge(message)
    assert_nothing_more(consumer)
    producer.close()
    consumer.close()


def check_exclusive_refuses_a_second_consumer(client):
    topic = unique("exclusive-busy")
    first = subscribe(client, topic, "s")
    try:
        subscribe(client, topic, "s")
    except pulsar.ConsumerBusy:
        pass
    else:
        raise AssertionError("a second exclusive consumer was admitted")
    first.close()


def check_batched_producer(client):
    topic = unique("batched")
    consumer = subscribe(client, topic, "s")
    producer = client.create_producer(topic, batching_enabled=True, batching_max_publish_delay_ms=50)
    sent = []
    for i in range(10):
        producer.send_async(f"item-{i}".encode(), lambda result, _id: sent.append(result), properties={"i": str(i)})
    producer.flush()
    deadline = time.time() + 10
    while len(sent) < 10 and time.time() < deadline:
        time.sleep(0.01)
    assert sent == [pulsar.Result.Ok] * 10, sent
    for i in range(10):
        message = receive(consumer)
        assert message.data() == f"item-{i}".encode()
        assert message.properties() == {"i": str(i)}
        consumer.acknowledge(message)
    producer.close()
    consumer.close()
    # all the batch's messages were acknowledged: nothing comes back
    again = subscribe(client, topic, "s")
    assert_nothing_more(again)
    again.close()


def check_shared_consumers_split_messages(client):
    topic = unique("shared")
    first = subscribe(client, topic, "workers", ConsumerType.Shared)
    second = subscribe(client, topic, "workers", ConsumerType.Shared)
    producer = client.create_producer(topic)
    for i in range(20):
        producer.send(f"event-{i}".encode(), partition_key=f"k{i % 3}")
    received = {1: [], 2: []}
    deadline = time.time() + 10
    while sum(map(len, received.values())) < 20 and time.time() < deadline:
        for index, consumer in ((1, first), (2, second)):
            try:
                message = consumer.receive(timeout_millis=50)
            except pulsar.Timeout:
                continue
            received[index].append(message.data().decode())
            consumer.acknowledge(message)
    assert received[1] and received[2], received
    assert sorted(received[1] + received[2]) == sorted(f"event-{i}" for i in range(20)), received
    producer.close()
    first.close()
    second.close()


def check_key_shared_keeps_keys_together(client):
    topic = unique("key-shared")
    consumers = [subscribe(client, topic, "projector", ConsumerType.KeyShared) for _ in range(2)]
    producer = client.create_producer(topic)
    for i in range(20):
        producer.send(f"{i}".encode(), partition_key=f"campaign-{i % 5}")
    owners = {}
    count = 0
    deadline = time.time() + 10
    while count < 20 and time.time() < deadline:
        for index, consumer in enumerate(consumers):
            try:
                message = consumer.receive(timeout_millis=50)
            except pulsar.Timeout:
                continue
            owners.setdefault(message.partition_key(), set()).add(index)
            consumer.acknowledge(message)
            count += 1
    assert count == 20, count
    assert all(len(owner) == 1 for owner in owners.values()), owners
    producer.close()
    for consumer in consumers:
        consumer.close()


def check_failover_has_one_active_consumer(client):
    topic = unique("failover")
    active = subscribe(client, topic, "ledger", ConsumerType.Failover, consumer_name="a")
    standby = subscribe(client, topic, "ledger", ConsumerType.Failover, consumer_name="b")
    producer = client.create_producer(topic)
    for i in range(3):
        producer.send(f"payment-{i}".encode())
    for i in range(3):
        message = receive(active)
        assert message.data() == f"payment-{i}".encode()
        active.acknowledge(message)
    assert_nothing_more(standby)
    active.close()
    producer.send(b"after-failover")
    assert receive(standby).data() == b"after-failover"
    producer.close()
    standby.close()


def check_negative_ack_increments_redelivery_count(client):
    topic = unique("nack")
    consumer = subscribe(client, topic, "s", ConsumerType.Shared, negative_ack_redelivery_delay_ms=100)
    producer = client.create_producer(topic)
    producer.send(b"task")
    first = receive(consumer)
    assert first.redelivery_count() == 0
    consumer.negative_acknowledge(first)
    again = receive(consumer)
    assert again.data() == b"task"
    assert again.redelivery_count() == 1, again.redelivery_count()
    consumer.acknowledge(again)
    producer.close()
    consumer.close()


def check_dead_letter_policy(client):
    topic = unique("tracking")
    dead_letter_topic = unique("tracking-dlq")
    dead_letters = subscribe(client, dead_letter_topic, "inspect")
    consumer = subscribe(
        client,
        topic,
        "tracker",
        ConsumerType.Shared,
        negative_ack_redelivery_delay_ms=100,
        dead_letter_policy=pulsar.ConsumerDeadLetterPolicy(max_redeliver_count=1, dead_letter_topic=dead_letter_topic),
    )
    producer = client.create_producer(topic)
    producer.send(b"poison")
    for _ in range(2):
        message = receive(consumer)
        assert message.data() == b"poison"
        consumer.negative_acknowledge(message)
    dead = receive(dead_letters)
    assert dead.data() == b"poison"
    dead_letters.acknowledge(dead)
    assert_nothing_more(consumer)
    for closable in (producer, consumer, dead_letters):
        closable.close()


def check_durable_cursor_across_reconnect(client):
    topic = unique("durable")
    producer = client.create_producer(topic)
    for i in range(5):
        producer.send(f"invoice-{i}".encode())
    consumer = subscribe(client, topic, "billing")
    for i in range(3):
        consumer.acknowledge(receive(consumer))
    consumer.close()  # flushes the grouped acknowledgements
    consumer = subscribe(client, topic, "billing")
    remaining = [receive(consumer).data() for _ in range(2)]
    assert remaining == [b"invoice-3", b"invoice-4"], remaining
    assert_nothing_more(consumer)
    producer.close()
    consumer.close()


def check_reader_and_last_message_id(client):
    topic = unique("reader")
    producer = client.create_producer(topic)
    for i in range(3):
        producer.send(f"line-{i}".encode())
    reader = client.create_reader(topic, MessageId.earliest)
    lines = []
    while reader.has_message_available():
        lines.append(reader.read_next(timeout_millis=RECEIVE_TIMEOUT_MS).data())
    assert lines == [b"line-0", b"line-1", b"line-2"], lines
    reader.close()
    producer.close()


def check_seek_rewinds(client):
    topic = unique("seek")
    producer = client.create_producer(topic)
    for i in range(3):
        producer.send(f"m{i}".encode())
    consumer = subscribe(client, topic, "s")
    ids = []
    for _ in range(3):
        message = receive(consumer)
        ids.append(message.message_id())
        consumer.acknowledge(message)
    # the broker resets the cursor to the message itself; the C++ client then skips it, as the
    # start message is not inclusive by default
    consumer.seek(ids[1])
    message = receive(consumer)
    assert message.data() == b"m2", message.data()
    consumer.acknowledge(message)
    consumer.seek(MessageId.earliest)
    assert [receive(consumer).data() for _ in range(3)] == [b"m0", b"m1", b"m2"]
    consumer.close()
    producer.close()


def check_producer_name_conflict(client):
    topic = unique("names")
    name = unique("relay")
    first = client.create_producer(topic, producer_name=name)
    try:
        client.create_producer(topic, producer_name=name)
    except pulsar.ProducerBusy:
        pass
    else:
        raise AssertionError("a duplicate producer name was admitted")
    first.close()


CHECKS = [value for name, value in sorted(globals().items()) if name.startswith("check_")]


def run_all(url):
    client = new_client(url)
    passed, failed = 0, 0
    for check in CHECKS:
        started = time.time()
        try:
            check(client)
        except Exception:  # report every failing check, not just the first one
            failed += 1
            print(f"FAIL {check.__name__}", flush=True)
            traceback.print_exc()
        else:
            passed += 1
            print(f"ok   {check.__name__} ({time.time() - started:.2f}s)", flush=True)
    client.close()
    print(f"python cross-check: {passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 else 1


def produce(url, topic, count):
    client = new_client(url)
    producer = client.create_producer(topic, batching_enabled=True, batching_max_publish_delay_ms=20)
    results = []
    for i in range(count):
        producer.send_async(f"py-{i}".encode(), lambda result, _id: results.append(result),
                            partition_key=f"k{i}", properties={"source": "python"})
    producer.flush()
    deadline = time.time() + 10
    while len(results) < count and time.time() < deadline:
        time.sleep(0.01)
    client.close()
    return 0 if results == [pulsar.Result.Ok] * count else 1


def consume(url, topic, count):
    client = new_client(url)
    consumer = subscribe(client, topic, unique("python"))
    for _ in range(count):
        message = receive(consumer)
        source = message.properties().get("source", "")
        print(f"received {message.data().decode()}|{message.partition_key()}|{source}", flush=True)
        consumer.acknowledge(message)
    consumer.close()
    client.close()
    return 0


def main(argv):
    if len(argv) == 2:
        return run_all(argv[1])
    if len(argv) == 5 and argv[2] == "produce":
        return produce(argv[1], argv[3], int(argv[4]))
    if len(argv) == 5 and argv[2] == "consume":
        return consume(argv[1], argv[3], int(argv[4]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
