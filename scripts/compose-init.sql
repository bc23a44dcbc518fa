-- Run once by the postgres image on an empty data volume (docker-entrypoint-initdb.d), as the
-- superuser. Three roles, none superuser nor BYPASSRLS, so row-level security always applies:
--   flowpilot_owner  owns the database and schema; used only by `flask --app web db upgrade`
--   flowpilot        the request role; gets DML grants from the migration, owns nothing, and can never
--                    enter the system scope (one SQL injection in a request reads one tenant at most)
--   flowpilot_system the system role (sweeper, heartbeats, token lookups, ops, CLI): DML grants plus the
--                    system-scope capability, both from the migration
-- Passwords are for local docker-compose use only; change them (and the URLs in
-- docker-compose.yml) for anything shared.
CREATE ROLE flowpilot_owner LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD 'flowpilot_owner';
CREATE ROLE flowpilot LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD 'flowpilot';
CREATE ROLE flowpilot_system LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD 'flowpilot_system';
CREATE DATABASE flowpilot OWNER flowpilot_owner;

\connect flowpilot
-- Only the owner creates objects in the schema; the app role just reads and writes rows.
ALTER SCHEMA public OWNER TO flowpilot_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
