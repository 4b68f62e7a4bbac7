CREATE ROLE starface LOGIN;
CREATE ROLE sfreadonly NOLOGIN;
CREATE ROLE "CdrReader" NOLOGIN;
CREATE ROLE "monitor""ing" NOLOGIN;
CREATE DATABASE asterisk OWNER starface TEMPLATE template0 ENCODING 'UTF8';
\c asterisk
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
SET ROLE starface;
CREATE SCHEMA cdr AUTHORIZATION starface;
CREATE TYPE public.call_direction AS ENUM ('inbound', 'outbound', 'internal');
CREATE DOMAIN public.phone_number AS varchar(64) CHECK (VALUE ~ '^[+0-9*#]*$');

CREATE TABLE public.accounts (
  id serial PRIMARY KEY,
  login varchar(64) NOT NULL UNIQUE,
  firstname varchar(128),
  lastname varchar(128),
  email varchar(256),
  "language" varchar(8) DEFAULT 'de',
  "role" varchar(32) DEFAULT 'user',
  uuid uuid DEFAULT public.uuid_generate_v4(),
  created timestamptz DEFAULT now()
);
COMMENT ON TABLE public.accounts IS 'PBX users; do not ALTER SYSTEM here; it''s a comment -- not code';
CREATE TABLE public.phones (
  id serial PRIMARY KEY,
  account_id integer REFERENCES public.accounts(id) ON DELETE CASCADE,
  mac macaddr,
  model text,
  "grant" boolean DEFAULT false,
  settings jsonb DEFAULT '{}'::jsonb
);
CREATE INDEX phones_account_idx ON public.phones (account_id);
CREATE TABLE public.groups (id serial PRIMARY KEY, name text NOT NULL, extension public.phone_number);
CREATE TABLE public.group_members (group_id integer REFERENCES public.groups(id), account_id integer REFERENCES public.accounts(id), PRIMARY KEY (group_id, account_id));
CREATE TABLE public.voicemail_boxes (id serial PRIMARY KEY, account_id integer REFERENCES public.accounts(id), pin varchar(16), greeting text DEFAULT E'Hallo,\nbitte sprechen Sie nach dem Ton.');
CREATE TABLE cdr.calls (
  id bigserial PRIMARY KEY,
  started timestamptz NOT NULL,
  ended timestamptz,
  direction public.call_direction NOT NULL,
  caller public.phone_number,
  callee public.phone_number,
  account_id integer REFERENCES public.accounts(id),
  duration interval GENERATED ALWAYS AS (ended - started) STORED
);
CREATE INDEX calls_started_idx ON cdr.calls (started DESC);
CREATE TABLE public.settings (key text PRIMARY KEY, value text);
INSERT INTO public.settings VALUES ('backup.path', '/var/starface/backup');

CREATE FUNCTION public.touch_created() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  -- SET ROLE postgres; ALTER SYSTEM SET fsync = off;  (text of a body, never run here)
  IF NEW.created IS NULL THEN
    NEW.created := now();
  END IF;
  RAISE DEBUG 'COPY x FROM PROGRAM %', 'not run';
  RETURN NEW;
END;
$fn$;
CREATE TRIGGER accounts_touch BEFORE INSERT ON public.accounts FOR EACH ROW EXECUTE FUNCTION public.touch_created();

CREATE FUNCTION cdr.call_count(acc integer) RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT count(*) FROM cdr.calls WHERE account_id = acc; -- CREATE LANGUAGE plpython3u
$$;
CREATE FUNCTION cdr.calls_of(acc integer) RETURNS SETOF cdr.calls LANGUAGE sql STABLE
BEGIN ATOMIC
  SELECT * FROM cdr.calls WHERE account_id = acc ORDER BY started;
END;
CREATE PROCEDURE cdr.purge(older_than interval) LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM cdr.calls WHERE started < now() - older_than;
END $$;

CREATE VIEW public.account_overview AS
  SELECT a.id, a.login, count(p.id) AS phones FROM public.accounts a LEFT JOIN public.phones p ON p.account_id = a.id GROUP BY a.id, a.login;
CREATE MATERIALIZED VIEW cdr.daily AS SELECT date_trunc('day', started) AS day, count(*) AS calls FROM cdr.calls GROUP BY 1;

GRANT USAGE ON SCHEMA cdr TO sfreadonly, "CdrReader";
GRANT SELECT ON ALL TABLES IN SCHEMA cdr TO "CdrReader";
GRANT SELECT ON public.accounts, public.phones TO sfreadonly;
GRANT SELECT (id, login) ON public.accounts TO "monitor""ing";
GRANT EXECUTE ON FUNCTION cdr.call_count(integer) TO "CdrReader";
REVOKE ALL ON public.settings FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION public.touch_created() FROM PUBLIC;
GRANT SELECT ON public.account_overview TO PUBLIC;
ALTER DEFAULT PRIVILEGES FOR ROLE starface IN SCHEMA cdr GRANT SELECT ON TABLES TO "CdrReader";
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO sfreadonly;

-- Data that looks like SQL: in a dump with data it stands between
-- "COPY ... FROM stdin;" and "\.", and is never run.
INSERT INTO public.settings VALUES
  ('note', E'O''Brien; ALTER SYSTEM SET fsync = off; /* unclosed'),
  ('quote', 'it''s $$ not a dollar quote'),
  ('sql', E'SET ROLE postgres;\nCOPY x FROM PROGRAM ''id'';\n\\.\nCREATE LANGUAGE plpython3u;');
INSERT INTO public.accounts (login, firstname, lastname, "language") VALUES ('1001', 'Grant', 'O''Reilly', 'de');
