"""Round trip through kafka-python: produce COUNT keyed messages with
acks='all', then consume them back without a group.

Usage: kafka_python_roundtrip.py BOOTSTRAP TOPIC COUNT

Security settings, when the broker requires them, come from the environment:
SLUICE_PY_SECURITY_PROTOCOL (SASL_SSL...), SLUICE_PY_SASL_MECHANISM,
SLUICE_PY_USER, SLUICE_PY_PASSWORD, SLUICE_PY_CAFILE.

Prints one JSON object on stdout:
  {"api_version": [...],            # what kafka-python auto-detected
   "produced": [{"partition", "offset"}, ...],   # in send order
   "consumed": [{"partition", "offset", "key", "value"}, ...]}
Exits non-zero (with a traceback) on any client error.
"""

import json
import os
import sys

from kafka import KafkaConsumer, KafkaProducer, TopicPartition


def security():
    """kafka-python settings for a secured listener, from the environment."""
    env = os.environ
    kw = {}
    if env.get("SLUICE_PY_SECURITY_PROTOCOL"):
        kw["security_protocol"] = env["SLUICE_PY_SECURITY_PROTOCOL"]
    if env.get("SLUICE_PY_SASL_MECHANISM"):
        kw["sasl_mechanism"] = env["SLUICE_PY_SASL_MECHANISM"]
        kw["sasl_plain_username"] = env["SLUICE_PY_USER"]
        kw["sasl_plain_password"] = env["SLUICE_PY_PASSWORD"]
    if env.get("SLUICE_PY_CAFILE"):
        kw["ssl_cafile"] = env["SLUICE_PY_CAFILE"]
    return kw


def main():
    bootstrap, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])

    # No api_version: kafka-python probes the broker (ApiVersions) itself.
    producer = KafkaProducer(
        bootstrap_servers=[bootstrap],
        client_id="sluice-itest-python",
        acks="all",
        retries=3,
        request_timeout_ms=10000,
        **security(),
    )
    futures = [
        producer.send(
            topic,
            key=("key-%03d" % i).encode(),
            value=("value-%03d" % i).encode(),
            partition=0,
        )
        for i in range(count)
    ]
    producer.flush(timeout=20)
    produced = []
    for f in futures:
        md = f.get(timeout=10)
        produced.append({"partition": md.partition, "offset": md.offset})
    api_version = producer.config["api_version"]
    producer.close(timeout=10)

    consumer = KafkaConsumer(
        bootstrap_servers=[bootstrap],
        client_id="sluice-itest-python",
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        consumer_timeout_ms=15000,  # stop iterating if nothing arrives
        fetch_max_wait_ms=100,
        **security(),
    )
    consumer.assign([TopicPartition(topic, 0)])
    consumed = []
    for msg in consumer:
        consumed.append(
            {
                "partition": msg.partition,
                "offset": msg.offset,
                "key": msg.key.decode(),
                "value": msg.value.decode(),
            }
        )
        if len(consumed) == count:
            break
    consumer.close()

    json.dump(
        {"api_version": list(api_version), "produced": produced, "consumed": consumed},
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
