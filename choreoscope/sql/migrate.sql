-- Upgrades of older databases (choreoscope/migrate.py), run once, in one transaction.

-- name: migrate_1_set_aside
-- Schema 1 stored every span in one wide table named spans; schema 2 makes spans a view.
ALTER TABLE spans RENAME TO spans_v1

-- name: migrate_1_drop_views
DROP VIEW IF EXISTS spans_full

-- name: migrate_1_shapes
SELECT DISTINCT service_name, name, kind, status_code, msg_system, msg_destination,
       msg_destination_kind, msg_operation_type, msg_operation_name, msg_consumer_group,
       peer_service, server_address, db_system
FROM spans_v1

-- name: migrate_1_insert_shapes
INSERT INTO span_shapes SELECT * FROM _migrate_shapes

-- name: migrate_1_rows
INSERT INTO span_rows BY NAME
SELECT s.* EXCLUDE (service_name, name, kind, status_code, msg_system, msg_destination,
                   msg_destination_kind, msg_operation_type, msg_operation_name,
                   msg_consumer_group, peer_service, server_address, db_system),
       h.shape_id
FROM spans_v1 s
JOIN _migrate_shapes h
    ON s.service_name IS NOT DISTINCT FROM h.service_name
   AND s.name IS NOT DISTINCT FROM h.name
   AND s.kind IS NOT DISTINCT FROM h.kind
   AND s.status_code IS NOT DISTINCT FROM h.status_code
   AND s.msg_system IS NOT DISTINCT FROM h.msg_system
   AND s.msg_destination IS NOT DISTINCT FROM h.msg_destination
   AND s.msg_destination_kind IS NOT DISTINCT FROM h.msg_destination_kind
   AND s.msg_operation_type IS NOT DISTINCT FROM h.msg_operation_type
   AND s.msg_operation_name IS NOT DISTINCT FROM h.msg_operation_name
   AND s.msg_consumer_group IS NOT DISTINCT FROM h.msg_consumer_group
   AND s.peer_service IS NOT DISTINCT FROM h.peer_service
   AND s.server_address IS NOT DISTINCT FROM h.server_address
   AND s.db_system IS NOT DISTINCT FROM h.db_system

-- name: migrate_1_drop_old
DROP TABLE spans_v1

-- name: migrate_set_version
UPDATE schema_meta SET value = $version WHERE key = 'schema_version'
