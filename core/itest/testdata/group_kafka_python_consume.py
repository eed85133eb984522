"""Consume COUNT messages of TOPIC as a member of GROUP with kafka-python,
committing synchronously after every poll, then leave the group.

Usage: group_kafka_python_consume.py BOOTSTRAP TOPIC GROUP COUNT

Prints one JSON object on stdout:
  {"consumed": [{"partition", "offset", "value"}, ...],   # in poll order
   "committed": {"<partition>": offset, ...}}              # as the broker reports
Exits non-zero (with a traceback or a message) on any client error, or if
COUNT messages did not arrive within 30 seconds.
"""

import json
import sys
import time

from kafka import KafkaConsumer


def main():
    bootstrap, topic, group, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=[bootstrap],
        client_id="sluice-itest-python-group",
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
        heartbeat_interval_ms=500,
        request_timeout_ms=15000,
    )
    consumed = []
    deadline = time.monotonic() + 30
    while len(consumed) < count:
        if time.monotonic() > deadline:
            sys.exit("only %d of %d messages arrived" % (len(consumed), count))
        for records in consumer.poll(timeout_ms=200).values():
            for msg in records:
                consumed.append(
                    {"partition": msg.partition, "offset": msg.offset, "value": msg.value.decode()}
                )
        consumer.commit()  # synchronous: the positions of everything polled

    committed = {str(tp.partition): consumer.committed(tp) for tp in consumer.assignment()}
    consumer.close(autocommit=False)

    json.dump({"consumed": consumed, "committed": committed}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
