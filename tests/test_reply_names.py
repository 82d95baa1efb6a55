"""Reply destinations named for one request are stored as "(temporary)"
(collector/reply_names.py): the decoders' rule agrees with the analyzer's, and a store
answering many requests keeps one span shape for their replies."""

from __future__ import annotations

import duckdb
import pytest

from choreoscope.sql import named_queries
from collector.reply_names import is_temporary
from tests.builders import SpanSet

# (destination, system, destination kind): names the analyzer's msg_topic calls temporary,
# and names it does not
CASES = [
    ("_INBOX.hrxmHSE6MKM8g9g8bOudis.hrxmHSE6MKM8g9g8bOudlm79aa", "nats", None),
    ("_INBOX", "nats", None),
    ("amq.gen-JzTY20BRgKO-HjmUJj0wLg", "rabbitmq", None),
    ("amq.rabbitmq.reply-to.g1h2AA5yZXBseUAyNzQ2MDc4", "rabbitmq", None),
    ("spring.gen-Xy12", "rabbitmq", None),
    ("amq_e887ecc2bdc0443687e2581deb8afcd1", "rabbitmq", None),
    ("amq_e887ecc2bdc0443687e2581deb8afcd1x", "rabbitmq", None),
    ("amq_orders", "rabbitmq", None),
    ("AMQ.5F3A8C1D2E0B4A01", "ibm_mq", None),
    ("queue://QM1/AMQ.5F3A8C1D2E0B4A01?persistence=1", "jms", None),
    ("queue://QM1/ORDERS", "jms", None),
    ("topic://prices/eur", "jms", None),
    ("CSQ.ABC", "ibm_mq", None),
    ("3f2b9a4e-8c1d-4e5f-9a0b-1c2d3e4f5a6b", "activemq", None),
    ("3f2b9a4e-8c1d-4e5f-9a0b-1c2d3e4f5a6b-x", "activemq", None),
    ("arn:aws:sqs:eu-west-1:123456789012:3f2b9a4e-8c1d-4e5f-9a0b-1c2d3e4f5a6b", "aws_sqs",
     None),
    ("arn:aws:sns:eu-west-1:123456789012:orders", "aws_sns", None),
    ("4oGEwJ0bwE9Mzz8SvsuH22", "redis", None),
    ("4oGEwJ0bwE9Mzz8SvsuH22", "kafka", None),
    ("ordersorderssorderssor", "redis", None),
    # (NUIDs without a digit, one in fifty: two FastStream replies of a real run)
    ("hHUOdAcvstUdfbJSjcViNi", "redis", None),
    ("vLHcOdMjBhLejMtCdYaxTM", "redis", None),
    ("OrderConfirmedChannels", "redis", None),
    ("ORDERCONFIRMEDCHANNELS", "redis", None),
    ("orders", "kafka", "temporary"),
    ("", "rabbitmq", "temporary"),
    ("<default>", "rabbitmq", "temporary"),
    ("*", "kafka", "temporary"),
    ("", "nats", "temporary"),
    ("orders", "kafka", None),
    ("orders", "kafka", "queue"),
    (None, "nats", "temporary"),
    (None, "nats", None),
]


@pytest.fixture(scope="module")
def analyzer_topic():
    con = duckdb.connect()
    con.execute(named_queries()["analyzer_macros"])

    def topic(dest, system, kind):
        return con.execute("SELECT msg_topic(destination_name($d), $s, $k)",
                           {"d": dest, "s": system, "k": kind}).fetchone()[0]
    yield topic
    con.close()


@pytest.mark.parametrize("dest, system, kind", CASES)
def test_the_decoders_and_the_analyzer_agree_on_temporary_names(analyzer_topic, dest, system,
                                                                kind):
    temporary = analyzer_topic(dest, system, kind).startswith("(temporary:")
    assert is_temporary(dest, system, kind) == temporary


def test_cases_hold_both_kinds():
    assert sum(is_temporary(*c) for c in CASES) not in (0, len(CASES))


def test_a_faststream_redis_reply_channel_is_temporary_with_or_without_a_digit():
    for name in ("4oGEwJ0bwE9Mzz8SvsuH22", "hHUOdAcvstUdfbJSjcViNi", "vLHcOdMjBhLejMtCdYaxTM"):
        assert is_temporary(name, "redis", None), name
    for name in ("OrderConfirmedChannels", "ORDERCONFIRMEDCHANNELS", "ordersorderssorderssor"):
        assert not is_temporary(name, "redis", None), name


def test_replies_named_per_request_share_one_shape():
    """FastStream on NATS names a reply's spans by its inbox (``_INBOX.<nuid> publish``):
    stored as "(temporary) publish" to "(temporary)", one shape for every reply, the inbox
    still in the span's attributes."""
    b = SpanSet()
    nats = {"messaging.system": "nats"}
    inboxes = [f"_INBOX.hrxmHSE6MKM8g9g8bOudis.{i:06d}" for i in range(10)]
    for i, inbox in enumerate(inboxes):
        proc = b.span("pricing", "quote process", kind="CONSUMER", start_ms=i * 10,
                      dur_ms=3, attrs={**nats, "messaging.destination_publish.name": "quote"})
        b.span("pricing", f"{inbox} publish", kind="PRODUCER", parent=proc,
               start_ms=i * 10 + 2, dur_ms=0.5,
               attrs={**nats, "messaging.destination.name": inbox})
    st = b.store()
    with st.cursor() as c:
        shapes = c.execute("SELECT name, msg_destination, msg_destination_kind "
                           "FROM span_shapes ORDER BY name").fetchall()
        attrs = c.execute("SELECT json_extract_string(attributes, "
                          "'$.\"messaging.destination.name\"') FROM spans "
                          "WHERE kind = 'PRODUCER' ORDER BY 1").fetchall()
    assert shapes == [("(temporary) publish", "(temporary)", "temporary"),
                      ("quote process", "quote", None)]
    assert [r[0] for r in attrs] == inboxes
