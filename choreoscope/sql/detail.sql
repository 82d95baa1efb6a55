-- The map's detail panel (analyzer/detail.py): one node's or one edge's instances, counts,
-- percentiles, queue time and time series, read from the spans or from a kept staging.

-- Direct queries over `spans` for one clicked node or edge, without staging the window:
-- each builds d_rows(trace_id, t0, t1, err, queue_ns) with the analysis' rules for that hop
-- type, then detail_stats / detail_series aggregate it. $service keeps traces that have a
-- span of that service.

-- name: detail_rows_publish
-- A publish is an outermost producer span, as in analyzer_producers: a producer span under
-- a producer span (of any service) for the same destination, or where either names none,
-- belongs to its outermost one (three levels, as there), whose destination is the one any
-- of them names; a 'create' under a batch send is a message of its own, and the send
-- around (or linking to) such creates is not one (the analysis counts that envelope only
-- if a consumer was joined to it: rare, not looked for here).
CREATE OR REPLACE TEMP TABLE d_rows AS
WITH a AS (     -- producer spans naming $topic or none (role and topic per shape, a_shape)
    SELECT r.trace_id, r.span_id, r.parent_span_id, r.start_time_unix_nano AS t0,
           r.end_time_unix_nano AS t1, h.err, coalesce(h.op, '') AS op, h.topic, h.service,
           r.msg_message_id
    FROM span_rows r JOIN a_shape h ON h.shape_id = r.shape_id
    WHERE r.start_time_unix_nano >= $since AND r.start_time_unix_nano < $until
      AND h.role = 'P' AND (h.topic IN ($topic, 'unknown') OR $topic = 'unknown')
),
-- (equi-joins only: a condition on both sides in an ANTI JOIN's ON makes DuckDB compare
-- every pair, 0.8 s for 14k producers)
n AS (          -- whether each is nested in its parent (a_msg's p_nested)
    SELECT c.*, coalesce(q.span_id IS NOT NULL AND NOT (c.op = 'create' AND q.op <> 'create')
                         AND (c.topic = q.topic OR c.topic = 'unknown'
                              OR q.topic = 'unknown'), false) AS nested
    FROM a c LEFT JOIN a q ON q.trace_id = c.trace_id AND q.span_id = c.parent_span_id
),
g AS (          -- each publish: its outermost span, destination and error
    SELECT c.trace_id,
           CASE WHEN NOT c.nested THEN c.span_id WHEN NOT q.nested THEN q.span_id
                ELSE q.parent_span_id END AS canon,
           coalesce(max(c.topic) FILTER (WHERE c.topic <> 'unknown'), 'unknown') AS topic,
           bool_or(c.err) AS err
    FROM n c LEFT JOIN n q ON q.trace_id = c.trace_id AND q.span_id = c.parent_span_id
    GROUP BY ALL
),
envelope AS (  -- a send around (or linking to) the creates of its messages
    SELECT k.trace_id, k.parent_span_id AS span_id FROM a k
    WHERE k.op = 'create' AND k.service = $name AND k.topic = $topic
    UNION
    SELECT l.trace_id, l.span_id FROM span_links l
    JOIN a k ON k.trace_id = l.linked_trace_id AND k.span_id = l.linked_span_id
    WHERE k.service = $name AND k.topic = $topic
    UNION
    -- (a producer span saying it does something else than send, naming no destination and
    -- no message: Brighter's outbox sweeper's "clear", as analyzer_producers' env)
    SELECT k.trace_id, k.span_id FROM a k
    WHERE k.service = $name AND k.topic = 'unknown' AND k.msg_message_id IS NULL
      AND k.op NOT IN ('', 'send', 'create', 'receive', 'process')
)
SELECT p.trace_id, p.span_id, p.t0, p.t1, g.err, NULL::BIGINT AS queue_ns
FROM n p
JOIN g ON g.trace_id = p.trace_id AND g.canon = p.span_id
LEFT JOIN envelope e ON e.trace_id = p.trace_id AND e.span_id = p.span_id
WHERE p.service = $name AND g.topic = $topic AND (e.span_id IS NULL OR p.op = 'create')

-- name: detail_implied_shapes
-- Whether $name may have implied publishes to $topic (analyzer_implied), by shape: spans of
-- no role or consumer spans of $name, and consumer spans of another service naming $topic.
SELECT (SELECT count(*) FROM a_shape WHERE service = $name AND (role IS NULL OR role = 'C'))
     * (SELECT count(*) FROM a_shape WHERE role = 'C' AND service <> $name AND topic = $topic)

-- name: detail_implied_publishes
-- (when detail_implied_shapes says so) A span of $name, of no role or a consumer span that
-- is no relay, under which a consumer span of another service naming $topic started
-- without a producer (none as parent or by link, none of its message id): an implied
-- publish (analyzer_implied), one per span.
INSERT INTO d_rows
WITH k AS (
    SELECT r.trace_id, r.span_id, r.parent_span_id, r.msg_message_id
    FROM span_rows r JOIN a_shape h ON h.shape_id = r.shape_id
    WHERE r.start_time_unix_nano >= $since AND r.start_time_unix_nano < $until
      AND h.role = 'C' AND h.service <> $name AND h.topic = $topic
      AND r.parent_span_id IS NOT NULL
),
x AS (
    SELECT k.trace_id AS k_trace, k.span_id AS k_span, k.msg_message_id, x.trace_id,
           x.span_id, x.start_time_unix_nano AS t0, x.end_time_unix_nano AS t1, xh.err,
           xh.role
    FROM k JOIN span_rows x ON x.trace_id = k.trace_id AND x.span_id = k.parent_span_id
    JOIN a_shape xh ON xh.shape_id = x.shape_id
    WHERE xh.service = $name AND (xh.role IS NULL OR xh.role = 'C')
      AND x.start_time_unix_nano >= $since AND x.start_time_unix_nano < $until
)
SELECT DISTINCT x.trace_id, x.span_id, x.t0, x.t1, x.err, NULL::BIGINT AS queue_ns
FROM x
WHERE NOT EXISTS (SELECT 1 FROM span_links l JOIN span_rows p ON p.trace_id = l.linked_trace_id
                                             AND p.span_id = l.linked_span_id
                  JOIN a_shape ph ON ph.shape_id = p.shape_id
                  WHERE l.trace_id = x.k_trace AND l.span_id = x.k_span AND ph.role = 'P')
  AND NOT EXISTS (SELECT 1 FROM span_rows p JOIN a_shape ph ON ph.shape_id = p.shape_id
                  WHERE x.msg_message_id IS NOT NULL AND p.msg_message_id = x.msg_message_id
                    AND ph.role = 'P')
  -- (not a relay: a consumer span with a producer child of its service naming $topic)
  AND NOT (x.role = 'C'
           AND EXISTS (SELECT 1 FROM span_rows y JOIN a_shape yh ON yh.shape_id = y.shape_id
                       WHERE y.trace_id = x.trace_id AND y.parent_span_id = x.span_id
                         AND yh.role = 'P' AND yh.service = $name AND yh.topic = $topic))

-- name: detail_unnamed_producers
-- Whether $name has producer spans naming no destination (by shape: no span is read).
SELECT count(*) FROM a_shape WHERE service = $name AND role = 'P' AND topic = 'unknown'

-- name: detail_publish_went
-- (run only when $name has producer spans naming no destination: it reads every consumer
-- span. Three statements, split on their semicolons: none in these comments.) A publish
-- naming no destination went where all its deliveries say it came from, as in
-- analyzer_hops (here its deliveries are the consumer spans that are children of, link
-- to, or carry the message id of any span of it): it leaves the 'unknown' edge's rows and
-- joins its destination's.
-- Its spans are those detail_rows_publish groups: a producer span naming none under
-- another of $name's belongs to that one (its grandparent's if that one is nested too), and
-- one under a producer span naming a destination is that publish's, named already.
CREATE OR REPLACE TEMP TABLE d_went AS
WITH u0 AS (     -- (roles and topics per shape, a_shape)
    SELECT r.trace_id, r.span_id, r.parent_span_id, r.start_time_unix_nano AS t0,
           r.end_time_unix_nano AS t1, h.err, coalesce(h.op, '') AS op, r.msg_message_id
    FROM span_rows r JOIN a_shape h ON h.shape_id = r.shape_id
    WHERE r.start_time_unix_nano >= $since AND r.start_time_unix_nano < $until
      AND h.service = $name AND h.topic = 'unknown' AND h.role = 'P'
),
named AS (       -- producer spans naming a destination that are parents of those
    SELECT q.trace_id, q.span_id FROM span_rows q
    SEMI JOIN u0 ON u0.trace_id = q.trace_id AND u0.parent_span_id = q.span_id
    WHERE q.shape_id IN (SELECT shape_id FROM a_shape WHERE role = 'P' AND topic <> 'unknown')
),
n AS (           -- whether each is nested in its parent
    SELECT c.*, coalesce(q.span_id IS NOT NULL
                         AND NOT (c.op = 'create' AND q.op <> 'create'), false) AS nested
    FROM u0 c LEFT JOIN u0 q ON q.trace_id = c.trace_id AND q.span_id = c.parent_span_id
    ANTI JOIN named x ON x.trace_id = c.trace_id AND x.span_id = c.parent_span_id
),
u AS (           -- each span with the outermost span of its publish (canon)
    SELECT c.trace_id, c.span_id, c.err,
           CASE WHEN NOT c.nested THEN c.span_id WHEN NOT q.nested THEN q.span_id
                ELSE q.parent_span_id END AS canon
    FROM n c LEFT JOIN n q ON q.trace_id = c.trace_id AND q.span_id = c.parent_span_id
    WHERE NOT c.nested OR q.span_id IS NOT NULL
)
SELECT u.trace_id, u.canon AS span_id, any_value(o.t0) AS t0, any_value(o.t1) AS t1,
       bool_or(u.err) AS err, min(c.topic) AS topic
FROM u JOIN u0 o ON o.trace_id = u.trace_id AND o.span_id = u.canon
JOIN (
    SELECT r.trace_id, r.parent_span_id, h.topic
    FROM span_rows r JOIN a_shape h ON h.shape_id = r.shape_id
    WHERE r.start_time_unix_nano >= $since AND r.start_time_unix_nano < $until
      AND h.role = 'C'
    UNION ALL
    SELECT l.linked_trace_id, l.linked_span_id, h.topic
    FROM span_links l
    JOIN span_rows r ON r.trace_id = l.trace_id AND r.span_id = l.span_id
    JOIN a_shape h ON h.shape_id = r.shape_id
    WHERE r.start_time_unix_nano >= $since AND r.start_time_unix_nano < $until
      AND h.role = 'C'
    UNION ALL
    -- (and those of its message id that reach no producer span by context: joined to it
    -- by that id, as analyzer_matches joins them when nothing stronger does)
    SELECT m.trace_id, m.span_id, h.topic
    FROM span_rows r JOIN a_shape h ON h.shape_id = r.shape_id
    JOIN u0 m ON m.msg_message_id = r.msg_message_id
    ANTI JOIN (SELECT q.trace_id, q.span_id FROM span_rows q
               WHERE q.shape_id IN (SELECT shape_id FROM a_shape WHERE role = 'P')) q
        ON q.trace_id = r.trace_id AND q.span_id = r.parent_span_id
    WHERE r.start_time_unix_nano >= $since AND r.start_time_unix_nano < $until
      AND h.role = 'C' AND coalesce(r.link_count, 0) = 0
) c ON c.trace_id = u.trace_id AND c.parent_span_id = u.span_id
WHERE c.topic <> 'unknown'
GROUP BY u.trace_id, u.canon HAVING count(DISTINCT c.topic) = 1;
DELETE FROM d_rows USING d_went w
WHERE d_rows.trace_id = w.trace_id AND d_rows.span_id = w.span_id;
INSERT INTO d_rows
SELECT trace_id, span_id, t0, t1, err, NULL FROM d_went WHERE topic = $topic

-- name: detail_rows_consume
-- Deliveries from $topic to $name, counted as analyzer_consumers counts them. A consumer
-- span naming no destination belongs to the one of the consumer span it is nested in,
-- else to its producer's, so those are read too and kept only if that is $topic.
CREATE OR REPLACE TEMP TABLE d_rows AS
WITH lk AS (   -- (links, but none from a span to itself: analyzer_link_keys; the key
               -- columns and message id only: an attribute column read with them costs more
               -- than the rest)
    SELECT trace_id, span_id, linked_trace_id, linked_span_id,
           CASE WHEN msg_message_id IS NOT NULL THEN hash(msg_message_id) END AS lmid
    FROM span_links
    WHERE NOT (span_id = linked_span_id AND trace_id = linked_trace_id)
),
c AS (     -- (roles and topics come from the shapes, a_shape: decided once per shape)
    SELECT r.trace_id, r.span_id, r.parent_span_id, r.start_time_unix_nano AS t0,
           r.end_time_unix_nano AS t1, h.err, r.msg_message_id,
           CASE WHEN h.role = 'P' THEN 'process' ELSE h.op END AS op, h.kind, h.name, h.topic,
           r.msg_batch_count AS batch_n, r.shape_id
    FROM span_rows r JOIN a_shape h ON h.shape_id = r.shape_id
    WHERE r.start_time_unix_nano >= $since AND r.start_time_unix_nano < $until
      -- (all of $name's for the 'unknown' edge: one naming none may belong to another's)
      AND h.service = $name AND (h.topic IN ($topic, 'unknown') OR $topic = 'unknown')
      AND (h.role = 'C'
           -- (a SERVER span saying it sends under another service's publish to its
           -- destination is that message's delivery: analyzer_delivered, d_served)
           OR (h.role = 'P' AND h.kind = 'SERVER'
               AND (r.trace_id, r.span_id) IN (SELECT trace_id, span_id FROM d_served)))
    UNION ALL
    -- (a delivery pushed to a handler that knows nothing of messaging: analyzer_pushed,
    -- d_pushed)
    SELECT trace_id, span_id, parent_span_id, t0, t1, err, msg_message_id, op, kind, name,
           topic, batch_n, NULL::BIGINT
    FROM d_pushed
),
reach AS MATERIALIZED (   -- the producer spans each consumer span reaches by parent or link (ctx),
               -- and those of the same message id and destination
    SELECT r.trace_id, r.span_id, r.op, p.trace_id AS p_trace, p.span_id AS p_span,
           p.end_time_unix_nano AS p_t1, true AS ctx, ph.topic AS p_topic,
           p.parent_span_id AS p_parent, ph.op AS p_op, ph.service AS p_service, r.lmid
    FROM (SELECT trace_id, span_id, op, trace_id AS to_trace, parent_span_id AS to_span,
                 NULL::UBIGINT AS lmid
          FROM c WHERE parent_span_id IS NOT NULL
          UNION ALL
          SELECT c.trace_id, c.span_id, c.op, l.linked_trace_id, l.linked_span_id, l.lmid
          FROM c JOIN lk l ON l.trace_id = c.trace_id AND l.span_id = c.span_id) r
    JOIN span_rows p ON p.trace_id = r.to_trace AND p.span_id = r.to_span
    JOIN a_shape ph ON ph.shape_id = p.shape_id
    WHERE ph.role = 'P'
    UNION ALL
    SELECT c.trace_id, c.span_id, c.op, p.trace_id, p.span_id, p.end_time_unix_nano, false,
           ph.topic, NULL, ph.op, ph.service, NULL
    FROM c
    JOIN span_rows p ON p.msg_message_id = c.msg_message_id
    JOIN a_shape ph ON ph.shape_id = p.shape_id
    WHERE ph.role = 'P' AND (ph.topic IN ($topic, 'unknown') OR $topic = 'unknown')
),
own AS (SELECT DISTINCT trace_id, span_id FROM reach WHERE ctx),  -- has its own context
linking AS (SELECT DISTINCT l.trace_id, l.span_id FROM lk l
            SEMI JOIN c ON c.trace_id = l.trace_id AND c.span_id = l.span_id),
-- (a poll names its message by an id, a link or a consumer span under it, as in
-- analyzer_consumers)
named AS (
    SELECT c.trace_id, c.span_id, c.shape_id FROM c
    WHERE c.kind IN ('CLIENT', 'CONSUMER') AND c.op = 'receive'
      AND (c.msg_message_id IS NOT NULL
           OR EXISTS (SELECT 1 FROM linking k WHERE k.trace_id = c.trace_id
                         AND k.span_id = c.span_id)
           OR EXISTS (SELECT 1 FROM c k WHERE k.trace_id = c.trace_id
                         AND k.parent_span_id = c.span_id))
),
multi AS MATERIALIZED (   -- spans reaching several producers by context (few)
    SELECT trace_id, span_id FROM reach WHERE ctx
    GROUP BY trace_id, span_id HAVING min(hash(p_trace, p_span)) <> max(hash(p_trace, p_span))
),
batch_shapes AS MATERIALIZED (   -- (the shapes of those spans: batch consumers)
    SELECT DISTINCT x.shape_id FROM c x
    SEMI JOIN multi m ON m.trace_id = x.trace_id AND m.span_id = x.span_id
),
counting AS MATERIALIZED (   -- (shapes of polls that count their messages: analyzer_consumers)
    SELECT DISTINCT shape_id FROM c WHERE batch_n > 0
),
empty AS (     -- a poll naming no message where polls of its shape name theirs: came back empty
    SELECT c.trace_id, c.span_id FROM c
    ANTI JOIN own w ON w.trace_id = c.trace_id AND w.span_id = c.span_id
    ANTI JOIN named n ON n.trace_id = c.trace_id AND n.span_id = c.span_id
    WHERE c.kind IN ('CLIENT', 'CONSUMER') AND c.op = 'receive'
      -- (a poll of a shape whose polls say how many they brought decides by that alone)
      AND ((c.batch_n = 0 AND c.shape_id IN (SELECT shape_id FROM counting))
           OR (c.shape_id NOT IN (SELECT shape_id FROM counting)
               AND (c.shape_id IN (SELECT shape_id FROM named)
                    -- (or naming no destination where the service's other consumers name
                    -- theirs)
                    OR (c.topic = 'unknown'
                        AND EXISTS (SELECT 1 FROM a_shape d WHERE d.service = $name
                                       AND d.role = 'C' AND d.topic <> 'unknown')))))
    UNION ALL
    -- (a span of a batch consumer's shape naming no message: an empty batch, analyzer_consumers'
    -- empty_batches)
    SELECT c.trace_id, c.span_id FROM c
    SEMI JOIN batch_shapes bn ON bn.shape_id = c.shape_id
    ANTI JOIN own w ON w.trace_id = c.trace_id AND w.span_id = c.span_id
    ANTI JOIN linking k ON k.trace_id = c.trace_id AND k.span_id = c.span_id
    WHERE c.msg_message_id IS NULL
      AND NOT EXISTS (SELECT 1 FROM c k WHERE k.trace_id = c.trace_id
                         AND k.parent_span_id = c.span_id)
),
shared AS (    -- a delivery handled by several spans in it that have their message from it
    SELECT o.trace_id, o.span_id
    FROM c o SEMI JOIN own w ON w.trace_id = o.trace_id AND w.span_id = o.span_id
    JOIN c k ON k.trace_id = o.trace_id AND k.parent_span_id = o.span_id
    WHERE coalesce(o.op, '') IN ('receive', 'create')
      AND coalesce(k.op, '') NOT IN ('receive', 'create')
      AND NOT EXISTS (SELECT 1 FROM own w2 WHERE w2.trace_id = k.trace_id
                         AND w2.span_id = k.span_id)
    GROUP BY o.trace_id, o.span_id HAVING count(*) > 1
),
layered AS MATERIALIZED (   -- the inner of two consumer spans, one inside the other, that reached two
               -- layers of one publish (a producer span and its producer child): as in
               -- analyzer_consumers (there by the canonical publish)
    SELECT CASE WHEN yc.t0 <= xc.t0 AND xc.t1 <= yc.t1
                     AND (xc.t0 <> yc.t0 OR xc.t1 <> yc.t1 OR x.span_id > y.span_id)
                THEN x.trace_id ELSE y.trace_id END AS trace_id,
           CASE WHEN yc.t0 <= xc.t0 AND xc.t1 <= yc.t1
                     AND (xc.t0 <> yc.t0 OR xc.t1 <> yc.t1 OR x.span_id > y.span_id)
                THEN x.span_id ELSE y.span_id END AS span_id
    FROM reach x JOIN reach y ON y.p_trace = x.p_trace AND y.p_span = x.p_parent
    JOIN c xc ON xc.trace_id = x.trace_id AND xc.span_id = x.span_id
    JOIN c yc ON yc.trace_id = y.trace_id AND yc.span_id = y.span_id
    WHERE x.ctx AND y.ctx
      AND ((yc.t0 <= xc.t0 AND xc.t1 <= yc.t1) OR (xc.t0 <= yc.t0 AND yc.t1 <= xc.t1))
),
handoff AS (   -- a delivery under a millisecond followed at once by another of the same
               -- producer span: its hand-off (analyzer_consumers' handoff)
    SELECT q.trace_id, q.span_id FROM reach q
    JOIN c qc ON qc.trace_id = q.trace_id AND qc.span_id = q.span_id
    JOIN reach o ON o.p_trace = q.p_trace AND o.p_span = q.p_span
    JOIN c oc ON oc.trace_id = o.trace_id AND oc.span_id = o.span_id
    WHERE q.ctx AND o.ctx AND qc.t1 - qc.t0 < 1000000 AND NOT qc.err
      AND NOT (o.trace_id = q.trace_id AND o.span_id = q.span_id)
      AND oc.t0 >= qc.t1 AND oc.t0 - qc.t1 < 5000000
      AND (qc.msg_message_id IS NULL OR oc.msg_message_id IS NULL
           OR qc.msg_message_id = oc.msg_message_id)
),
rebatched AS ( -- such a span whose every producer another span reached alone
               -- (analyzer_consumers' rebatched)
    SELECT b.trace_id, b.span_id
    FROM (SELECT DISTINCT r.trace_id, r.span_id, r.p_trace, r.p_span FROM reach r
          SEMI JOIN multi m ON m.trace_id = r.trace_id AND m.span_id = r.span_id
          WHERE r.ctx) b
    LEFT JOIN (SELECT DISTINCT o.p_trace, o.p_span FROM reach o
               ANTI JOIN multi m ON m.trace_id = o.trace_id AND m.span_id = o.span_id
               WHERE o.ctx) o ON o.p_trace = b.p_trace AND o.p_span = b.p_span
    GROUP BY b.trace_id, b.span_id HAVING count(*) FILTER (WHERE o.p_span IS NULL) = 0
),
polls AS (     -- a poll whose message a processing span of the same service also reached
    SELECT DISTINCT r.trace_id, r.span_id
    FROM reach r JOIN reach q ON q.p_trace = r.p_trace AND q.p_span = r.p_span
    WHERE coalesce(r.op, '') = 'receive' AND coalesce(q.op, '') <> 'receive'
),
counted AS (   -- one per delivery: not the inner span of nested consumer spans (unless the
               -- outer is a poll or anchor, or the inner has its own context), not such an
               -- outer span, not a poll beside the span processing its message or an empty
               -- one, not a second layer's span of a delivery or a hand-off, and not a span
               -- that links to the deliveries it wraps (as in analyzer_consumers)
    SELECT c.* FROM c ANTI JOIN polls x ON x.trace_id = c.trace_id AND x.span_id = c.span_id
    ANTI JOIN empty y ON y.trace_id = c.trace_id AND y.span_id = c.span_id
    ANTI JOIN layered z ON z.trace_id = c.trace_id AND z.span_id = c.span_id
    -- (nor a consumer span under such a second layer's span, which has its message from it:
    -- MassTransit's process span under its receive, inside RabbitMQ.Client's deliver)
    ANTI JOIN (SELECT k.trace_id, k.span_id FROM c k
               SEMI JOIN layered z2 ON z2.trace_id = k.trace_id
                                   AND z2.span_id = k.parent_span_id
               ANTI JOIN own w2 ON w2.trace_id = k.trace_id AND w2.span_id = k.span_id) zk
         ON zk.trace_id = c.trace_id AND zk.span_id = c.span_id
    ANTI JOIN rebatched w ON w.trace_id = c.trace_id AND w.span_id = c.span_id
    ANTI JOIN handoff v ON v.trace_id = c.trace_id AND v.span_id = c.span_id
    -- (the parent an unnamed poll or wrapper and the child named: the child counts, as
    -- analyzer_consumers' nested_child says, confluent-kafka's "recv" around its process)
    WHERE NOT EXISTS (SELECT 1 FROM c o WHERE o.trace_id = c.trace_id
                         AND o.span_id = c.parent_span_id
                         AND (NOT (coalesce(o.op, '') IN ('receive', 'create')
                                   AND coalesce(c.op, '') NOT IN ('receive', 'create'))
                              OR EXISTS (SELECT 1 FROM shared h WHERE h.trace_id = o.trace_id
                                            AND h.span_id = o.span_id))
                         AND NOT (coalesce(o.op, 'receive') = 'receive' AND o.topic = 'unknown'
                                  AND c.topic <> 'unknown')
                         AND NOT EXISTS (SELECT 1 FROM own w WHERE w.trace_id = c.trace_id
                                            AND w.span_id = c.span_id))
      AND NOT EXISTS (SELECT 1 FROM c k WHERE k.trace_id = c.trace_id
                         AND k.parent_span_id = c.span_id
                         AND ((coalesce(c.op, '') IN ('receive', 'create')
                               AND coalesce(k.op, '') NOT IN ('receive', 'create')
                               AND NOT EXISTS (SELECT 1 FROM shared h
                                               WHERE h.trace_id = c.trace_id
                                                 AND h.span_id = c.span_id))
                              OR (coalesce(c.op, 'receive') = 'receive' AND c.topic = 'unknown'
                                  AND k.topic <> 'unknown')
                              OR EXISTS (SELECT 1 FROM own w WHERE w.trace_id = k.trace_id
                                            AND w.span_id = k.span_id)))
      AND NOT EXISTS (SELECT 1 FROM lk l JOIN c r ON r.trace_id = l.linked_trace_id
                         AND r.span_id = l.linked_span_id
                      WHERE l.trace_id = c.trace_id AND l.span_id = c.span_id)
),
-- (the destination of a counted span naming none: its outer consumer's, else its producer's)
ptopic AS (     -- (its producer's, or that of a producer span inside it or around it: the
                -- publish's)
    SELECT x.trace_id, x.span_id, max(x.topic) AS topic FROM (
        SELECT r.trace_id, r.span_id, r.p_topic AS topic FROM reach r
        UNION ALL
        SELECT r.trace_id, r.span_id, ih.topic FROM reach r
        JOIN span_rows i ON i.trace_id = r.p_trace AND i.parent_span_id = r.p_span
        JOIN a_shape ih ON ih.shape_id = i.shape_id AND ih.role = 'P'
        UNION ALL
        SELECT r.trace_id, r.span_id, oh.topic FROM reach r
        JOIN span_rows o ON o.trace_id = r.p_trace AND o.span_id = r.p_parent
        JOIN a_shape oh ON oh.shape_id = o.shape_id AND oh.role = 'P'
        WHERE r.p_topic = 'unknown'
        UNION ALL
        -- (else where the message's other deliveries, its producer's children, say it
        -- went: analyzer_consumers' wtopic)
        SELECT r.trace_id, r.span_id, oh.topic FROM reach r
        JOIN span_rows o ON o.trace_id = r.p_trace AND o.parent_span_id = r.p_span
        JOIN a_shape oh ON oh.shape_id = o.shape_id AND oh.role = 'C'
        WHERE r.p_topic = 'unknown' AND r.ctx
    ) x SEMI JOIN c ON c.trace_id = x.trace_id AND c.span_id = x.span_id
                   AND c.topic = 'unknown'
    WHERE x.topic <> 'unknown' GROUP BY x.trace_id, x.span_id
),
mine AS (
    SELECT k.* FROM counted k
    LEFT JOIN c o ON o.trace_id = k.trace_id AND o.span_id = k.parent_span_id
                 AND o.topic <> 'unknown'
    LEFT JOIN ptopic pt ON pt.trace_id = k.trace_id AND pt.span_id = k.span_id
    WHERE CASE WHEN k.topic <> 'unknown' THEN k.topic
               ELSE coalesce(o.topic, pt.topic, 'unknown') END = $topic
),
-- (a message created before the send carrying it: its queue time starts when that send
-- ended, as in analyzer_sent: d_carried, see detail_carried)
sent AS (
    SELECT d.p_trace, d.p_span, max(d.t1) AS t1
    FROM d_carried d
    SEMI JOIN reach r ON r.p_trace = d.p_trace AND r.p_span = d.p_span
                     AND r.p_service = d.service
    GROUP BY d.p_trace, d.p_span
),
prod AS (      -- producers reached by parent or by link, else by message id
    SELECT r.trace_id, r.span_id, greatest(r.p_t1, coalesce(st.t1, r.p_t1)) AS p_t1, r.ctx,
           CASE WHEN r.ctx THEN hash(r.p_trace, r.p_span) END AS p_key, r.lmid
    FROM reach r SEMI JOIN mine k ON k.trace_id = r.trace_id AND k.span_id = r.span_id
    LEFT JOIN sent st ON st.p_trace = r.p_trace AND st.p_span = r.p_span
)
SELECT k.trace_id, k.span_id, k.t0, k.t1, k.err,
       -- greatest() ignores NULL: a delivery with no producer found has no queue time
       CASE WHEN max(p.p_t1) IS NOT NULL THEN
           greatest(k.t0 - coalesce(max(p.p_t1) FILTER (WHERE p.ctx),
                                    max(p.p_t1) FILTER (WHERE NOT p.ctx)), 0) END AS queue_ns,
       -- the messages it delivered: the producers its context reached (a batch reaches
       -- several), else the one its message id names
       CASE WHEN bool_or(p.ctx) THEN count(DISTINCT p.p_key)
            WHEN count(p.p_t1) > 0 THEN 1 ELSE 0 END
       -- (and a producer span it links once per message id is as many messages, as
       -- analyzer_edge_stats counts them)
       + count(DISTINCT hash(p.p_key, p.lmid)) FILTER (WHERE p.lmid IS NOT NULL)
       - count(DISTINCT p.p_key) FILTER (WHERE p.lmid IS NOT NULL) AS messages
FROM mine k LEFT JOIN prod p ON p.trace_id = k.trace_id AND p.span_id = k.span_id
GROUP BY k.trace_id, k.span_id, k.t0, k.t1, k.err

-- name: detail_server_send_shapes
-- Whether $name has SERVER spans saying they send to $topic (vertx-opentelemetry's event
-- bus deliveries): mostly none, and then d_served is empty (detail_served_none).
SELECT count(*) FROM a_shape
WHERE service = $name AND topic = $topic AND role = 'P' AND kind = 'SERVER'

-- name: detail_served
-- Those spans of the window under another service's publish to $topic: deliveries
-- (analyzer_delivered), which detail_rows_consume counts.
CREATE OR REPLACE TEMP TABLE d_served AS
SELECT r.trace_id, r.span_id
FROM span_rows r JOIN a_shape h ON h.shape_id = r.shape_id
JOIN span_rows pr ON pr.trace_id = r.trace_id AND pr.span_id = r.parent_span_id
JOIN a_shape ph ON ph.shape_id = pr.shape_id
WHERE r.start_time_unix_nano >= $since AND r.start_time_unix_nano < $until
  AND h.service = $name AND h.topic = $topic AND h.role = 'P' AND h.kind = 'SERVER'
  AND ph.role = 'P' AND ph.service <> h.service AND ph.topic = h.topic

-- name: detail_served_none
CREATE OR REPLACE TEMP TABLE d_served AS
SELECT NULL::VARCHAR AS trace_id, NULL::VARCHAR AS span_id WHERE false

-- name: detail_push_shapes
-- Whether $name has spans of no role, messaging system, destination or database that
-- another service's producer spans for $topic (or naming none) could be the parents of
-- (their shapes): deliveries pushed to a handler that knows nothing of messaging
-- (analyzer_pushed). Then detail_push_candidates, else detail_pushed_none.
SELECT count(*) FROM a_shape s
WHERE s.service = $name AND s.role IS NULL AND s.kind IN ('SERVER', 'INTERNAL', 'UNSPECIFIED')
  AND s.msg_system IS NULL AND s.db_system IS NULL AND s.topic = 'unknown'
  AND EXISTS (SELECT 1 FROM a_shape p WHERE p.role = 'P' AND p.service <> $name
                                       AND p.topic IN ($topic, 'unknown'))

-- name: detail_push_candidates
-- Those spans of the window whose parent is such a producer span (mostly none), with the
-- columns detail_rows_consume reads of a consumer span: a delivery ('process') of the
-- parent's destination.
CREATE OR REPLACE TEMP TABLE d_push_c AS
SELECT r.trace_id, r.span_id, r.parent_span_id, r.start_time_unix_nano AS t0,
       r.end_time_unix_nano AS t1, h.err, r.msg_message_id, 'process' AS op, h.kind, h.name,
       ph.topic, r.msg_batch_count AS batch_n,
       pr.parent_span_id AS p_parent, pr.msg_message_id AS p_mid
FROM span_rows r JOIN a_shape h ON h.shape_id = r.shape_id
JOIN span_rows pr ON pr.trace_id = r.trace_id AND pr.span_id = r.parent_span_id
JOIN a_shape ph ON ph.shape_id = pr.shape_id
WHERE r.start_time_unix_nano >= $since AND r.start_time_unix_nano < $until
  AND h.service = $name AND h.role IS NULL AND h.kind IN ('SERVER', 'INTERNAL', 'UNSPECIFIED')
  AND h.msg_system IS NULL AND h.db_system IS NULL AND h.topic = 'unknown'
  AND ph.role = 'P' AND ph.service <> $name AND ph.topic IN ($topic, 'unknown')

-- name: detail_pushed
-- (when there are candidates) Those whose publish nothing else consumed: no consumer span
-- is the child of the producer span (or of the producer span around it, its publish),
-- links to it, or names its message id (analyzer_pushed: the analysis asks its matches).
CREATE OR REPLACE TEMP TABLE d_pushed AS
WITH pubs AS (
    SELECT DISTINCT trace_id, parent_span_id AS span_id, p_mid FROM d_push_c
    UNION
    SELECT DISTINCT trace_id, p_parent, NULL FROM d_push_c WHERE p_parent IS NOT NULL
),
consumed AS (
    SELECT k.trace_id, k.parent_span_id AS span_id
    FROM span_rows k JOIN a_shape kh ON kh.shape_id = k.shape_id AND kh.role = 'C'
    SEMI JOIN pubs u ON u.trace_id = k.trace_id AND u.span_id = k.parent_span_id
    UNION
    SELECT l.linked_trace_id, l.linked_span_id
    FROM span_links l SEMI JOIN pubs u ON u.trace_id = l.linked_trace_id
                                      AND u.span_id = l.linked_span_id
    JOIN span_rows k ON k.trace_id = l.trace_id AND k.span_id = l.span_id
    JOIN a_shape kh ON kh.shape_id = k.shape_id AND kh.role = 'C'
    UNION
    SELECT u.trace_id, u.span_id
    FROM pubs u JOIN span_rows k ON k.msg_message_id = u.p_mid
    JOIN a_shape kh ON kh.shape_id = k.shape_id AND kh.role = 'C'
)
SELECT d.* EXCLUDE (p_parent, p_mid) FROM d_push_c d
ANTI JOIN consumed x ON x.trace_id = d.trace_id AND x.span_id = d.parent_span_id
ANTI JOIN consumed y ON y.trace_id = d.trace_id AND y.span_id = d.p_parent

-- name: detail_pushed_none
CREATE OR REPLACE TEMP TABLE d_pushed (trace_id VARCHAR, span_id VARCHAR,
    parent_span_id VARCHAR, t0 BIGINT, t1 BIGINT, err BOOLEAN, msg_message_id VARCHAR,
    op VARCHAR, kind VARCHAR, name VARCHAR, topic VARCHAR, batch_n BIGINT)

-- name: detail_may_carry
-- Whether any message may have been created before the send that carried it (by shape,
-- and for a send's links by its spans' link_count: two integer columns read): a producer
-- shape whose operation is 'create', or a producer span that is no 'create' with links.
SELECT (SELECT count(*) FROM a_shape WHERE role = 'P' AND op = 'create')
     + (SELECT count(*) FROM span_rows
        WHERE link_count > 0
          AND shape_id IN (SELECT shape_id FROM a_shape
                           WHERE role = 'P' AND coalesce(op, '') <> 'create'))

-- name: detail_carried_none
CREATE OR REPLACE TEMP TABLE d_carried (p_trace VARCHAR, p_span VARCHAR, t1 BIGINT,
                                        service VARCHAR)

-- name: detail_carried
-- (run instead when detail_may_carry says so) Each message and the end of the send that
-- carried it (analyzer_producers' a_carried): a 'create' in its send, or a producer span
-- its service's send links to.
CREATE OR REPLACE TEMP TABLE d_carried AS
SELECT c.trace_id AS p_trace, c.span_id AS p_span, e.end_time_unix_nano AS t1,
       eh.service
FROM span_rows c JOIN a_shape ch ON ch.shape_id = c.shape_id
JOIN span_rows e ON e.trace_id = c.trace_id AND e.span_id = c.parent_span_id
JOIN a_shape eh ON eh.shape_id = e.shape_id
WHERE ch.role = 'P' AND ch.op = 'create' AND eh.role = 'P' AND coalesce(eh.op, '') <> 'create'
UNION ALL
SELECT l.linked_trace_id, l.linked_span_id, e.end_time_unix_nano, eh.service
FROM span_rows e JOIN a_shape eh ON eh.shape_id = e.shape_id
JOIN span_links l ON l.trace_id = e.trace_id AND l.span_id = e.span_id
JOIN span_rows c ON c.trace_id = l.linked_trace_id AND c.span_id = l.linked_span_id
JOIN a_shape ch ON ch.shape_id = c.shape_id
WHERE e.link_count > 0 AND eh.role = 'P' AND coalesce(eh.op, '') <> 'create'
  AND ch.role = 'P' AND ch.service = eh.service
  AND NOT (c.trace_id = e.trace_id AND c.span_id = e.span_id)

-- name: detail_instant_deliveries
-- (consume edges: d_rows has their span ids) Deliveries whose span has no duration, as in
-- analyzer_instant_deliveries.
SELECT count(*) FROM d_rows WHERE t1 - t0 < $instant

-- name: detail_delivery_work
-- (run only when there are such deliveries: it reads every span) They last until the end
-- of their direct children in $name that are no messaging spans (analyzer_delivery_work).
UPDATE d_rows SET t1 = w.t1
FROM (SELECT k.trace_id, k.span_id, max(s.end_time_unix_nano) AS t1
      FROM d_rows k
      JOIN span_rows s ON s.trace_id = k.trace_id AND s.parent_span_id = k.span_id
      JOIN a_shape h ON h.shape_id = s.shape_id
      WHERE k.t1 - k.t0 < $instant AND h.role IS NULL AND h.service = $name
      GROUP BY k.trace_id, k.span_id) w
WHERE d_rows.trace_id = w.trace_id AND d_rows.span_id = w.span_id AND w.t1 > d_rows.t1

-- name: detail_rows_route
-- Messages published to $name and delivered from $target (a broker route, e.g. exchange
-- -> queue): per message, from the end of its publish to its first delivery there. Joined
-- as the analysis joins them: parent, span link either way, else the message id.
CREATE OR REPLACE TEMP TABLE d_rows AS
WITH p AS (     -- (roles and topics per shape, a_shape)
    SELECT r.trace_id, r.span_id, r.end_time_unix_nano AS t1, r.msg_message_id
    FROM span_rows r JOIN a_shape h ON h.shape_id = r.shape_id
    WHERE r.start_time_unix_nano >= $since AND r.start_time_unix_nano < $until
      AND h.topic = $name AND h.role = 'P'
),
c AS (
    SELECT r.trace_id, r.span_id, r.parent_span_id, r.start_time_unix_nano AS t0,
           r.msg_message_id
    FROM span_rows r JOIN a_shape h ON h.shape_id = r.shape_id
    WHERE r.start_time_unix_nano >= $since AND r.start_time_unix_nano < $until
      AND h.topic = $target AND h.role = 'C'
),
pairs AS (
    SELECT p.trace_id, p.span_id, p.t1, c.t0
    FROM c JOIN p ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id
    UNION ALL
    SELECT p.trace_id, p.span_id, p.t1, c.t0
    FROM c JOIN span_links l ON l.trace_id = c.trace_id AND l.span_id = c.span_id
    JOIN p ON p.trace_id = l.linked_trace_id AND p.span_id = l.linked_span_id
    UNION ALL
    SELECT p.trace_id, p.span_id, p.t1, c.t0
    FROM p JOIN span_links l ON l.trace_id = p.trace_id AND l.span_id = p.span_id
    JOIN c ON c.trace_id = l.linked_trace_id AND c.span_id = l.linked_span_id
    UNION ALL
    -- (a consumer in a consumer span the publish reached has its message from it, as
    -- analyzer_matches' inherited pairs: consumers under a broker's own receive span)
    SELECT p.trace_id, p.span_id, p.t1, c.t0
    FROM c JOIN span_rows r ON r.trace_id = c.trace_id AND r.span_id = c.parent_span_id
    JOIN a_shape rh ON rh.shape_id = r.shape_id
    JOIN p ON p.trace_id = r.trace_id AND p.span_id = r.parent_span_id
    WHERE rh.role = 'C'
    UNION ALL
    SELECT p.trace_id, p.span_id, p.t1, c.t0
    FROM c JOIN p ON p.msg_message_id = c.msg_message_id
)
SELECT trace_id, t1 AS t0, greatest(min(t0), t1) AS t1, false AS err, NULL::BIGINT AS queue_ns
FROM pairs GROUP BY trace_id, span_id, t1

-- name: detail_rows_call
-- A call to a service: client span (or any caller span) whose child runs in $target, one
-- row per pair (d_calls; detail_calls_rows counts them as calls). Span ids are kept hashed,
-- as the analysis joins them: ck the caller's, gk its parent's, k what keys the call (as in
-- analyzer_hops: a server span whose parent is no client span, or that its client did not
-- wait for, is a call of its own, and one with its client's id is that client's).
CREATE OR REPLACE TEMP TABLE d_calls AS
WITH s AS (     -- (roles per shape, a_shape)
    SELECT r.trace_id, r.span_id, r.parent_span_id, h.kind, r.start_time_unix_nano AS t0,
           r.end_time_unix_nano AS t1, h.err, h.msg_system
    FROM span_rows r JOIN a_shape h ON h.shape_id = r.shape_id
    WHERE r.start_time_unix_nano >= $since AND r.start_time_unix_nano < $until
      AND h.service = $target AND r.parent_span_id IS NOT NULL AND h.role IS NULL
)
SELECT trace_id, CASE WHEN kind = 'SERVER' AND NOT w THEN sk ELSE ck END AS k, ck, gk,
       s_t0, s_t1, p_t0, p_t1, err, w, p_nosys
FROM (
SELECT s.trace_id, s.kind, hash(s.trace_id, s.span_id) AS sk,
       hash(p.trace_id, p.span_id) AS ck,
       CASE WHEN p.parent_span_id IS NOT NULL THEN hash(p.trace_id, p.parent_span_id) END
           AS gk,
       s.t0 AS s_t0, s.t1 AS s_t1, p.start_time_unix_nano AS p_t0,
       p.end_time_unix_nano AS p_t1, s.err OR ph.err AS err, ph.msg_system IS NULL AS p_nosys,
       call_waited(ph.kind, s.kind, p.start_time_unix_nano, p.end_time_unix_nano, s.t0,
                   s.t1) AS w
FROM s JOIN span_rows p ON p.trace_id = s.trace_id AND p.span_id = s.parent_span_id
JOIN a_shape ph ON ph.shape_id = p.shape_id
WHERE ph.service = $name AND ph.role IS NULL
  AND ((ph.kind = 'CLIENT' AND s.kind = 'SERVER') OR ($name <> $target AND s.msg_system IS NULL))
)

-- name: detail_calls_self
-- (a service's call to itself only) Not its sidecar handing it a request, analyzer_hops'
-- handed: a client under a client span of its service, or one waiting for the server that
-- is a root or under a messaging span or a span of another service.
DELETE FROM d_calls c
WHERE c.gk IS NULL AND c.w
   OR c.gk IN (SELECT hash(g.trace_id, g.span_id) FROM span_rows g
               JOIN a_shape gh ON gh.shape_id = g.shape_id
               SEMI JOIN d_calls x ON x.gk = hash(g.trace_id, g.span_id)
               WHERE (gh.kind = 'CLIENT' AND gh.service = $name AND gh.role IS NULL)
                  OR (c.w AND (gh.role IS NOT NULL OR (gh.service <> $name AND c.p_nosys))))

-- name: detail_calls_rows
CREATE OR REPLACE TEMP TABLE d_rows AS
SELECT trace_id, min(CASE WHEN w THEN p_t0 ELSE s_t0 END) AS t0,
       max(CASE WHEN w THEN p_t1 ELSE s_t1 END) AS t1,
       bool_or(err) AS err, NULL::BIGINT AS queue_ns
FROM d_calls GROUP BY trace_id, k

-- name: detail_peer_shapes
-- Whether $name has client spans naming the service $target as their peer (by shape: no
-- span is read). analyzer_hops counts those without spans under them as calls to it.
SELECT count(*) FROM a_shape
WHERE service = $name AND kind = 'CLIENT' AND role IS NULL AND msg_system IS NULL
  AND coalesce(peer_service, db_system, server_address) = $target

-- name: detail_peer_candidates
-- (after detail_rows_call, when detail_peer_shapes says so) Whether any of those client
-- spans is no caller of a span of $target (read by their shapes, a few; those that are,
-- mostly all, make detail_rows_call_peer's look at every span needless).
SELECT count(*) FROM span_rows r JOIN a_shape h ON h.shape_id = r.shape_id
WHERE r.start_time_unix_nano >= $since AND r.start_time_unix_nano < $until
  AND h.service = $name AND h.kind = 'CLIENT' AND h.role IS NULL AND h.msg_system IS NULL
  AND coalesce(h.peer_service, h.db_system, h.server_address) = $target
  AND hash(r.trace_id, r.span_id) NOT IN (SELECT ck FROM d_calls)

-- name: detail_rows_call_peer
-- (run after detail_rows_call when detail_peer_shapes says so, with d_external defined)
-- Client spans of $name naming $target as their peer that are no call to a span (Kong's
-- balancer tries refused before reaching the service): calls to it, as analyzer_hops
-- counts them.
INSERT INTO d_rows
SELECT e.trace_id, e.t0, e.t1, e.err, NULL::BIGINT
FROM d_external($since, $until, $name, $target) e

-- name: detail_learn_shapes
-- Whether $name has client spans naming a peer that analyzer_hops' learned may resolve to
-- a service (by shape: no span is read; mostly none, a peer being a database or a
-- service's own name).
SELECT count(*) FROM a_shape
WHERE service = $name AND learn_peer NOT IN (SELECT service FROM a_shape)

-- name: detail_learned_peers
-- The peers of those client spans that analyzer_hops' learned resolves to $target: every
-- client span of the window naming it that a server span answered reached $target's.
-- (Only client spans naming those peers are joined to their children.)
WITH peers AS (
    SELECT DISTINCT learn_peer AS peer FROM a_shape
    WHERE service = $name AND learn_peer NOT IN (SELECT service FROM a_shape)
),
cs AS (SELECT shape_id, learn_peer AS peer FROM a_shape
       WHERE learn_peer IN (SELECT peer FROM peers))
SELECT x.peer FROM (
    SELECT cs.peer, count(DISTINCT ch.service) AS n, min(ch.service) AS service
    FROM span_rows p JOIN cs ON cs.shape_id = p.shape_id
    JOIN span_rows c ON c.trace_id = p.trace_id AND c.parent_span_id = p.span_id
    JOIN a_shape ch ON ch.shape_id = c.shape_id
    WHERE p.start_time_unix_nano >= $since AND p.start_time_unix_nano < $until
      AND c.start_time_unix_nano >= $since AND c.start_time_unix_nano < $until
      AND ch.kind = 'SERVER' AND ch.role IS NULL
    GROUP BY cs.peer) x
WHERE x.n = 1 AND x.service = $target AND x.service <> $name

-- name: detail_rows_call_learned
-- (run after detail_rows_call for each of those peers, $peer, with d_external defined)
-- Client spans of $name to it that reached no span: calls to $target, as analyzer_hops
-- counts them.
INSERT INTO d_rows
SELECT e.trace_id, e.t0, e.t1, e.err, NULL::BIGINT
FROM d_external($since, $until, $name, $peer) e

-- name: detail_external_calls
-- Calls to a peer without spans ($target): from one service (svc), or from all (svc NULL).
-- A table macro, so the queries below read them alike. As analyzer_hops' ext, not a client
-- span with a span under it that makes it a call to that span's service (waited for or
-- not: a client span of no duration is a mark), a publish or poll (a messaging span), or
-- its service's call to itself or its sidecar's request to its app (a server span of its
-- service); nor one to this host with a client span of its service under it (an app's
-- call to its Dapr sidecar).
CREATE OR REPLACE TEMP MACRO d_external(since, until, svc, target) AS TABLE
SELECT e.trace_id, e.span_id, e.parent_span_id, e.service_name, e.server_address,
       e.db_system, e.start_time_unix_nano AS t0, e.end_time_unix_nano AS t1,
       e.status_code = 'ERROR' AS err
FROM spans e
WHERE e.start_time_unix_nano >= since AND e.start_time_unix_nano < until
  AND (svc IS NULL OR e.service_name = svc)
  AND e.kind = 'CLIENT' AND e.msg_system IS NULL AND e.msg_operation_type IS NULL
  AND coalesce(e.peer_service, e.db_system, e.server_address) = target
  AND NOT EXISTS (
      SELECT 1 FROM span_rows c JOIN a_shape ch ON ch.shape_id = c.shape_id
      WHERE c.trace_id = e.trace_id AND c.parent_span_id = e.span_id
        AND c.start_time_unix_nano >= since AND c.start_time_unix_nano < until
        AND (ch.role IS NOT NULL
             OR (ch.kind = 'SERVER' AND ch.service = e.service_name)
             OR (ch.service <> e.service_name AND (ch.kind = 'SERVER' OR ch.msg_system IS NULL))
             OR (ch.kind = 'CLIENT' AND ch.service = e.service_name
                 AND is_loopback(e.server_address))))

-- name: detail_rows_external
CREATE OR REPLACE TEMP TABLE d_rows AS
SELECT trace_id, t0, t1, err, NULL::BIGINT AS queue_ns
FROM d_external($since, $until, $name, $target)

-- name: detail_transport_shapes
-- Whether client spans to $target may be a messaging span's transport (by shape: a client
-- shape whose server a messaging shape of its service names, or one of no database in a
-- service with producer shapes naming neither destination nor server; no span is read).
SELECT count(*) FROM a_shape c
WHERE c.kind = 'CLIENT' AND c.role IS NULL AND c.msg_system IS NULL
  AND coalesce(c.peer_service, c.db_system, c.server_address) = $target
  AND (EXISTS (SELECT 1 FROM a_shape x WHERE x.service = c.service
                  AND x.server_address = c.server_address AND x.role IS NOT NULL)
       OR (c.db_system IS NULL
           AND EXISTS (SELECT 1 FROM a_shape x WHERE x.service = c.service AND x.role = 'P'
                          AND x.topic = 'unknown' AND x.server_address IS NULL)))

-- name: detail_rows_external_transport
-- (run instead when detail_transport_shapes says so) Not a client span under a messaging
-- span of its service naming the same server: how that message reached the broker, no
-- call; nor one of no database under a producer span of its service naming neither
-- destination nor server (analyzer_hops' transport).
CREATE OR REPLACE TEMP TABLE d_rows AS
SELECT x.trace_id, x.t0, x.t1, x.err, NULL::BIGINT AS queue_ns
FROM d_external($since, $until, $name, $target) x
WHERE NOT EXISTS (
    SELECT 1 FROM span_rows p JOIN a_shape ph ON ph.shape_id = p.shape_id
    WHERE p.trace_id = x.trace_id AND p.span_id = x.parent_span_id
      AND ph.service = x.service_name
      AND ((ph.role IS NOT NULL AND ph.server_address = x.server_address)
           OR (ph.role = 'P' AND ph.topic = 'unknown' AND ph.server_address IS NULL
               AND x.db_system IS NULL)))

-- name: detail_rows_service
-- A service's units of work: its server, consumer and root spans.
CREATE OR REPLACE TEMP TABLE d_rows AS
SELECT trace_id, span_id, start_time_unix_nano AS t0, end_time_unix_nano AS t1,
       status_code = 'ERROR' AS err, NULL::BIGINT AS queue_ns
FROM spans
WHERE start_time_unix_nano >= $since AND start_time_unix_nano < $until
  AND service_name = $name
  AND (kind IN ('SERVER', 'CONSUMER') OR parent_span_id IS NULL)

-- name: detail_rows_topic
-- A topic's traffic: the spans publishing to and consuming from it.
-- (role and topic decided per shape, a_shape, not per span)
CREATE OR REPLACE TEMP TABLE d_rows AS
SELECT r.trace_id, r.start_time_unix_nano AS t0, r.end_time_unix_nano AS t1,
       h.err, NULL::BIGINT AS queue_ns
FROM span_rows r JOIN a_shape h ON h.shape_id = r.shape_id
WHERE r.start_time_unix_nano >= $since AND r.start_time_unix_nano < $until
  AND h.topic = $name AND h.role IS NOT NULL

-- name: detail_keep_service
-- With a service filter: only the rows of traces that touch $service in the window (run
-- after whichever detail_rows_* query filled d_rows).
DELETE FROM d_rows WHERE trace_id NOT IN (
    SELECT trace_id FROM spans WHERE service_name = $service
      AND start_time_unix_nano >= $since AND start_time_unix_nano < $until)

-- name: staged_detail_rows
-- One edge of the map, read from its window's staged tables (analyzer.StagedWindow.detail):
-- its hop instances are the very rows analyzer_edge_stats aggregates, so the detail counts
-- what the map shows, rule for rule. (a_hops keeps no 'pushed' candidates once staged; the
-- node types of $src and $dst tell the hop's type.)
CREATE OR REPLACE TEMP TABLE d_rows AS
SELECT trace_id, t0, t1, err, NULL::BIGINT AS queue_ns, NULL::BIGINT AS messages
FROM a_hops WHERE src = $src AND dst = $dst

-- name: staged_detail_queue
-- (a delivery edge read from the staged window: its queue time and messages, as the map's)
SELECT qq, pairs FROM a_edge_queue WHERE topic = $topic AND service = $service

-- name: detail_stats
SELECT count(*) AS n, sum(err::INT) AS errors,
       quantile_cont(t1 - t0, [0.5, 0.95, 0.99]) AS dq,
       quantile_cont(queue_ns, [0.5, 0.95, 0.99]) AS qq,
       min(t0) AS t0, max(t1) AS t1,
       max_by(trace_id, (t1 - t0, trace_id), 5) AS slowest,
       max_by(trace_id, (t0, trace_id), 5) FILTER (WHERE err) AS failed
FROM d_rows

-- name: detail_messages
-- (consume edges only: their rows count the messages each delivery was joined to)
SELECT coalesce(sum(messages), 0) FROM d_rows

-- name: detail_series
-- Buckets of $step_us microseconds (analyzer.detail.series_step_s; time_bucket works in
-- microseconds: timestamps are ns), aligned as time_bucket aligns them.
SELECT time_bucket(to_microseconds($step_us::BIGINT), make_timestamp(t0 // 1000)) AS t,
       count(*) AS n,
       sum(err::INT) AS errors, quantile_cont(t1 - t0, 0.95) AS p95
FROM d_rows GROUP BY 1 ORDER BY 1

-- name: detail_keys_rows
-- (a delivery edge or a service read from the spans: each of its deliveries or units of
-- work, for detail_breakdown; detail_rows_consume's and detail_rows_service's rows name
-- their spans)
CREATE OR REPLACE TEMP TABLE d_keys AS
SELECT trace_id, span_id, t0, t1, err, queue_ns FROM d_rows

-- name: staged_detail_keys
-- (a delivery edge read from its window's staged tables: each of its deliveries, the hop
-- instances staged_detail_rows reads, with its span and its queue time, the shortest wait
-- of the messages it was joined to, as the flow view has a batch's)
CREATE OR REPLACE TEMP TABLE d_keys AS
SELECT k.trace_id, k.span_id, h.t0, h.t1, h.err, q.queue_ns
FROM a_hops h JOIN a_cons k ON k.sk = h.sk
LEFT JOIN (SELECT c_sk, min(greatest(queue_ns, 0)) AS queue_ns FROM a_match
           GROUP BY c_sk) q ON q.c_sk = h.sk
WHERE h.src = $src AND h.dst = $dst

-- name: detail_breakdown
-- A delivery edge's deliveries (d_keys) by partition and by consumer instance, or a
-- service's units of work by instance ($partitions false): a hot partition or one slow pod
-- shows as its own queue time or duration. The partition is the first the consumer span
-- names (conventions old and new, collector.conventions.KAFKA_PARTITION_KEYS);
-- the instance the first its resource names, readable first: its pod, its host, its
-- service.instance.id, its container. The deliveries' rows are found by their keys alone,
-- and only theirs read whole: the attributes column is most of the table's bytes.
WITH k AS MATERIALIZED (
    SELECT d.t0, d.t1, d.err, d.queue_ns, r.rowid AS rid
    FROM d_keys d
    JOIN span_rows r ON r.trace_id = d.trace_id AND r.span_id = d.span_id
     -- (the deliveries' time range lets the scan skip the rest of the table)
     AND r.start_time_unix_nano BETWEEN (SELECT min(t0) FROM d_keys)
                                    AND (SELECT max(t0) FROM d_keys)
), a AS (
    SELECT rowid AS rid, resource_id,
           -- (not read at all for a service: the attributes are most of the cost)
           CASE WHEN $partitions THEN list_filter(json_extract_string(attributes, [
               '$."messaging.destination.partition.id"',
               '$."messaging.kafka.destination.partition"',
               '$."messaging.kafka.source.partition"', '$."messaging.kafka.partition"',
               '$."messaging.source.partition.id"']), x -> x IS NOT NULL)[1] END AS part
    FROM span_rows WHERE rowid IN (SELECT rid FROM k)
), res AS (
    SELECT resource_id,
           list_filter(json_extract_string(attributes, [
               '$."k8s.pod.name"', '$."host.name"', '$."service.instance.id"',
               '$."container.id"']), x -> x IS NOT NULL)[1] AS inst
    FROM resources WHERE resource_id IN (SELECT resource_id FROM a)
), x AS (
    SELECT k.t0, k.t1, k.err, k.queue_ns, a.part, res.inst
    FROM k JOIN a ON a.rid = k.rid LEFT JOIN res ON res.resource_id = a.resource_id
)
SELECT 'partition' AS dim, part AS key, count(*) AS n, sum(err::INT) AS errors,
       quantile_cont(queue_ns, 0.95) AS queue_p95, quantile_cont(t1 - t0, 0.95) AS p95
FROM x WHERE part IS NOT NULL GROUP BY part
UNION ALL
SELECT 'instance', inst, count(*), sum(err::INT), quantile_cont(queue_ns, 0.95),
       quantile_cont(t1 - t0, 0.95)
FROM x WHERE inst IS NOT NULL GROUP BY inst
