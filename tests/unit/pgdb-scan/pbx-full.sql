--
-- PostgreSQL database dump
--

\restrict fixture

-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: cdr; Type: SCHEMA; Schema: -; Owner: starface
--

CREATE SCHEMA cdr;


ALTER SCHEMA cdr OWNER TO starface;

--
-- Name: uuid-ossp; Type: EXTENSION; Schema: -; Owner: -
--

CREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA public;


--
-- Name: EXTENSION "uuid-ossp"; Type: COMMENT; Schema: -; Owner: 
--

COMMENT ON EXTENSION "uuid-ossp" IS 'generate universally unique identifiers (UUIDs)';


--
-- Name: call_direction; Type: TYPE; Schema: public; Owner: starface
--

CREATE TYPE public.call_direction AS ENUM (
    'inbound',
    'outbound',
    'internal'
);


ALTER TYPE public.call_direction OWNER TO starface;

--
-- Name: phone_number; Type: DOMAIN; Schema: public; Owner: starface
--

CREATE DOMAIN public.phone_number AS character varying(64)
	CONSTRAINT phone_number_check CHECK (((VALUE)::text ~ '^[+0-9*#]*$'::text));


ALTER DOMAIN public.phone_number OWNER TO starface;

--
-- Name: call_count(integer); Type: FUNCTION; Schema: cdr; Owner: starface
--

CREATE FUNCTION cdr.call_count(acc integer) RETURNS bigint
    LANGUAGE sql STABLE
    AS $$
  SELECT count(*) FROM cdr.calls WHERE account_id = acc; -- CREATE LANGUAGE plpython3u
$$;


ALTER FUNCTION cdr.call_count(acc integer) OWNER TO starface;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: calls; Type: TABLE; Schema: cdr; Owner: starface
--

CREATE TABLE cdr.calls (
    id bigint NOT NULL,
    started timestamp with time zone NOT NULL,
    ended timestamp with time zone,
    direction public.call_direction NOT NULL,
    caller public.phone_number,
    callee public.phone_number,
    account_id integer,
    duration interval GENERATED ALWAYS AS ((ended - started)) STORED
);


ALTER TABLE cdr.calls OWNER TO starface;

--
-- Name: calls_of(integer); Type: FUNCTION; Schema: cdr; Owner: starface
--

CREATE FUNCTION cdr.calls_of(acc integer) RETURNS SETOF cdr.calls
    LANGUAGE sql STABLE
    BEGIN ATOMIC
 SELECT calls.id,
     calls.started,
     calls.ended,
     calls.direction,
     calls.caller,
     calls.callee,
     calls.account_id,
     calls.duration
    FROM cdr.calls
   WHERE (calls.account_id = calls_of.acc)
   ORDER BY calls.started;
END;


ALTER FUNCTION cdr.calls_of(acc integer) OWNER TO starface;

--
-- Name: purge(interval); Type: PROCEDURE; Schema: cdr; Owner: starface
--

CREATE PROCEDURE cdr.purge(IN older_than interval)
    LANGUAGE plpgsql
    AS $$
BEGIN
  DELETE FROM cdr.calls WHERE started < now() - older_than;
END $$;


ALTER PROCEDURE cdr.purge(IN older_than interval) OWNER TO starface;

--
-- Name: touch_created(); Type: FUNCTION; Schema: public; Owner: starface
--

CREATE FUNCTION public.touch_created() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
  -- SET ROLE postgres; ALTER SYSTEM SET fsync = off;  (text of a body, never run here)
  IF NEW.created IS NULL THEN
    NEW.created := now();
  END IF;
  RAISE DEBUG 'COPY x FROM PROGRAM %', 'not run';
  RETURN NEW;
END;
$$;


ALTER FUNCTION public.touch_created() OWNER TO starface;

--
-- Name: calls_id_seq; Type: SEQUENCE; Schema: cdr; Owner: starface
--

CREATE SEQUENCE cdr.calls_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


ALTER TABLE cdr.calls_id_seq OWNER TO starface;

--
-- Name: calls_id_seq; Type: SEQUENCE OWNED BY; Schema: cdr; Owner: starface
--

ALTER SEQUENCE cdr.calls_id_seq OWNED BY cdr.calls.id;


--
-- Name: daily; Type: MATERIALIZED VIEW; Schema: cdr; Owner: starface
--

CREATE MATERIALIZED VIEW cdr.daily AS
 SELECT date_trunc('day'::text, calls.started) AS day,
    count(*) AS calls
   FROM cdr.calls
  GROUP BY (date_trunc('day'::text, calls.started))
  WITH NO DATA;


ALTER TABLE cdr.daily OWNER TO starface;

--
-- Name: accounts; Type: TABLE; Schema: public; Owner: starface
--

CREATE TABLE public.accounts (
    id integer NOT NULL,
    login character varying(64) NOT NULL,
    firstname character varying(128),
    lastname character varying(128),
    email character varying(256),
    language character varying(8) DEFAULT 'de'::character varying,
    role character varying(32) DEFAULT 'user'::character varying,
    uuid uuid DEFAULT public.uuid_generate_v4(),
    created timestamp with time zone DEFAULT now()
);


ALTER TABLE public.accounts OWNER TO starface;

--
-- Name: TABLE accounts; Type: COMMENT; Schema: public; Owner: starface
--

COMMENT ON TABLE public.accounts IS 'PBX users; do not ALTER SYSTEM here; it''s a comment -- not code';


--
-- Name: phones; Type: TABLE; Schema: public; Owner: starface
--

CREATE TABLE public.phones (
    id integer NOT NULL,
    account_id integer,
    mac macaddr,
    model text,
    "grant" boolean DEFAULT false,
    settings jsonb DEFAULT '{}'::jsonb
);


ALTER TABLE public.phones OWNER TO starface;

--
-- Name: account_overview; Type: VIEW; Schema: public; Owner: starface
--

CREATE VIEW public.account_overview AS
 SELECT a.id,
    a.login,
    count(p.id) AS phones
   FROM (public.accounts a
     LEFT JOIN public.phones p ON ((p.account_id = a.id)))
  GROUP BY a.id, a.login;


ALTER TABLE public.account_overview OWNER TO starface;

--
-- Name: accounts_id_seq; Type: SEQUENCE; Schema: public; Owner: starface
--

CREATE SEQUENCE public.accounts_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


ALTER TABLE public.accounts_id_seq OWNER TO starface;

--
-- Name: accounts_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: starface
--

ALTER SEQUENCE public.accounts_id_seq OWNED BY public.accounts.id;


--
-- Name: group_members; Type: TABLE; Schema: public; Owner: starface
--

CREATE TABLE public.group_members (
    group_id integer NOT NULL,
    account_id integer NOT NULL
);


ALTER TABLE public.group_members OWNER TO starface;

--
-- Name: groups; Type: TABLE; Schema: public; Owner: starface
--

CREATE TABLE public.groups (
    id integer NOT NULL,
    name text NOT NULL,
    extension public.phone_number
);


ALTER TABLE public.groups OWNER TO starface;

--
-- Name: groups_id_seq; Type: SEQUENCE; Schema: public; Owner: starface
--

CREATE SEQUENCE public.groups_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


ALTER TABLE public.groups_id_seq OWNER TO starface;

--
-- Name: groups_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: starface
--

ALTER SEQUENCE public.groups_id_seq OWNED BY public.groups.id;


--
-- Name: phones_id_seq; Type: SEQUENCE; Schema: public; Owner: starface
--

CREATE SEQUENCE public.phones_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


ALTER TABLE public.phones_id_seq OWNER TO starface;

--
-- Name: phones_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: starface
--

ALTER SEQUENCE public.phones_id_seq OWNED BY public.phones.id;


--
-- Name: settings; Type: TABLE; Schema: public; Owner: starface
--

CREATE TABLE public.settings (
    key text NOT NULL,
    value text
);


ALTER TABLE public.settings OWNER TO starface;

--
-- Name: voicemail_boxes; Type: TABLE; Schema: public; Owner: starface
--

CREATE TABLE public.voicemail_boxes (
    id integer NOT NULL,
    account_id integer,
    pin character varying(16),
    greeting text DEFAULT 'Hallo,
bitte sprechen Sie nach dem Ton.'::text
);


ALTER TABLE public.voicemail_boxes OWNER TO starface;

--
-- Name: voicemail_boxes_id_seq; Type: SEQUENCE; Schema: public; Owner: starface
--

CREATE SEQUENCE public.voicemail_boxes_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


ALTER TABLE public.voicemail_boxes_id_seq OWNER TO starface;

--
-- Name: voicemail_boxes_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: starface
--

ALTER SEQUENCE public.voicemail_boxes_id_seq OWNED BY public.voicemail_boxes.id;


--
-- Name: calls id; Type: DEFAULT; Schema: cdr; Owner: starface
--

ALTER TABLE ONLY cdr.calls ALTER COLUMN id SET DEFAULT nextval('cdr.calls_id_seq'::regclass);


--
-- Name: accounts id; Type: DEFAULT; Schema: public; Owner: starface
--

ALTER TABLE ONLY public.accounts ALTER COLUMN id SET DEFAULT nextval('public.accounts_id_seq'::regclass);


--
-- Name: groups id; Type: DEFAULT; Schema: public; Owner: starface
--

ALTER TABLE ONLY public.groups ALTER COLUMN id SET DEFAULT nextval('public.groups_id_seq'::regclass);


--
-- Name: phones id; Type: DEFAULT; Schema: public; Owner: starface
--

ALTER TABLE ONLY public.phones ALTER COLUMN id SET DEFAULT nextval('public.phones_id_seq'::regclass);


--
-- Name: voicemail_boxes id; Type: DEFAULT; Schema: public; Owner: starface
--

ALTER TABLE ONLY public.voicemail_boxes ALTER COLUMN id SET DEFAULT nextval('public.voicemail_boxes_id_seq'::regclass);


--
-- Data for Name: calls; Type: TABLE DATA; Schema: cdr; Owner: starface
--

COPY cdr.calls (id, started, ended, direction, caller, callee, account_id) FROM stdin;
\.


--
-- Data for Name: accounts; Type: TABLE DATA; Schema: public; Owner: starface
--

COPY public.accounts (id, login, firstname, lastname, email, language, role, uuid, created) FROM stdin;
1	1001	Grant	O'Reilly	\N	de	user	23a2afc1-36db-4ab0-ac34-da28aa9f2dec	2026-11-30 12:22:56.189893+00
\.


--
-- Data for Name: group_members; Type: TABLE DATA; Schema: public; Owner: starface
--

COPY public.group_members (group_id, account_id) FROM stdin;
\.


--
-- Data for Name: groups; Type: TABLE DATA; Schema: public; Owner: starface
--

COPY public.groups (id, name, extension) FROM stdin;
\.


--
-- Data for Name: phones; Type: TABLE DATA; Schema: public; Owner: starface
--

COPY public.phones (id, account_id, mac, model, "grant", settings) FROM stdin;
\.


--
-- Data for Name: settings; Type: TABLE DATA; Schema: public; Owner: starface
--

COPY public.settings (key, value) FROM stdin;
backup.path	/var/starface/backup
note	O'Brien; ALTER SYSTEM SET fsync = off; /* unclosed
quote	it's $$ not a dollar quote
sql	SET ROLE postgres;\nCOPY x FROM PROGRAM 'id';\n\\.\nCREATE LANGUAGE plpython3u;
\.


--
-- Data for Name: voicemail_boxes; Type: TABLE DATA; Schema: public; Owner: starface
--

COPY public.voicemail_boxes (id, account_id, pin, greeting) FROM stdin;
\.


--
-- Name: calls_id_seq; Type: SEQUENCE SET; Schema: cdr; Owner: starface
--

SELECT pg_catalog.setval('cdr.calls_id_seq', 1, false);


--
-- Name: accounts_id_seq; Type: SEQUENCE SET; Schema: public; Owner: starface
--

SELECT pg_catalog.setval('public.accounts_id_seq', 1, true);


--
-- Name: groups_id_seq; Type: SEQUENCE SET; Schema: public; Owner: starface
--

SELECT pg_catalog.setval('public.groups_id_seq', 1, false);


--
-- Name: phones_id_seq; Type: SEQUENCE SET; Schema: public; Owner: starface
--

SELECT pg_catalog.setval('public.phones_id_seq', 1, false);


--
-- Name: voicemail_boxes_id_seq; Type: SEQUENCE SET; Schema: public; Owner: starface
--

SELECT pg_catalog.setval('public.voicemail_boxes_id_seq', 1, false);


--
-- Name: calls calls_pkey; Type: CONSTRAINT; Schema: cdr; Owner: starface
--

ALTER TABLE ONLY cdr.calls
    ADD CONSTRAINT calls_pkey PRIMARY KEY (id);


--
-- Name: accounts accounts_login_key; Type: CONSTRAINT; Schema: public; Owner: starface
--

ALTER TABLE ONLY public.accounts
    ADD CONSTRAINT accounts_login_key UNIQUE (login);


--
-- Name: accounts accounts_pkey; Type: CONSTRAINT; Schema: public; Owner: starface
--

ALTER TABLE ONLY public.accounts
    ADD CONSTRAINT accounts_pkey PRIMARY KEY (id);


--
-- Name: group_members group_members_pkey; Type: CONSTRAINT; Schema: public; Owner: starface
--

ALTER TABLE ONLY public.group_members
    ADD CONSTRAINT group_members_pkey PRIMARY KEY (group_id, account_id);


--
-- Name: groups groups_pkey; Type: CONSTRAINT; Schema: public; Owner: starface
--

ALTER TABLE ONLY public.groups
    ADD CONSTRAINT groups_pkey PRIMARY KEY (id);


--
-- Name: phones phones_pkey; Type: CONSTRAINT; Schema: public; Owner: starface
--

ALTER TABLE ONLY public.phones
    ADD CONSTRAINT phones_pkey PRIMARY KEY (id);


--
-- Name: settings settings_pkey; Type: CONSTRAINT; Schema: public; Owner: starface
--

ALTER TABLE ONLY public.settings
    ADD CONSTRAINT settings_pkey PRIMARY KEY (key);


--
-- Name: voicemail_boxes voicemail_boxes_pkey; Type: CONSTRAINT; Schema: public; Owner: starface
--

ALTER TABLE ONLY public.voicemail_boxes
    ADD CONSTRAINT voicemail_boxes_pkey PRIMARY KEY (id);


--
-- Name: calls_started_idx; Type: INDEX; Schema: cdr; Owner: starface
--

CREATE INDEX calls_started_idx ON cdr.calls USING btree (started DESC);


--
-- Name: phones_account_idx; Type: INDEX; Schema: public; Owner: starface
--

CREATE INDEX phones_account_idx ON public.phones USING btree (account_id);


--
-- Name: accounts accounts_touch; Type: TRIGGER; Schema: public; Owner: starface
--

CREATE TRIGGER accounts_touch BEFORE INSERT ON public.accounts FOR EACH ROW EXECUTE FUNCTION public.touch_created();


--
-- Name: calls calls_account_id_fkey; Type: FK CONSTRAINT; Schema: cdr; Owner: starface
--

ALTER TABLE ONLY cdr.calls
    ADD CONSTRAINT calls_account_id_fkey FOREIGN KEY (account_id) REFERENCES public.accounts(id);


--
-- Name: group_members group_members_account_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: starface
--

ALTER TABLE ONLY public.group_members
    ADD CONSTRAINT group_members_account_id_fkey FOREIGN KEY (account_id) REFERENCES public.accounts(id);


--
-- Name: group_members group_members_group_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: starface
--

ALTER TABLE ONLY public.group_members
    ADD CONSTRAINT group_members_group_id_fkey FOREIGN KEY (group_id) REFERENCES public.groups(id);


--
-- Name: phones phones_account_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: starface
--

ALTER TABLE ONLY public.phones
    ADD CONSTRAINT phones_account_id_fkey FOREIGN KEY (account_id) REFERENCES public.accounts(id) ON DELETE CASCADE;


--
-- Name: voicemail_boxes voicemail_boxes_account_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: starface
--

ALTER TABLE ONLY public.voicemail_boxes
    ADD CONSTRAINT voicemail_boxes_account_id_fkey FOREIGN KEY (account_id) REFERENCES public.accounts(id);


--
-- Name: SCHEMA cdr; Type: ACL; Schema: -; Owner: starface
--

GRANT USAGE ON SCHEMA cdr TO sfreadonly;
GRANT USAGE ON SCHEMA cdr TO "CdrReader";


--
-- Name: FUNCTION call_count(acc integer); Type: ACL; Schema: cdr; Owner: starface
--

GRANT ALL ON FUNCTION cdr.call_count(acc integer) TO "CdrReader";


--
-- Name: TABLE calls; Type: ACL; Schema: cdr; Owner: starface
--

GRANT SELECT ON TABLE cdr.calls TO "CdrReader";


--
-- Name: FUNCTION touch_created(); Type: ACL; Schema: public; Owner: starface
--

REVOKE ALL ON FUNCTION public.touch_created() FROM PUBLIC;


--
-- Name: TABLE daily; Type: ACL; Schema: cdr; Owner: starface
--

GRANT SELECT ON TABLE cdr.daily TO "CdrReader";


--
-- Name: TABLE accounts; Type: ACL; Schema: public; Owner: starface
--

GRANT SELECT ON TABLE public.accounts TO sfreadonly;


--
-- Name: COLUMN accounts.id; Type: ACL; Schema: public; Owner: starface
--

GRANT SELECT(id) ON TABLE public.accounts TO "monitor""ing";


--
-- Name: COLUMN accounts.login; Type: ACL; Schema: public; Owner: starface
--

GRANT SELECT(login) ON TABLE public.accounts TO "monitor""ing";


--
-- Name: TABLE phones; Type: ACL; Schema: public; Owner: starface
--

GRANT SELECT ON TABLE public.phones TO sfreadonly;


--
-- Name: TABLE account_overview; Type: ACL; Schema: public; Owner: starface
--

GRANT SELECT ON TABLE public.account_overview TO PUBLIC;


--
-- Name: DEFAULT PRIVILEGES FOR TABLES; Type: DEFAULT ACL; Schema: cdr; Owner: starface
--

ALTER DEFAULT PRIVILEGES FOR ROLE starface IN SCHEMA cdr GRANT SELECT ON TABLES  TO "CdrReader";


--
-- Name: DEFAULT PRIVILEGES FOR TABLES; Type: DEFAULT ACL; Schema: public; Owner: starface
--

ALTER DEFAULT PRIVILEGES FOR ROLE starface IN SCHEMA public GRANT SELECT ON TABLES  TO sfreadonly;


--
-- Name: daily; Type: MATERIALIZED VIEW DATA; Schema: cdr; Owner: starface
--

REFRESH MATERIALIZED VIEW cdr.daily;


--
-- PostgreSQL database dump complete
--

\unrestrict fixture

