"""librdkafka's transactional producer and read_committed consumer (Debian's
python3-confluent-kafka) against one broker.

Usage: librdkafka_txn.py BOOTSTRAP TOPIC OUT_TOPIC GROUP PER_TXN

TOPIC and OUT_TOPIC must exist with 2 partitions. The script
  1. init_transactions, then three transactions of PER_TXN records each,
     alternating partitions 0 and 1: "c1-i" committed, "a1-i" aborted,
     "c2-i" committed;
  2. reads TOPIC from the start with isolation.level=read_committed and
     with read_uncommitted (no group), until the expected number of records
     arrived and then 1.5 s more, so extra records would be seen too;
  3. consume-transform-produce: a read_committed consumer in GROUP reads
     TOPIC (polling on until its positions reach the high watermarks, past
     the last commit markers, and nothing else came for a second); then
     two transactions each write every record read, prefixed, to the same
     partition of OUT_TOPIC and send the consumer's positions with
     send_offsets_to_transaction: the first ("x-<value>") aborts, and the
     group's committed offsets are read after it; the second
     ("t-<value>") commits.

Prints one JSON object on stdout:
  {"produced": [{"partition", "offset", "value"}, ...],  # delivery reports
   "committed": [...], "uncommitted": [...],            # records consumed
   "transformed": [...],                                # what step 3 read
   "sent_offsets": {"<partition>": offset, ...},        # what step 3 sent
   "committed_after_abort": {"<partition>": offset, ...}} # -1001: none
Exits non-zero (with a traceback or a message) on any client error or if
records do not arrive within 30 seconds.
"""

import json
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

TIMEOUT = 30  # seconds, for every blocking transactional call


def fail_on_error(err):
    # librdkafka reports fatal and non-retriable errors here; fail loudly.
    if err.fatal():
        sys.exit("fatal librdkafka error: %s" % err)


def consume(bootstrap, topic, isolation, want):
    """Read TOPIC's 2 partitions from the start without a group."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "client.id": "sluice-itest-librdkafka-" + isolation,
            "group.id": "unused-" + isolation,  # required by the API; never joined (assign)
            "enable.auto.commit": False,
            "isolation.level": isolation,
            "fetch.wait.max.ms": 100,
            "error_cb": fail_on_error,
        }
    )
    c.assign([TopicPartition(topic, p, 0) for p in (0, 1)])
    got = []
    deadline = time.monotonic() + TIMEOUT
    quiet_until = None
    while True:
        now = time.monotonic()
        if len(got) >= want:
            if quiet_until is None:
                quiet_until = now + 1.5
            elif now > quiet_until:
                break
        elif now > deadline:
            sys.exit("%s: only %d of %d records arrived: %s" % (isolation, len(got), want, got))
        msg = c.poll(0.2)
        if msg is None:
            continue
        if msg.error():
            raise KafkaException(msg.error())
        got.append({"partition": msg.partition(), "offset": msg.offset(), "value": msg.value().decode()})
    c.close()
    return got


def main():
    bootstrap, topic, out_topic, group, per_txn = sys.argv[1:6]
    per_txn = int(per_txn)

    produced = []

    def on_delivery(err, msg):
        if err is not None:
            sys.exit("delivery of %s failed: %s" % (msg.value(), err))
        produced.append({"partition": msg.partition(), "offset": msg.offset(), "value": msg.value().decode()})

    p = Producer(
        {
            "bootstrap.servers": bootstrap,
            "client.id": "sluice-itest-librdkafka-txn",
            "transactional.id": "librdkafka-txn-1",
            "transaction.timeout.ms": 30000,
            "linger.ms": 5,
            "error_cb": fail_on_error,
        }
    )
    p.init_transactions(TIMEOUT)

    def txn(prefix, commit, dest=topic):
        p.begin_transaction()
        for i in range(per_txn):
            p.produce(dest, value=("%s-%d" % (prefix, i)).encode(), partition=i % 2, on_delivery=on_delivery)
        if commit:
            p.commit_transaction(TIMEOUT)  # flushes first
        else:
            p.flush(TIMEOUT)  # so the aborted records really reach the log
            p.abort_transaction(TIMEOUT)

    txn("c1", True)
    txn("a1", False)
    txn("c2", True)
    # Delivery reports of the last transaction are served by commit's flush.
    p.poll(0)

    committed = consume(bootstrap, topic, "read_committed", 2 * per_txn)
    uncommitted = consume(bootstrap, topic, "read_uncommitted", 3 * per_txn)

    # Consume-transform-produce: the group's offsets commit with the output.
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "client.id": "sluice-itest-librdkafka-ctp",
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "fetch.wait.max.ms": 100,
            "error_cb": fail_on_error,
        }
    )
    c.subscribe([topic])
    transformed = []
    deadline = time.monotonic() + TIMEOUT
    while len(transformed) < 2 * per_txn:
        if time.monotonic() > deadline:
            sys.exit("ctp: only %d of %d records arrived" % (len(transformed), 2 * per_txn))
        msg = c.poll(0.2)
        if msg is None:
            continue
        if msg.error():
            raise KafkaException(msg.error())
        transformed.append({"partition": msg.partition(), "offset": msg.offset(), "value": msg.value().decode()})
    # Poll on: nothing more may arrive, and librdkafka moves its positions
    # past the commit markers it fetches after the last records, so once
    # they reach the high watermarks (plus a quiet second) the positions
    # sent are the partitions' ends.
    ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), TIMEOUT)[1] for p in (0, 1)}
    quiet_until = None
    while True:
        now = time.monotonic()
        if quiet_until is None and all(tp.offset == ends[tp.partition] for tp in c.position(c.assignment())):
            quiet_until = now + 1.0
        if quiet_until is not None and now > quiet_until:
            break
        if now > deadline:
            sys.exit("ctp: positions %s did not reach the ends %s" % (c.position(c.assignment()), ends))
        msg = c.poll(0.2)
        if msg is None:
            continue
        if msg.error():
            raise KafkaException(msg.error())
        sys.exit("ctp: unexpected record %s[%d]@%d" % (msg.value(), msg.partition(), msg.offset()))

    positions = c.position(c.assignment())

    def ctp(prefix, commit):
        p.begin_transaction()
        for r in transformed:
            p.produce(out_topic, value=(prefix + r["value"]).encode(), partition=r["partition"], on_delivery=on_delivery)
        p.send_offsets_to_transaction(positions, c.consumer_group_metadata(), TIMEOUT)
        if commit:
            p.commit_transaction(TIMEOUT)
        else:
            p.flush(TIMEOUT)
            p.abort_transaction(TIMEOUT)

    # First aborted: its output is never visible and the offsets it sent
    # never become the group's.
    ctp("x-", False)
    after_abort = {str(tp.partition): tp.offset for tp in c.committed(positions, TIMEOUT)}
    ctp("t-", True)
    c.close()
    p.flush(TIMEOUT)

    json.dump(
        {
            "produced": produced,
            "committed": committed,
            "uncommitted": uncommitted,
            "transformed": transformed,
            "sent_offsets": {str(tp.partition): tp.offset for tp in positions},
            "committed_after_abort": after_abort,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
