/* pgdb-scan.c: what a schema script needs of the server (pgdb_scan_script()).
 *
 * The script is pg_restore's output for an untrusted dump: any bytes, of
 * any length.  It is read once, front to back, by a lexer that follows
 * PostgreSQL's lexical rules (src/backend/parser/scan.l: comments that
 * nest, '' and E'' and U&'' strings continued over newlines, dollar quotes,
 * "" identifiers, $ inside identifiers) and psql's (meta-commands, COPY
 * data), and its tokens go to a statement reader that knows a few
 * statements by their first words.  Nothing is kept of a statement but a
 * small state, so time and memory are linear in the length, whatever the
 * script holds.  What a rule looks for is in docs/database.md, "What a
 * dump may contain".
 *
 * The lexer models the server, not a text editor: where the server and a
 * naive reading disagree (a ';' in a string, a comment in a key word, a
 * dollar quote that is an identifier) the server's reading wins, and where
 * the reading depends on a setting the script itself changes
 * (standard_conforming_strings, client_encoding), the change is reported.
 */
#include "pgdb.h"

#include <string.h>

#define NAME_BYTES 63    /* NAMEDATALEN - 1: the server cuts longer names */
#define TEXT_BYTES 256   /* enough of a string constant to compare it */
#define DISPLAY_BYTES 96 /* of a name in a description */
#define LIST_MAX 10000   /* entries a list may hold */

void
pgdb_problem_free (PgdbProblem *problem)
{
  if (problem == NULL)
    return;
  g_free (problem->code);
  g_free (problem->detail);
  g_free (problem->component);
  g_free (problem);
}

/* ---- the lexer ----------------------------------------------------------- */

typedef enum {
  TOK_WORD,   /* an unquoted identifier or key word */
  TOK_QIDENT, /* "quoted" or U&"quoted" */
  TOK_STRING, /* '...', E'...', U&'...', B'...', X'...' */
  TOK_DOLLAR, /* $tag$...$tag$ */
  TOK_NUMBER,
  TOK_PARAM, /* $1 */
  TOK_CHAR,  /* any other character */
} TokKind;

typedef enum {
  Q_STANDARD, /* '' is a quote */
  Q_ESCAPE,   /* and a backslash escapes the next character */
  Q_UNICODE,  /* U&: '' is a quote, \XXXX a code point (decoded later) */
  Q_BITS,     /* B'' and X'': no escapes at all */
} Quoting;

typedef struct {
  TokKind kind;
  Quoting quoting;      /* TOK_STRING and TOK_QIDENT */
  gsize start, end;     /* its bytes; a U& token's include its UESCAPE */
  gsize body, body_end; /* TOK_DOLLAR: between the delimiters */
  guchar uescape;       /* Q_UNICODE */
  char c;               /* TOK_CHAR */
} Token;

typedef struct {
  const char *s;
  gsize n;
  gsize pos;
  gboolean std_strings;  /* standard_conforming_strings as the script set it */
  gboolean std_was_off;  /* it was off at some point: check every '' string both ways */
  gboolean std_diverged; /* found a string read differently: reported once */
  gboolean copy_pending; /* a COPY ... FROM stdin ended: data from the next line */
} Lexer;

static gboolean
is_space (guchar c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static gboolean
is_ident_start (guchar c)
{
  return g_ascii_isalpha (c) || c == '_' || c >= 0x80;
}

static gboolean
is_ident_cont (guchar c)
{
  return is_ident_start (c) || g_ascii_isdigit (c) || c == '$';
}

/* a dollar quote's tag: an identifier without '$' */
static gboolean
is_tag_cont (guchar c)
{
  return is_ident_start (c) || g_ascii_isdigit (c);
}

static guchar
at (const Lexer *lx, gsize p)
{
  return p < lx->n ? (guchar) lx->s[p] : 0;
}

/* the position of the newline ending the line p is in, or the end */
static gsize
line_end (const Lexer *lx, gsize p)
{
  const char *nl = p < lx->n ? memchr (lx->s + p, '\n', lx->n - p) : NULL;

  return nl != NULL ? (gsize) (nl - lx->s) : lx->n;
}

/* after the "/ *" at p, with comments inside it nesting */
static gsize
block_comment_end (const Lexer *lx, gsize p)
{
  guint depth = 1;

  for (p += 2; p + 1 < lx->n;) {
    if (lx->s[p] == '/' && lx->s[p + 1] == '*') {
      depth++;
      p += 2;
    } else if (lx->s[p] == '*' && lx->s[p + 1] == '/') {
      p += 2;
      if (--depth == 0)
        return p;
    } else {
      p++;
    }
  }
  return lx->n;
}

/* The lines pg_restore writes before every entry of its output (never
 * when it talks to the server directly). */
static gboolean
is_entry_header (const char *line, gsize length)
{
  static const char *const headers[] = { "-- Name: ", "-- Data for Name: ", "-- TOC entry " };

  for (gsize i = 0; i < G_N_ELEMENTS (headers); i++) {
    gsize l = strlen (headers[i]);

    if (length >= l && memcmp (line, headers[i], l) == 0)
      return TRUE;
  }
  return FALSE;
}

/* COPY data starting at the line p: up to and with a line "\.", or up to
 * the header of the next entry.  Data that ends neither way is no data:
 * it is read as SQL, so that a COPY cannot hide the rest of a script. */
static gsize
copy_data_end (const Lexer *lx, gsize p)
{
  while (p < lx->n) {
    gsize eol = line_end (lx, p);
    gsize len = eol - p;

    if ((len == 2 || (len == 3 && lx->s[p + 2] == '\r')) && lx->s[p] == '\\' && lx->s[p + 1] == '.')
      return eol < lx->n ? eol + 1 : lx->n;
    if (is_entry_header (lx->s + p, len))
      return p;
    p = eol + 1;
  }
  return (gsize) -1;
}

/* Past white space, comments and psql's meta-commands (a backslash
 * outside a string: the rest of the line; the server would refuse it).
 * With data, a COPY's data after the first newline too. */
static gsize
skip_blank (Lexer *lx, gsize p, gboolean data)
{
  while (p < lx->n) {
    guchar c = lx->s[p];

    if (c == '\n' && data && lx->copy_pending) {
      gsize end = copy_data_end (lx, p + 1);

      lx->copy_pending = FALSE;
      p = end != (gsize) -1 ? end : p + 1;
    } else if (is_space (c)) {
      p++;
    } else if (c == '-' && at (lx, p + 1) == '-') {
      p = line_end (lx, p);
    } else if (c == '/' && at (lx, p + 1) == '*') {
      p = block_comment_end (lx, p);
    } else if (c == '\\') {
      p = line_end (lx, p);
    } else {
      break;
    }
  }
  return p;
}

/* After the closing quote of the segment whose text starts at p. */
static gsize
quoted_segment_end (const Lexer *lx, gsize p, Quoting quoting)
{
  while (p < lx->n) {
    if (quoting == Q_ESCAPE) {
      guchar c = lx->s[p];

      if (c == '\\') {
        p += 2;
        continue;
      }
      if (c != '\'') {
        p++;
        continue;
      }
    } else {
      const char *q = memchr (lx->s + p, '\'', lx->n - p);

      if (q == NULL)
        return lx->n;
      p = q - lx->s;
    }
    /* a quote */
    if (quoting != Q_BITS && at (lx, p + 1) == '\'') {
      p += 2;
      continue;
    }
    return p + 1;
  }
  return lx->n;
}

/* A string constant goes on after white space with a newline in it (and
 * -- comments) when another quote follows: the position of that quote,
 * or 0. */
static gsize
continuation (const Lexer *lx, gsize p)
{
  gboolean newline = FALSE;

  while (p < lx->n) {
    guchar c = lx->s[p];

    if (c == '\n' || c == '\r') {
      newline = TRUE;
      p++;
    } else if (is_space (c)) {
      p++;
    } else if (c == '-' && at (lx, p + 1) == '-') {
      p = line_end (lx, p);
    } else {
      break;
    }
  }
  return newline && at (lx, p) == '\'' ? p : 0;
}

/* The end of a string constant whose first quote is at p, continuations
 * and all. */
static gsize
string_end (const Lexer *lx, gsize p, Quoting quoting)
{
  for (;;) {
    gsize q;

    p = quoted_segment_end (lx, p + 1, quoting);
    if (p >= lx->n || (q = continuation (lx, p)) == 0)
      return p;
    p = q;
  }
}

/* after the closing double quote of the identifier whose first quote is
 * at p */
static gsize
qident_end (const Lexer *lx, gsize p)
{
  for (p++; p < lx->n;) {
    const char *q = memchr (lx->s + p, '"', lx->n - p);

    if (q == NULL)
      return lx->n;
    p = q - lx->s + 1;
    if (at (lx, p) != '"')
      return p;
    p++;
  }
  return lx->n;
}

static gboolean
word_at (const Lexer *lx, gsize p, gsize end, const char *word)
{
  gsize l = strlen (word);

  return end - p == l && g_ascii_strncasecmp (lx->s + p, word, l) == 0;
}

/* U&"..." UESCAPE 'c': takes the clause into the token. */
static void
lex_uescape (Lexer *lx, Token *t)
{
  gsize p = skip_blank (lx, t->end, FALSE);
  gsize q = p;

  t->uescape = '\\';
  while (q < lx->n && is_ident_cont (lx->s[q]))
    q++;
  if (!word_at (lx, p, q, "uescape"))
    return;
  p = skip_blank (lx, q, FALSE);
  if (at (lx, p) != '\'' || at (lx, p + 2) != '\'' || at (lx, p + 3) == '\'')
    return;
  t->uescape = lx->s[p + 1];
  t->end = p + 3;
}

/* A string constant from its first quote at p, read as quoting. */
static void
lex_string (Lexer *lx, Token *t, gsize p, Quoting quoting, gboolean *diverged)
{
  t->kind = TOK_STRING;
  t->quoting = quoting;
  t->end = string_end (lx, p, quoting);
  /* a plain string, with standard_conforming_strings off at some point:
   * would the other setting end it elsewhere? */
  if (lx->std_was_off && !lx->std_diverged
      && (quoting == Q_STANDARD || (quoting == Q_ESCAPE && t->start == p))
      && string_end (lx, p, quoting == Q_STANDARD ? Q_ESCAPE : Q_STANDARD) != t->end) {
    lx->std_diverged = TRUE;
    *diverged = TRUE;
  }
}

static void
lex_dollar (Lexer *lx, Token *t, gsize tag_end)
{
  gsize delimiter = tag_end + 1 - t->start; /* "$tag$" */
  gsize p = tag_end + 1;

  t->kind = TOK_DOLLAR;
  t->body = p;
  while (p < lx->n) {
    const char *d = memchr (lx->s + p, '$', lx->n - p);

    if (d == NULL)
      break;
    p = d - lx->s;
    if (lx->n - p >= delimiter && memcmp (lx->s + p, lx->s + t->start, delimiter) == 0) {
      t->body_end = p;
      t->end = p + delimiter;
      return;
    }
    p++;
  }
  t->body_end = t->end = lx->n;
}

static void
lex_number (Lexer *lx, Token *t)
{
  gsize p = t->start;

  while (g_ascii_isdigit (at (lx, p)))
    p++;
  if (at (lx, p) == '.' && at (lx, p + 1) != '.') {
    p++;
    while (g_ascii_isdigit (at (lx, p)))
      p++;
  }
  if (at (lx, p) == 'e' || at (lx, p) == 'E') {
    gsize q = p + 1;

    if (at (lx, q) == '+' || at (lx, q) == '-')
      q++;
    if (g_ascii_isdigit (at (lx, q))) {
      p = q;
      while (g_ascii_isdigit (at (lx, p)))
        p++;
    }
  }
  t->kind = TOK_NUMBER;
  t->end = p;
}

static void
lex_word (Lexer *lx, Token *t, gboolean *diverged)
{
  gsize p = t->start + 1;
  guchar c = lx->s[t->start];
  guchar next;

  while (p < lx->n && is_ident_cont (lx->s[p]))
    p++;
  t->kind = TOK_WORD;
  t->end = p;
  if (p - t->start != 1)
    return;
  next = at (lx, p);
  if ((c == 'e' || c == 'E') && next == '\'') {
    lex_string (lx, t, p, Q_ESCAPE, diverged);
  } else if ((c == 'b' || c == 'B' || c == 'x' || c == 'X') && next == '\'') {
    lex_string (lx, t, p, Q_BITS, diverged);
  } else if ((c == 'u' || c == 'U') && next == '&' && at (lx, p + 1) == '\'') {
    lex_string (lx, t, p + 1, Q_UNICODE, diverged);
    lex_uescape (lx, t);
  } else if ((c == 'u' || c == 'U') && next == '&' && at (lx, p + 1) == '"') {
    t->kind = TOK_QIDENT;
    t->quoting = Q_UNICODE;
    t->end = qident_end (lx, p + 1);
    lex_uescape (lx, t);
  }
}

/* The next token, FALSE at the end; *diverged when a string constant
 * reads differently with the other standard_conforming_strings. */
static gboolean
next_token (Lexer *lx, Token *t, gboolean *diverged)
{
  gsize p = skip_blank (lx, lx->pos, TRUE);
  guchar c;

  memset (t, 0, sizeof *t);
  if (p >= lx->n) {
    lx->pos = lx->n;
    return FALSE;
  }
  c = lx->s[p];
  t->start = p;
  t->end = p + 1;
  t->kind = TOK_CHAR;
  t->c = c;
  if (c == '\'') {
    lex_string (lx, t, p, lx->std_strings ? Q_STANDARD : Q_ESCAPE, diverged);
  } else if (c == '"') {
    t->kind = TOK_QIDENT;
    t->quoting = Q_STANDARD;
    t->end = qident_end (lx, p);
  } else if (is_ident_start (c)) {
    lex_word (lx, t, diverged);
  } else if (g_ascii_isdigit (c) || (c == '.' && g_ascii_isdigit (at (lx, p + 1)))) {
    lex_number (lx, t);
  } else if (c == '$' && g_ascii_isdigit (at (lx, p + 1))) {
    t->kind = TOK_PARAM;
    for (t->end = p + 1; g_ascii_isdigit (at (lx, t->end)); t->end++)
      ;
  } else if (c == '$') {
    gsize q = p + 1;

    if (q < lx->n && is_ident_start (lx->s[q]))
      for (q++; q < lx->n && is_tag_cont (lx->s[q]); q++)
        ;
    if (at (lx, q) == '$' && q < lx->n)
      lex_dollar (lx, t, q);
  }
  lx->pos = t->end;
  return TRUE;
}

/* ---- what a token says ----------------------------------------------------- */

static void
append_code_point (GString *out, gunichar c)
{
  if (c == 0 || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
    g_string_append_unichar (out, 0xFFFD);
  else
    g_string_append_unichar (out, c);
}

static gboolean
hex_value (const char *s, gsize len, gsize digits, gunichar *value)
{
  *value = 0;
  if (len < digits)
    return FALSE;
  for (gsize i = 0; i < digits; i++) {
    if (!g_ascii_isxdigit (s[i]))
      return FALSE;
    *value = *value * 16 + g_ascii_xdigit_value (s[i]);
  }
  return TRUE;
}

/* U&: the escapes \XXXX, \+XXXXXX (surrogate pairs joined) and \\, with
 * the token's escape character. */
static char *
decode_unicode (const char *raw, gsize len, guchar esc)
{
  GString *out = g_string_sized_new (len);

  for (gsize i = 0; i < len;) {
    gunichar c, low;

    if ((guchar) raw[i] != esc) {
      g_string_append_c (out, raw[i++]);
    } else if (i + 1 < len && (guchar) raw[i + 1] == esc) {
      g_string_append_c (out, raw[i]);
      i += 2;
    } else if (i + 1 < len && raw[i + 1] == '+' && hex_value (raw + i + 2, len - i - 2, 6, &c)) {
      append_code_point (out, c);
      i += 8;
    } else if (hex_value (raw + i + 1, len - i - 1, 4, &c)) {
      i += 5;
      if (c >= 0xD800 && c <= 0xDBFF && i < len && (guchar) raw[i] == esc
          && hex_value (raw + i + 1, len - i - 1, 4, &low) && low >= 0xDC00 && low <= 0xDFFF) {
        c = 0x10000 + ((c - 0xD800) << 10) + (low - 0xDC00);
        i += 5;
      }
      append_code_point (out, c);
    } else {
      g_string_append_c (out, raw[i++]);
    }
  }
  return g_string_free (out, FALSE);
}

/* One backslash escape of an E'' string at s[*i] (the backslash). */
static void
append_escape (GString *out, const char *s, gsize end, gsize *i)
{
  gsize p = *i + 1;
  guchar c = p < end ? (guchar) s[p] : '\\';
  gunichar u;

  p++;
  switch (c) {
  case 'b':
    g_string_append_c (out, '\b');
    break;
  case 'f':
    g_string_append_c (out, '\f');
    break;
  case 'n':
    g_string_append_c (out, '\n');
    break;
  case 'r':
    g_string_append_c (out, '\r');
    break;
  case 't':
    g_string_append_c (out, '\t');
    break;
  case 'x':
    if (p < end && g_ascii_isxdigit (s[p])) {
      guint v = g_ascii_xdigit_value (s[p++]);

      if (p < end && g_ascii_isxdigit (s[p]))
        v = v * 16 + g_ascii_xdigit_value (s[p++]);
      g_string_append_c (out, (char) v);
    } else {
      g_string_append_c (out, 'x');
    }
    break;
  case 'u':
  case 'U':
    if (hex_value (s + p, end - p, c == 'u' ? 4 : 8, &u)) {
      append_code_point (out, u);
      p += c == 'u' ? 4 : 8;
    } else {
      g_string_append_c (out, c);
    }
    break;
  default:
    if (c >= '0' && c <= '7') {
      guint v = c - '0';

      for (int k = 0; k < 2 && p < end && s[p] >= '0' && s[p] <= '7'; k++)
        v = v * 8 + (s[p++] - '0');
      g_string_append_c (out, (char) v);
    } else {
      g_string_append_c (out, c);
    }
  }
  *i = p;
}

/* What a string constant or identifier stands for, at most about cap
 * bytes of it (*cut when there was more).  Words fold to lower case. */
static char *
token_text (const Lexer *lx, const Token *t, gsize cap, gboolean *cut)
{
  const char *s = lx->s;
  GString *out = g_string_new (NULL);
  /* U& escapes are decoded after the raw text is taken: take more */
  gsize raw_cap = t->quoting == Q_UNICODE ? cap * 10 + 16 : cap;
  gboolean more = FALSE;

  switch (t->kind) {
  case TOK_WORD:
    for (gsize i = t->start; i < t->end && !(more = out->len >= cap); i++)
      g_string_append_c (out, g_ascii_tolower (s[i]));
    break;
  case TOK_QIDENT:
    for (gsize i = t->start + (t->quoting == Q_UNICODE ? 3 : 1); i < t->end;) {
      if (out->len >= raw_cap) {
        more = TRUE;
        break;
      }
      if (s[i] == '"' && i + 1 < t->end && s[i + 1] == '"') {
        g_string_append_c (out, '"');
        i += 2;
      } else if (s[i] == '"') {
        break;
      } else {
        g_string_append_c (out, s[i++]);
      }
    }
    break;
  case TOK_DOLLAR:
    more = t->body_end - t->body > cap;
    g_string_append_len (out, s + t->body, MIN (t->body_end - t->body, cap));
    break;
  case TOK_STRING: {
    gsize i = t->start + (s[t->start] == '\'' ? 0 : t->quoting == Q_UNICODE ? 2 : 1);

    /* segment by segment, as the lexer found them */
    while (i < t->end && s[i] == '\'' && !more) {
      for (i++; i < t->end; i++) {
        if (out->len >= raw_cap) {
          more = TRUE;
          break;
        }
        if (s[i] == '\'' && t->quoting != Q_BITS && i + 1 < t->end && s[i + 1] == '\'') {
          g_string_append_c (out, '\'');
          i++;
        } else if (s[i] == '\'') {
          i++;
          break;
        } else if (s[i] == '\\' && t->quoting == Q_ESCAPE) {
          append_escape (out, s, t->end, &i);
          i--;
        } else {
          g_string_append_c (out, s[i]);
        }
      }
      if (i < t->end && (i = continuation (lx, i)) == 0)
        break;
    }
    break;
  }
  default:
    g_string_append_len (out, s + t->start, MIN (t->end - t->start, cap));
    more = t->end - t->start > cap;
  }
  if (t->quoting == Q_UNICODE && (t->kind == TOK_QIDENT || t->kind == TOK_STRING)) {
    char *decoded = decode_unicode (out->str, out->len, t->uescape);

    g_string_assign (out, decoded);
    g_free (decoded);
  }
  if (out->len > cap) {
    g_string_truncate (out, cap);
    more = TRUE;
  }
  if (cut != NULL)
    *cut = more;
  return g_string_free (out, FALSE);
}

/* A name as the server keeps it: cut at 63 bytes, on a character. */
static char *
token_name (const Lexer *lx, const Token *t)
{
  char *name = token_text (lx, t, NAME_BYTES + 4, NULL);
  gsize len = strlen (name);

  if (len > NAME_BYTES) {
    len = NAME_BYTES;
    while (len > 0 && ((guchar) name[len] & 0xC0) == 0x80)
      len--;
    name[len] = '\0';
  }
  return name;
}

static gboolean
is_name (const Token *t)
{
  return t->kind == TOK_WORD || t->kind == TOK_QIDENT;
}

static gboolean
is_word (const Lexer *lx, const Token *t, const char *word)
{
  return t->kind == TOK_WORD && word_at (lx, t->start, t->end, word);
}

static gboolean
is_char (const Token *t, char c)
{
  return t->kind == TOK_CHAR && t->c == c;
}

/* ---- the lists -------------------------------------------------------------- */

typedef enum { L_SUPERUSER, L_LANGUAGES, L_EXTENSIONS, L_ROLES, N_LISTS } ListId;

static const char *const list_nouns[N_LISTS]
    = { "statements needing a superuser", "languages", "extensions", "roles" };

/* The statement being read. */
typedef enum {
  K_OTHER,
  K_CREATE, /* CREATE/ALTER/DROP: object words to come */
  K_ALTER,
  K_DROP,
  K_FLAG_NAME, /* reported with the name that follows */
  K_TYPE,
  K_FUNCTION,
  K_DO,
  K_CAST,
  K_EXTENSION,
  K_GRANT,
  K_DEFAULT_PRIVILEGES,
  K_POLICY,
  K_USER_MAPPING,
  K_SCHEMA,
  K_COPY,
  K_SET,
  K_RESET,
} Kind;

typedef enum { NAME_WANT, NAME_PART, NAME_DOT, NAME_DONE } NameState;
typedef enum { RL_OFF, RL_EXPECT, RL_AFTER } RoleListState;

typedef struct {
  guint ntok;
  guint depth; /* of parentheses and brackets, before this token */
  Kind kind;
  int step;          /* within the kind */
  Token prev[4];     /* the last tokens, prev[0] the last */
  const char *label; /* what the statement is called in a description */
  const char *suffix;
  /* CREATE/ALTER/DROP: the object words so far and a pattern already met */
  char object[3][16];
  guint nobject;
  int pending;
  /* a name being collected, for a description */
  NameState name_state;
  GString *name;
  gboolean name_quoted;
  /* GRANT and REVOKE */
  gboolean revoke;
  gboolean on_seen;
  gboolean want_candidate;
  GPtrArray *candidates; /* names granted before TO: roles, if no ON */
  RoleListState role_list;
  /* DO */
  gboolean language_seen;
  /* COPY */
  gboolean copy_stdin;
  /* SET: the parameter whose value comes */
  char param[32];
  /* set_config( : 1 first argument next, 2 after a string constant */
  int set_config;
  char set_config_name[TEXT_BYTES + 1];
  gboolean set_config_cut;
} Stmt;

typedef struct {
  Lexer lx;
  PgdbScan *scan;
  GHashTable *seen[N_LISTS];
  gboolean full[N_LISTS];
  Stmt st;
} Scanner;

static GPtrArray *
list_array (Scanner *sc, ListId id)
{
  switch (id) {
  case L_SUPERUSER:
    return sc->scan->superuser;
  case L_LANGUAGES:
    return sc->scan->languages;
  case L_EXTENSIONS:
    return sc->scan->extensions;
  default:
    return sc->scan->roles;
  }
}

/* Adds text (taken) unless the list has it; every entry is UTF-8. */
static void
add (Scanner *sc, ListId id, char *text)
{
  GPtrArray *list = list_array (sc, id);

  if (!g_utf8_validate (text, -1, NULL)) {
    char *valid = g_utf8_make_valid (text, -1);

    g_free (text);
    text = valid;
  }
  if (g_hash_table_contains (sc->seen[id], text)) {
    g_free (text);
    return;
  }
  if (list->len >= LIST_MAX) {
    g_free (text);
    if (!sc->full[id]) {
      sc->full[id] = TRUE;
      if (id != L_SUPERUSER)
        add (sc, L_SUPERUSER, g_strdup_printf ("more than %d %s", LIST_MAX, list_nouns[id]));
    }
    return;
  }
  g_ptr_array_add (list, text);
  g_hash_table_add (sc->seen[id], text);
}

/* Text of the script in a description: no control characters. */
static void
append_display (GString *out, const char *text)
{
  for (const char *p = text; *p != '\0'; p++)
    g_string_append_c (out, (guchar) *p < 0x20 || *p == 0x7f ? '?' : *p);
}

static void
flag (Scanner *sc, const char *text)
{
  add (sc, L_SUPERUSER, g_strdup (text));
}

/* "label name suffix" */
static void
flag_named (Scanner *sc, const char *label, const char *name, const char *suffix)
{
  GString *out = g_string_new (label);

  if (name != NULL && name[0] != '\0') {
    g_string_append_c (out, ' ');
    append_display (out, name);
  }
  if (suffix != NULL)
    g_string_append_printf (out, " %s", suffix);
  add (sc, L_SUPERUSER, g_string_free (out, FALSE));
}

static void
add_name (Scanner *sc, ListId id, const Token *t)
{
  add (sc, id, token_name (&sc->lx, t));
}

/* A role named in GRANT and the like: not PUBLIC, not one of the roles
 * that stand for the current one. */
static void
add_role (Scanner *sc, const Token *t)
{
  static const char *const special[] = { "current_user", "session_user", "current_role" };
  char *name = token_name (&sc->lx, t);

  if (strcmp (name, "public") == 0) {
    g_free (name);
    return;
  }
  for (gsize i = 0; t->kind == TOK_WORD && i < G_N_ELEMENTS (special); i++)
    if (strcmp (name, special[i]) == 0) {
      g_free (name);
      return;
    }
  add (sc, L_ROLES, name);
}

/* ---- parameters ------------------------------------------------------------- */

/* PostgreSQL 15's parameters of context superuser and superuser-backend
 * (pg_settings): SET by anyone else fails. */
static const char *const superuser_parameters[] = {
  "allow_in_place_tablespaces",
  "allow_system_table_mods",
  "backtrace_functions",
  "commit_delay",
  "compute_query_id",
  "deadlock_timeout",
  "debug_discard_caches",
  "dynamic_library_path",
  "extension_destdir",
  "ignore_checksum_failure",
  "jit_debugging_support",
  "jit_dump_bitcode",
  "jit_profiling_support",
  "lc_messages",
  "lo_compat_privileges",
  "log_connections",
  "log_disconnections",
  "log_duration",
  "log_error_verbosity",
  "log_executor_stats",
  "log_lock_waits",
  "log_min_duration_sample",
  "log_min_duration_statement",
  "log_min_error_statement",
  "log_min_messages",
  "log_parameter_max_length",
  "log_parser_stats",
  "log_planner_stats",
  "log_replication_commands",
  "log_statement",
  "log_statement_sample_rate",
  "log_statement_stats",
  "log_temp_files",
  "log_transaction_sample_rate",
  "max_stack_depth",
  "session_preload_libraries",
  "session_replication_role",
  "temp_file_limit",
  "track_activities",
  "track_counts",
  "track_functions",
  "track_io_timing",
  "track_wal_io_timing",
  "update_process_title",
  "wal_compression",
  "wal_consistency_checking",
  "wal_init_zero",
  "wal_recycle",
  "zero_damaged_pages",
};

static gboolean
in_list (const char *name, const char *const *list, gsize n)
{
  for (gsize i = 0; i < n; i++)
    if (strcmp (name, list[i]) == 0)
      return TRUE;
  return FALSE;
}

/* What setting the parameter name (lower case) says of the script, in
 * how: "SET", "RESET", "set_config" or "ALTER FUNCTION f SET".  Returns
 * TRUE when its value matters (client_encoding, standard_conforming_strings). */
static gboolean
check_parameter (Scanner *sc, const char *name, const char *how)
{
  if (strcmp (name, "role") == 0 || strcmp (name, "session_authorization") == 0) {
    const char *what = name[0] == 'r' ? "ROLE" : "SESSION AUTHORIZATION";

    if (strcmp (how, "set_config") == 0) {
      g_autofree char *text = g_strdup_printf ("set_config('%s')", name);

      flag (sc, text);
    } else if (strcmp (how, "SET") == 0 || strcmp (how, "RESET") == 0) {
      flag_named (sc, how, what, NULL);
    } else {
      flag_named (sc, how, name, NULL);
    }
    return FALSE;
  }
  if (in_list (name, superuser_parameters, G_N_ELEMENTS (superuser_parameters))) {
    if (strcmp (how, "set_config") == 0) {
      g_autofree char *text = g_strdup_printf ("set_config('%s')", name);

      flag (sc, text);
    } else {
      flag_named (sc, how, name, NULL);
    }
    return FALSE;
  }
  if (strcmp (name, "client_encoding") == 0 || strcmp (name, "standard_conforming_strings") == 0) {
    /* pg_dump never changes them with set_config() */
    if (strcmp (how, "set_config") == 0) {
      g_autofree char *text = g_strdup_printf ("set_config('%s')", name);

      flag (sc, text);
      return FALSE;
    }
    return strcmp (how, "SET") == 0 || strcmp (how, "RESET") == 0;
  }
  return FALSE;
}

/* Encodings the server takes only from clients, because a byte of their
 * characters may be a backslash or a quote: their names as the server
 * compares them (lower case, letters and digits only). */
static const char *const client_only_encodings[] = {
  "sjis", "mskanji", "shiftjis",   "win932",  "windows932", "shiftjis2004",
  "big5", "win950",  "windows950", "gbk",     "win936",     "windows936",
  "uhc",  "win949",  "windows949", "gb18030", "johab",
};

/* PostgreSQL's parse_bool(): -1 when it is none */
static int
parse_bool (const char *v)
{
  static const char *const yes[] = { "true", "yes" };
  static const char *const no[] = { "false", "no" };
  gsize len = strlen (v);

  if (len == 0)
    return -1;
  for (gsize i = 0; i < 2; i++) {
    if (g_ascii_strncasecmp (v, yes[i], len) == 0 && len <= strlen (yes[i]))
      return 1;
    if (g_ascii_strncasecmp (v, no[i], len) == 0 && len <= strlen (no[i]))
      return 0;
  }
  if (g_ascii_strcasecmp (v, "on") == 0 || strcmp (v, "1") == 0)
    return 1;
  if (len >= 2 && g_ascii_strncasecmp (v, "off", len) == 0 && len <= 3)
    return 0;
  if (strcmp (v, "0") == 0)
    return 0;
  return -1;
}

/* The value of SET param (or DEFAULT when t is NULL). */
static void
set_value (Scanner *sc, const char *param, const Token *t)
{
  g_autofree char *value = NULL;

  if (t != NULL && !is_word (&sc->lx, t, "default"))
    value = token_text (&sc->lx, t, TEXT_BYTES, NULL);
  if (strcmp (param, "standard_conforming_strings") == 0) {
    int on = value == NULL ? 1 : parse_bool (value);

    if (on == 0)
      sc->lx.std_was_off = TRUE;
    if (on >= 0)
      sc->lx.std_strings = on;
  } else if (strcmp (param, "client_encoding") == 0 && value != NULL) {
    GString *clean = g_string_new (NULL);

    for (const char *p = value; *p != '\0'; p++)
      if (g_ascii_isalnum (*p))
        g_string_append_c (clean, g_ascii_tolower (*p));
    if (in_list (clean->str, client_only_encodings, G_N_ELEMENTS (client_only_encodings))) {
      GString *text = g_string_new ("SET client_encoding = '");

      append_display (text, value);
      g_string_append_c (text, '\'');
      add (sc, L_SUPERUSER, g_string_free (text, FALSE));
    }
    g_string_free (clean, TRUE);
  }
}

/* ---- function calls in any statement --------------------------------------- */

/* Functions only a superuser (or a role given their power) may call, and
 * that no restore needs: files of the server, its processes, its WAL. */
static const char *const superuser_functions[] = {
  "pg_read_file",
  "pg_read_binary_file",
  "pg_ls_dir",
  "pg_stat_file",
  "lo_import",
  "lo_export",
  "pg_file_write",
  "pg_file_rename",
  "pg_file_unlink",
  "pg_reload_conf",
  "pg_rotate_logfile",
  "pg_promote",
  "pg_switch_wal",
  "pg_create_restore_point",
  "pg_terminate_backend",
  "pg_cancel_backend",
  "pg_create_physical_replication_slot",
  "pg_create_logical_replication_slot",
  "pg_drop_replication_slot",
};

static void
set_config_argument (Scanner *sc, const Token *t)
{
  Stmt *st = &sc->st;

  if (st->set_config == 1 && t->kind == TOK_STRING) {
    g_autofree char *name = token_text (&sc->lx, t, TEXT_BYTES, &st->set_config_cut);

    g_strlcpy (st->set_config_name, name, sizeof st->set_config_name);
    st->set_config = 2;
    return;
  }
  if (st->set_config == 2 && (is_char (t, ',') || is_char (t, ':') || is_char (t, ')'))
      && !st->set_config_cut) {
    g_autofree char *lower = g_ascii_strdown (st->set_config_name, -1);

    check_parameter (sc, lower, "set_config");
  } else {
    flag (sc, "set_config() with a computed name");
  }
  st->set_config = 0;
}

/* name ( : a call, unless a definition or a privilege names the function */
static void
check_call (Scanner *sc)
{
  Stmt *st = &sc->st;
  const Lexer *lx = &sc->lx;
  const Token *name = &st->prev[0];
  const Token *before = &st->prev[1];
  g_autofree char *text = NULL;

  if (st->ntok < 1 || !is_name (name))
    return;
  if (st->ntok >= 2 && is_char (before, '.')) {
    g_autofree char *schema = NULL;

    if (st->ntok < 3 || !is_name (&st->prev[2]))
      return;
    schema = token_name (lx, &st->prev[2]);
    if (strcmp (schema, "pg_catalog") != 0)
      return;
    before = st->ntok >= 4 ? &st->prev[3] : NULL;
  } else if (st->ntok < 2) {
    before = NULL;
  }
  if (before != NULL
      && (is_word (lx, before, "function") || is_word (lx, before, "procedure")
          || is_word (lx, before, "routine") || is_word (lx, before, "aggregate")))
    return;
  text = token_name (lx, name);
  if (strcmp (text, "set_config") == 0) {
    st->set_config = 1;
  } else if (in_list (text, superuser_functions, G_N_ELEMENTS (superuser_functions))) {
    g_autofree char *call = g_strdup_printf ("%s()", text);

    flag (sc, call);
  }
}

/* ---- names for descriptions ------------------------------------------------- */

static void
name_begin (Stmt *st)
{
  st->name_state = NAME_WANT;
  if (st->name == NULL)
    st->name = g_string_new (NULL);
  g_string_truncate (st->name, 0);
}

/* TRUE while t is part of a (qualified) name being collected; IF [NOT]
 * EXISTS before it is passed over. */
static gboolean
name_token (Scanner *sc, const Token *t)
{
  Stmt *st = &sc->st;

  switch (st->name_state) {
  case NAME_WANT:
    if (st->name->len == 0
        && (is_word (&sc->lx, t, "if") || is_word (&sc->lx, t, "not")
            || is_word (&sc->lx, t, "exists")))
      return TRUE;
    /* fall through */
  case NAME_DOT:
    if (is_name (t) || t->kind == TOK_STRING) {
      g_autofree char *part = token_name (&sc->lx, t);

      if (st->name->len < DISPLAY_BYTES) {
        if (t->kind == TOK_STRING)
          g_string_append_printf (st->name, "'%s'", part);
        else
          g_string_append (st->name, part);
      }
      st->name_state = NAME_PART;
      return TRUE;
    }
    break;
  case NAME_PART:
    if (is_char (t, '.')) {
      if (st->name->len < DISPLAY_BYTES)
        g_string_append_c (st->name, '.');
      st->name_state = NAME_DOT;
      return TRUE;
    }
    break;
  case NAME_DONE:
    break;
  }
  st->name_state = NAME_DONE;
  return FALSE;
}

static const char *
name_text (Stmt *st)
{
  return st->name != NULL ? st->name->str : "";
}

/* ---- the statements ------------------------------------------------------------ */

static void stmt_token (Scanner *sc, const Token *t);
static void kind_token (Scanner *sc, const Token *t);

/* GRANT/REVOKE: names of roles after TO/FROM, [GROUP] name, ... */
static gboolean
role_list_token (Scanner *sc, const Token *t)
{
  Stmt *st = &sc->st;

  if (st->role_list == RL_EXPECT) {
    if (is_word (&sc->lx, t, "group"))
      return TRUE;
    if (is_name (t)) {
      add_role (sc, t);
      st->role_list = RL_AFTER;
      return TRUE;
    }
  } else if (st->role_list == RL_AFTER && is_char (t, ',')) {
    st->role_list = RL_EXPECT;
    return TRUE;
  }
  st->role_list = RL_OFF;
  return FALSE;
}

static void
grant_begin (Stmt *st, gboolean revoke)
{
  st->kind = K_GRANT;
  st->step = 0;
  st->revoke = revoke;
  st->on_seen = FALSE;
  st->want_candidate = TRUE;
  if (st->candidates == NULL)
    st->candidates = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_set_size (st->candidates, 0);
}

enum { GR_PRIVILEGES, GR_ROLES, GR_TAIL, GR_GRANTED, GR_BY };

static void
grant_token (Scanner *sc, const Token *t)
{
  Stmt *st = &sc->st;
  const Lexer *lx = &sc->lx;

  if (st->depth > 0)
    return;
  switch (st->step) {
  case GR_PRIVILEGES:
    if (is_word (lx, t, st->revoke ? "from" : "to")) {
      if (!st->on_seen && st->candidates->len > 0) {
        /* GRANT role TO role: membership, not privileges */
        flag_named (sc, st->revoke ? "REVOKE" : "GRANT", st->candidates->pdata[0],
                    st->revoke ? "FROM ... (role membership)" : "TO ... (role membership)");
        for (guint i = 0; i < st->candidates->len; i++) {
          add (sc, L_ROLES, st->candidates->pdata[i]);
          st->candidates->pdata[i] = NULL;
        }
      }
      g_ptr_array_set_size (st->candidates, 0);
      st->role_list = RL_EXPECT;
      st->step = GR_ROLES;
    } else if (is_word (lx, t, "on")) {
      st->on_seen = TRUE;
      g_ptr_array_set_size (st->candidates, 0);
    } else if (is_word (lx, t, "option")) {
      /* REVOKE {GRANT|ADMIN|INHERIT|SET} OPTION FOR: not names */
      g_ptr_array_set_size (st->candidates, 0);
    } else if (is_char (t, ',') || is_word (lx, t, "for")) {
      st->want_candidate = TRUE;
    } else if (st->want_candidate && is_name (t) && !st->on_seen) {
      if (st->candidates->len < LIST_MAX)
        g_ptr_array_add (st->candidates, token_name (lx, t));
      st->want_candidate = FALSE;
    } else {
      st->want_candidate = FALSE;
    }
    break;
  case GR_ROLES:
    if (role_list_token (sc, t))
      break;
    st->step = GR_TAIL;
    /* fall through */
  case GR_TAIL:
    if (is_word (lx, t, "granted"))
      st->step = GR_GRANTED;
    break;
  case GR_GRANTED:
    st->step = is_word (lx, t, "by") ? GR_BY : GR_TAIL;
    break;
  case GR_BY:
    if (is_name (t))
      add_role (sc, t);
    st->step = GR_TAIL;
    break;
  }
}

enum { ADP_MAIN, ADP_FOR, ADP_ROLES };

/* ALTER DEFAULT PRIVILEGES [FOR ROLE r, ...] [IN SCHEMA s, ...] GRANT|REVOKE ... */
static void
default_privileges_token (Scanner *sc, const Token *t)
{
  Stmt *st = &sc->st;

  if (st->depth > 0)
    return;
  if (st->step == ADP_ROLES) {
    if (role_list_token (sc, t))
      return;
    st->step = ADP_MAIN;
  }
  if (st->step == ADP_FOR) {
    if (is_word (&sc->lx, t, "role") || is_word (&sc->lx, t, "user")) {
      st->role_list = RL_EXPECT;
      st->step = ADP_ROLES;
      return;
    }
    st->step = ADP_MAIN;
  }
  if (is_word (&sc->lx, t, "for"))
    st->step = ADP_FOR;
  else if (is_word (&sc->lx, t, "grant") || is_word (&sc->lx, t, "revoke"))
    grant_begin (st, is_word (&sc->lx, t, "revoke"));
}

enum { F_NAME, F_MAIN, F_LANGUAGE, F_SET };

/* CREATE FUNCTION/PROCEDURE/TRANSFORM, ALTER FUNCTION/PROCEDURE/ROUTINE:
 * its LANGUAGE, and parameters its SET clauses set. */
static void
function_token (Scanner *sc, const Token *t)
{
  Stmt *st = &sc->st;
  const Lexer *lx = &sc->lx;

  if (st->step == F_NAME) {
    if (name_token (sc, t))
      return;
    st->step = F_MAIN;
  }
  if (st->depth > 0)
    return;
  switch (st->step) {
  case F_MAIN:
    if (st->ntok > 0 && is_char (&st->prev[0], '.'))
      break;
    if (is_word (lx, t, "language"))
      st->step = F_LANGUAGE;
    else if (is_word (lx, t, "set"))
      st->step = F_SET;
    break;
  case F_LANGUAGE:
    if (is_name (t) || t->kind == TOK_STRING) {
      char *language = token_name (lx, t);

      if (strcmp (language, "c") == 0 || strcmp (language, "internal") == 0) {
        g_autofree char *what = g_strdup_printf ("LANGUAGE %s", language);

        flag_named (sc, st->label, name_text (st), what);
        g_free (language);
      } else {
        add (sc, L_LANGUAGES, language);
      }
    }
    st->step = F_MAIN;
    break;
  case F_SET:
    if (is_name (t)) {
      g_autofree char *param = token_name (lx, t);
      g_autofree char *how = NULL;
      GString *label = g_string_new (st->label);

      if (name_text (st)[0] != '\0') {
        g_string_append_c (label, ' ');
        append_display (label, name_text (st));
      }
      g_string_append (label, " SET");
      how = g_string_free (label, FALSE);
      check_parameter (sc, param, how);
    }
    st->step = F_MAIN;
    break;
  }
}

enum { S_START, S_SCOPE, S_SESSION, S_WANT_EQUALS, S_VALUE, S_DONE };

/* SET [SESSION|LOCAL] ... and RESET ... as statements */
static void
set_token (Scanner *sc, const Token *t)
{
  Stmt *st = &sc->st;
  const Lexer *lx = &sc->lx;
  const char *how = st->kind == K_RESET ? "RESET" : "SET";

  switch (st->step) {
  case S_START:
    if (is_word (lx, t, "local") && st->kind == K_SET) {
      st->step = S_SCOPE;
      return;
    }
    /* fall through */
  case S_SCOPE:
    if (is_word (lx, t, "session")) {
      st->step = S_SESSION;
      return;
    }
    /* fall through */
  case S_SESSION:
    if (st->step == S_SESSION && is_word (lx, t, "session"))
      return;
    if (st->step == S_SESSION && is_word (lx, t, "authorization")) {
      flag_named (sc, how, "SESSION AUTHORIZATION", NULL);
      st->step = S_DONE;
      return;
    }
    if (is_word (lx, t, "names") && st->kind == K_SET) {
      g_strlcpy (st->param, "client_encoding", sizeof st->param);
      st->step = S_VALUE;
      return;
    }
    if (is_name (t)) {
      g_autofree char *param = token_name (lx, t);

      st->step = S_DONE;
      if (check_parameter (sc, param, how)) {
        g_strlcpy (st->param, param, sizeof st->param);
        if (st->kind == K_RESET)
          set_value (sc, param, NULL);
        else
          st->step = S_WANT_EQUALS;
      }
      return;
    }
    st->step = S_DONE;
    return;
  case S_WANT_EQUALS:
    st->step = is_word (lx, t, "to") || is_char (t, '=') ? S_VALUE : S_DONE;
    return;
  case S_VALUE:
    set_value (sc, st->param, t);
    st->step = S_DONE;
    return;
  default:
    return;
  }
}

enum { C_MAIN, C_TARGET, C_DONE };

/* COPY ... FROM|TO {PROGRAM 'cmd' | 'file' | STDIN | STDOUT} */
static void
copy_token (Scanner *sc, const Token *t)
{
  Stmt *st = &sc->st;
  const Lexer *lx = &sc->lx;

  if (st->depth > 0)
    return;
  if (st->step == C_MAIN) {
    if (is_word (lx, t, "from") || is_word (lx, t, "to")) {
      st->revoke = is_word (lx, t, "from"); /* the direction */
      st->step = C_TARGET;
    }
  } else if (st->step == C_TARGET) {
    const char *direction = st->revoke ? "FROM" : "TO";

    if (is_word (lx, t, "program")) {
      g_autofree char *text = g_strdup_printf ("COPY ... %s PROGRAM", direction);

      flag (sc, text);
    } else if (t->kind == TOK_STRING || t->kind == TOK_DOLLAR) {
      g_autofree char *text = g_strdup_printf ("COPY ... %s a server file", direction);

      flag (sc, text);
    } else if (is_word (lx, t, "stdin")) {
      st->copy_stdin = TRUE;
    }
    st->step = C_DONE;
  }
}

typedef enum {
  A_FLAG_NAME, /* reported with the name after it */
  A_FLAG,      /* reported as the label */
  A_OTHER,     /* nothing to see */
  A_FUNCTION,
  A_TRANSFORM,
  A_TYPE,
  A_CAST,
  A_EXTENSION,
  A_POLICY,
  A_USER_MAPPING,
  A_SCHEMA,
  A_DEFAULT_PRIVILEGES,
} Action;

typedef struct {
  Kind verb;
  const char *words[3];
  Action action;
  const char *label;
} Pattern;

static const Pattern patterns[] = {
  { K_CREATE, { "language" }, A_FLAG_NAME, "CREATE LANGUAGE" },
  { K_CREATE, { "event", "trigger" }, A_FLAG_NAME, "CREATE EVENT TRIGGER" },
  { K_CREATE, { "role" }, A_FLAG_NAME, "CREATE ROLE" },
  { K_CREATE, { "user" }, A_FLAG_NAME, "CREATE USER" },
  { K_CREATE, { "group" }, A_FLAG_NAME, "CREATE GROUP" },
  { K_CREATE, { "user", "mapping" }, A_USER_MAPPING, NULL },
  { K_CREATE, { "tablespace" }, A_FLAG_NAME, "CREATE TABLESPACE" },
  { K_CREATE, { "foreign", "data", "wrapper" }, A_FLAG_NAME, "CREATE FOREIGN DATA WRAPPER" },
  { K_CREATE, { "function" }, A_FUNCTION, "CREATE FUNCTION" },
  { K_CREATE, { "procedure" }, A_FUNCTION, "CREATE PROCEDURE" },
  { K_CREATE, { "transform" }, A_TRANSFORM, "CREATE TRANSFORM" },
  { K_CREATE, { "cast" }, A_CAST, NULL },
  { K_CREATE, { "operator", "class" }, A_FLAG_NAME, "CREATE OPERATOR CLASS" },
  { K_CREATE, { "operator", "family" }, A_FLAG_NAME, "CREATE OPERATOR FAMILY" },
  { K_CREATE, { "text", "search", "parser" }, A_FLAG_NAME, "CREATE TEXT SEARCH PARSER" },
  { K_CREATE, { "text", "search", "template" }, A_FLAG_NAME, "CREATE TEXT SEARCH TEMPLATE" },
  { K_CREATE, { "type" }, A_TYPE, "CREATE TYPE" },
  { K_CREATE, { "access", "method" }, A_FLAG_NAME, "CREATE ACCESS METHOD" },
  { K_CREATE, { "subscription" }, A_FLAG_NAME, "CREATE SUBSCRIPTION" },
  { K_CREATE, { "database" }, A_FLAG_NAME, "CREATE DATABASE" },
  { K_CREATE, { "extension" }, A_EXTENSION, NULL },
  { K_CREATE, { "policy" }, A_POLICY, NULL },
  { K_CREATE, { "schema" }, A_SCHEMA, NULL },
  { K_ALTER, { "system" }, A_FLAG, "ALTER SYSTEM" },
  { K_ALTER, { "role" }, A_FLAG_NAME, "ALTER ROLE" },
  { K_ALTER, { "user" }, A_FLAG_NAME, "ALTER USER" },
  { K_ALTER, { "group" }, A_FLAG_NAME, "ALTER GROUP" },
  { K_ALTER, { "user", "mapping" }, A_USER_MAPPING, NULL },
  { K_ALTER, { "tablespace" }, A_FLAG_NAME, "ALTER TABLESPACE" },
  { K_ALTER, { "foreign", "data", "wrapper" }, A_FLAG_NAME, "ALTER FOREIGN DATA WRAPPER" },
  { K_ALTER, { "event", "trigger" }, A_FLAG_NAME, "ALTER EVENT TRIGGER" },
  { K_ALTER, { "operator", "family" }, A_FLAG_NAME, "ALTER OPERATOR FAMILY" },
  { K_ALTER, { "subscription" }, A_FLAG_NAME, "ALTER SUBSCRIPTION" },
  { K_ALTER, { "database" }, A_FLAG_NAME, "ALTER DATABASE" },
  { K_ALTER, { "default", "privileges" }, A_DEFAULT_PRIVILEGES, NULL },
  { K_ALTER, { "policy" }, A_POLICY, NULL },
  { K_ALTER, { "function" }, A_FUNCTION, "ALTER FUNCTION" },
  { K_ALTER, { "procedure" }, A_FUNCTION, "ALTER PROCEDURE" },
  { K_ALTER, { "routine" }, A_FUNCTION, "ALTER ROUTINE" },
  { K_DROP, { "role" }, A_FLAG_NAME, "DROP ROLE" },
  { K_DROP, { "user" }, A_FLAG_NAME, "DROP USER" },
  { K_DROP, { "group" }, A_FLAG_NAME, "DROP GROUP" },
  { K_DROP, { "user", "mapping" }, A_OTHER, NULL },
  { K_DROP, { "tablespace" }, A_FLAG_NAME, "DROP TABLESPACE" },
  { K_DROP, { "database" }, A_FLAG_NAME, "DROP DATABASE" },
  { K_DROP, { "owned" }, A_FLAG, "DROP OWNED" },
};

/* Words between CREATE and the kind of object. */
static const char *const create_modifiers[] = {
  "or",     "replace", "trusted", "procedural", "temp",    "temporary", "unlogged",
  "global", "local",   "unique",  "constraint", "default", "recursive",
};

/* 1: object (the words so far) is the pattern's; 0: its beginning; -1 neither */
static int
pattern_match (const Stmt *st, const Pattern *pattern)
{
  guint n = 0;

  if (pattern->verb != st->kind)
    return -1;
  while (n < 3 && pattern->words[n] != NULL)
    n++;
  if (st->nobject > n)
    return -1;
  for (guint i = 0; i < st->nobject; i++)
    if (strcmp (st->object[i], pattern->words[i]) != 0)
      return -1;
  return st->nobject == n ? 1 : 0;
}

static void
act (Scanner *sc, const Pattern *pattern)
{
  Stmt *st = &sc->st;

  st->label = pattern->label;
  st->step = 0;
  switch (pattern->action) {
  case A_FLAG_NAME:
    st->kind = K_FLAG_NAME;
    name_begin (st);
    break;
  case A_FLAG:
    flag (sc, pattern->label);
    st->kind = K_OTHER;
    break;
  case A_OTHER:
    st->kind = K_OTHER;
    break;
  case A_FUNCTION:
    st->kind = K_FUNCTION;
    name_begin (st);
    break;
  case A_TRANSFORM:
    st->kind = K_FUNCTION;
    name_begin (st);
    st->name_state = NAME_DONE;
    st->step = F_MAIN;
    break;
  case A_TYPE:
    st->kind = K_TYPE;
    name_begin (st);
    break;
  case A_CAST:
    st->kind = K_CAST;
    break;
  case A_EXTENSION:
    st->kind = K_EXTENSION;
    break;
  case A_POLICY:
    st->kind = K_POLICY;
    break;
  case A_USER_MAPPING:
    st->kind = K_USER_MAPPING;
    break;
  case A_SCHEMA:
    st->kind = K_SCHEMA;
    break;
  case A_DEFAULT_PRIVILEGES:
    st->kind = K_DEFAULT_PRIVILEGES;
    st->step = ADP_MAIN;
    break;
  }
}

/* CREATE/ALTER/DROP: which object, word by word */
static void
object_token (Scanner *sc, const Token *t)
{
  Stmt *st = &sc->st;
  const Pattern *exact = NULL;
  gboolean longer = FALSE;

  if (st->kind == K_CREATE && st->nobject == 0 && t->kind == TOK_WORD)
    for (gsize i = 0; i < G_N_ELEMENTS (create_modifiers); i++)
      if (is_word (&sc->lx, t, create_modifiers[i]))
        return;
  if (t->kind == TOK_WORD && st->nobject < 3 && t->end - t->start < sizeof st->object[0]) {
    g_autofree char *word = token_text (&sc->lx, t, sizeof st->object[0] - 1, NULL);

    g_strlcpy (st->object[st->nobject++], word, sizeof st->object[0]);
    for (gsize i = 0; i < G_N_ELEMENTS (patterns); i++) {
      int m = pattern_match (st, &patterns[i]);

      if (m == 1)
        exact = &patterns[i];
      else if (m == 0)
        longer = TRUE;
    }
    if (exact != NULL && !longer) {
      act (sc, exact);
      return;
    }
    if (longer) {
      st->pending = exact != NULL ? (int) (exact - patterns) : -1;
      return;
    }
    st->nobject--;
  }
  /* t goes on no pattern: the shorter one met before, if any, takes it */
  if (st->pending >= 0) {
    act (sc, &patterns[st->pending]);
    st->pending = -1;
    kind_token (sc, t);
  } else {
    st->kind = K_OTHER;
  }
}

static void
kind_token (Scanner *sc, const Token *t)
{
  Stmt *st = &sc->st;
  const Lexer *lx = &sc->lx;

  switch (st->kind) {
  case K_CREATE:
  case K_ALTER:
  case K_DROP:
    object_token (sc, t);
    break;
  case K_FLAG_NAME:
    if (!name_token (sc, t)) {
      flag_named (sc, st->label, name_text (st), st->suffix);
      st->kind = K_OTHER;
    }
    break;
  case K_TYPE:
    if (!name_token (sc, t)) {
      if (is_char (t, '('))
        flag_named (sc, st->label, name_text (st), "(base type)");
      st->kind = K_OTHER;
    }
    break;
  case K_FUNCTION:
    function_token (sc, t);
    break;
  case K_DO:
    if (st->depth == 0 && st->step == 1) {
      if (is_name (t) || t->kind == TOK_STRING)
        add_name (sc, L_LANGUAGES, t);
      st->step = 0;
    } else if (st->depth == 0 && is_word (lx, t, "language")) {
      st->language_seen = TRUE;
      st->step = 1;
    }
    break;
  case K_CAST:
    if (st->depth == 0 && is_word (lx, t, "function") && is_word (lx, &st->prev[0], "without"))
      flag (sc, "CREATE CAST ... WITHOUT FUNCTION");
    break;
  case K_EXTENSION:
    if (is_word (lx, t, "if") || is_word (lx, t, "not") || is_word (lx, t, "exists"))
      break;
    if (is_name (t))
      add_name (sc, L_EXTENSIONS, t);
    st->kind = K_OTHER;
    break;
  case K_GRANT:
    grant_token (sc, t);
    break;
  case K_DEFAULT_PRIVILEGES:
    default_privileges_token (sc, t);
    break;
  case K_POLICY:
    if (st->step == 1) {
      if (role_list_token (sc, t))
        break;
      st->step = 0;
    }
    if (st->depth == 0 && is_word (lx, t, "to") && !is_word (lx, &st->prev[0], "rename")) {
      st->role_list = RL_EXPECT;
      st->step = 1;
    }
    break;
  case K_USER_MAPPING:
    if (st->step == 1) {
      static const char *const special[]
          = { "user", "current_user", "session_user", "current_role", "public" };
      gboolean is_special = FALSE;

      for (gsize i = 0; i < G_N_ELEMENTS (special); i++)
        is_special = is_special || is_word (lx, t, special[i]);
      if (is_name (t) && !is_special)
        add_role (sc, t);
      st->kind = K_OTHER;
    } else if (is_word (lx, t, "for")) {
      st->step = 1;
    }
    break;
  case K_SCHEMA:
    /* CREATE SCHEMA s ... GRANT ...: a GRANT among its elements */
    if (st->depth == 0 && is_word (lx, t, "grant"))
      grant_begin (st, FALSE);
    break;
  case K_COPY:
    copy_token (sc, t);
    break;
  case K_SET:
  case K_RESET:
    set_token (sc, t);
    break;
  case K_OTHER:
    break;
  }
}

/* The first token of a statement. */
static void
first_token (Scanner *sc, const Token *t)
{
  Stmt *st = &sc->st;
  const Lexer *lx = &sc->lx;

  st->kind = K_OTHER;
  st->pending = -1;
  if (t->kind != TOK_WORD)
    return;
  if (is_word (lx, t, "create")) {
    st->kind = K_CREATE;
  } else if (is_word (lx, t, "alter")) {
    st->kind = K_ALTER;
  } else if (is_word (lx, t, "drop")) {
    st->kind = K_DROP;
  } else if (is_word (lx, t, "grant") || is_word (lx, t, "revoke")) {
    grant_begin (st, is_word (lx, t, "revoke"));
  } else if (is_word (lx, t, "copy")) {
    st->kind = K_COPY;
  } else if (is_word (lx, t, "set")) {
    st->kind = K_SET;
  } else if (is_word (lx, t, "reset")) {
    st->kind = K_RESET;
  } else if (is_word (lx, t, "do")) {
    st->kind = K_DO;
    flag (sc, "DO (code run at load)");
  } else if (is_word (lx, t, "call")) {
    st->kind = K_FLAG_NAME;
    st->label = "CALL";
    st->suffix = "(code run at load)";
    name_begin (st);
  } else if (is_word (lx, t, "load")) {
    st->kind = K_FLAG_NAME;
    st->label = "LOAD";
    name_begin (st);
  } else if (is_word (lx, t, "checkpoint")) {
    flag (sc, "CHECKPOINT");
  } else if (is_word (lx, t, "reassign")) {
    flag (sc, "REASSIGN OWNED");
  }
}

static void
stmt_token (Scanner *sc, const Token *t)
{
  Stmt *st = &sc->st;

  if (st->set_config > 0)
    set_config_argument (sc, t);
  if (is_char (t, '('))
    check_call (sc);
  if (st->ntok == 0)
    first_token (sc, t);
  else
    kind_token (sc, t);
  memmove (&st->prev[1], &st->prev[0], sizeof st->prev - sizeof st->prev[0]);
  st->prev[0] = *t;
  st->ntok++;
  if (is_char (t, '(') || is_char (t, '['))
    st->depth++;
  else if ((is_char (t, ')') || is_char (t, ']')) && st->depth > 0)
    st->depth--;
}

/* At a ';' (by_semicolon) or the end of the script. */
static void
stmt_end (Scanner *sc, gboolean by_semicolon)
{
  Stmt *st = &sc->st;
  GString *name = st->name;
  GPtrArray *candidates = st->candidates;

  if (st->ntok > 0) {
    if (st->pending >= 0 && (st->kind == K_CREATE || st->kind == K_ALTER || st->kind == K_DROP))
      act (sc, &patterns[st->pending]);
    if (st->kind == K_FLAG_NAME)
      flag_named (sc, st->label, name_text (st), st->suffix);
    else if (st->kind == K_DO && !st->language_seen)
      add (sc, L_LANGUAGES, g_strdup ("plpgsql"));
    else if (st->kind == K_SET && st->step == S_VALUE)
      set_value (sc, st->param, NULL);
    if (st->set_config > 0)
      flag (sc, "set_config() with a computed name");
    if (st->kind == K_COPY && st->copy_stdin && by_semicolon)
      sc->lx.copy_pending = TRUE;
  }
  memset (st, 0, sizeof *st);
  st->name = name;
  st->candidates = candidates;
  st->pending = -1;
  if (candidates != NULL)
    g_ptr_array_set_size (candidates, 0);
}

void
pgdb_scan_script (const char *script, gsize length, PgdbScan *scan)
{
  GPtrArray **lists[N_LISTS]
      = { &scan->superuser, &scan->languages, &scan->extensions, &scan->roles };
  Scanner sc = { 0 };
  Token t;

  sc.scan = scan;
  sc.lx.s = script;
  sc.lx.n = script != NULL ? length : 0;
  sc.lx.std_strings = TRUE;
  sc.st.pending = -1;
  for (int i = 0; i < N_LISTS; i++) {
    if (*lists[i] == NULL)
      *lists[i] = g_ptr_array_new_with_free_func (g_free);
    sc.seen[i] = g_hash_table_new (g_str_hash, g_str_equal);
    for (guint j = 0; j < (*lists[i])->len; j++)
      g_hash_table_add (sc.seen[i], (*lists[i])->pdata[j]);
  }

  for (;;) {
    gboolean diverged = FALSE;
    gboolean more = next_token (&sc.lx, &t, &diverged);

    if (diverged)
      flag (&sc, "string constant read differently with standard_conforming_strings off");
    if (!more)
      break;
    if (is_char (&t, ';'))
      stmt_end (&sc, TRUE);
    else
      stmt_token (&sc, &t);
  }
  stmt_end (&sc, FALSE);

  if (sc.st.name != NULL)
    g_string_free (sc.st.name, TRUE);
  if (sc.st.candidates != NULL)
    g_ptr_array_unref (sc.st.candidates);
  for (int i = 0; i < N_LISTS; i++)
    g_hash_table_destroy (sc.seen[i]);
}

void
pgdb_scan_clear (PgdbScan *scan)
{
  g_clear_pointer (&scan->superuser, g_ptr_array_unref);
  g_clear_pointer (&scan->languages, g_ptr_array_unref);
  g_clear_pointer (&scan->extensions, g_ptr_array_unref);
  g_clear_pointer (&scan->roles, g_ptr_array_unref);
}
