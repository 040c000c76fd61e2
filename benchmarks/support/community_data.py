"""Bulk data for ``benchmarks/community_pages.py``: a community with ``posts`` posts and about
five times as many comments and reactions, written fast (COPY on PostgreSQL, ``executemany`` on
SQLite) in the shapes the services write, with the counters the services would keep.

The mix (deterministic from a seed):

- 40 spaces: 24 public, 6 registered-only, 6 closed, 4 secret, some of them sub-spaces; sizes
  are heavy-tailed (the biggest public space holds about a fifth of all posts, the smallest a
  few hundred) and each space writes in its own language or in a mix of en/ru/es;
- ``members`` members (default 20,000), each in one to a dozen spaces (owners, moderators,
  a few pending and banned), with a profile, follows of people, spaces, tags and posts, and
  ``post.view`` / ``space.view`` activity events of the last 60 days (what the "For you" feed
  reads as interests);
- posts of every type (discussions, questions with accepted answers, ideas with statuses,
  blogs, documents, polls with options, photo contests with entries), 97% published and the
  rest drafts, pending, hidden and removed; 6% for registered visitors only and 4% for members
  only; 0–3 tags each from 300;
- comments with one level of replies, and reactions on posts and comments, heavy-tailed: most
  topics have a handful of replies, ``HOT_TOPICS`` recent topics have thousands (the topic
  page must paginate them).

Ids are assigned here (posts and comments in time order, as a live site numbers them), so a
chunk of posts and their comments, reactions and tags are written together in one transaction.
On PostgreSQL the load runs with ``session_replication_role = replica`` (no row triggers, no
foreign-key checks: the rows are consistent by construction), the secondary indexes of the big
tables are dropped first and built once at the end, and the full-text side tables are filled
with the same ``INSERT … SELECT`` the search migration uses — maintaining GIN and B-tree
indexes row by row would make the load I/O-bound. SQLite keeps its indexes and FTS5 triggers.
"""

from __future__ import annotations

import bisect
import importlib
import itertools
import json
import random
import sys
import time
from datetime import UTC, datetime
from html import escape

SEED = 2027
SPACES = 40
TAGS = 300
HOT_TOPICS = 24
HOT_COMMENTS = (1500, 6000)  # comments on each hot topic
DAYS = 730
CHUNK = 20_000  # posts per transaction
BENCH_MEMBER_EMAIL = "bench.member@bench.local"

# A few hundred words per language, most frequent first (Zipf-weighted when drawn), so that
# searches for common words have long posting lists and rare words short ones.
WORDS_TEXT = {
    "en": (
        "coffee espresso grinder beans milk machine water roast brew cup taste filter "
        "pressure shot crema latte cappuccino flat white pour over kettle scale ratio "
        "temperature grind size burr descaling subscription delivery order refund price "
        "bag box capsule pod decaf oat almond foam steam wand portafilter tamper basket "
        "puck channeling bitter sour sweet acidic fruity chocolate nutty caramel floral "
        "body aroma aftertaste morning routine recipe guide tips help question problem "
        "issue noise leak error reset firmware update app warranty repair support team "
        "store shop cafe barista training class workshop event tasting origin farm "
        "ethiopia colombia brazil kenya guatemala honduras huila washed natural process "
        "light medium dark fresh stale storage jar vacuum freezer week month year today "
        "great good bad better best worse love hate recommend tried switched bought "
        "returned broke fixed works failed slow fast cheap expensive quality value "
        "design color black steel glass ceramic handle lid spout thermometer timer "
        "schedule pause skip change plan address shipping courier tracking late early "
        "package damaged missing replacement exchange account login password email "
        "notification forum thread reply answer idea vote feature request roadmap "
        "chemex aeropress moka siphon v60 kalita french press cold brew iced tonic "
        "syrup sugar honey vanilla cinnamon cardamom spice winter summer holiday gift"
    ),
    "ru": (
        "кофе эспрессо кофемолка зерно молоко кофемашина вода обжарка заварка чашка "
        "вкус фильтр давление шот пенка латте капучино пуровер чайник весы пропорция "
        "температура помол жернова чистка подписка доставка заказ возврат цена пачка "
        "коробка капсула декаф овсяное миндальное пена пар холдер темпер корзина "
        "горький кислый сладкий фруктовый шоколад орех карамель аромат послевкусие "
        "утро рецепт инструкция совет помощь вопрос проблема шум протечка ошибка "
        "сброс прошивка приложение гарантия ремонт поддержка команда магазин кофейня "
        "бариста обучение мастеркласс дегустация эфиопия колумбия бразилия кения "
        "мытая натуральная светлая средняя тёмная свежий хранение банка морозилка "
        "неделя месяц год сегодня отлично хорошо плохо лучше советую попробовал "
        "купил вернул сломалась починил работает медленно быстро дешево дорого "
        "качество дизайн цвет сталь стекло керамика ручка крышка термометр таймер "
        "расписание пауза смена тариф адрес курьер отслеживание опоздание посылка "
        "повреждена замена аккаунт пароль почта уведомление форум ответ идея голос "
        "функция турка аэропресс гейзерная френчпресс колдбрю сироп сахар мёд ваниль "
        "корица кардамон зима лето праздник подарок"
    ),
    "es": (
        "café espresso molinillo grano leche cafetera agua tueste taza sabor filtro "
        "presión crema latte capuchino hervidor báscula proporción temperatura molienda "
        "muelas descalcificación suscripción entrega pedido reembolso precio bolsa caja "
        "cápsula descafeinado avena almendra espuma vapor portafiltro tamper cesta "
        "amargo ácido dulce afrutado chocolate nuez caramelo floral cuerpo aroma "
        "mañana rutina receta guía consejo ayuda pregunta problema ruido fuga error "
        "reinicio actualización aplicación garantía reparación soporte equipo tienda "
        "cafetería barista curso taller cata origen finca etiopía colombia brasil "
        "kenia lavado natural claro medio oscuro fresco almacenamiento frasco "
        "congelador semana mes año hoy genial bueno malo mejor recomiendo probé "
        "compré devolví roto arreglado funciona lento rápido barato caro calidad "
        "diseño color acero vidrio cerámica asa tapa termómetro temporizador horario "
        "pausa cambio plan dirección envío mensajero seguimiento tarde paquete dañado "
        "reemplazo cuenta contraseña correo notificación foro respuesta idea voto "
        "función moka sifón prensa francesa cold brew jarabe azúcar miel vainilla "
        "canela cardamomo invierno verano regalo"
    ),
}
WORDS = {lang: text.split() for lang, text in WORDS_TEXT.items()}
NAMES = {
    "en": (
        ["Chloe", "Oscar", "Ruby", "Leo", "Isla", "Harry", "Freya", "Alfie", "Mia", "Noah"],
        ["Moore", "King", "Wright", "Green", "Baker", "Hall", "Reed", "Cole"],
    ),
    "ru": (
        ["Дарья", "Михаил", "Ксения", "Артём", "Полина", "Егор", "Вера", "Глеб"],
        ["Орлова", "Зайцев", "Белова", "Соколов", "Фролова", "Ершов"],
    ),
    "es": (
        ["Lucas", "Martina", "Hugo", "Paula", "Álvaro", "Carla", "Daniel", "Sara"],
        ["Torres", "Romero", "Navarro", "Molina", "Ortiz", "Castro"],
    ),
}
TYPES = [  # (type, share)
    ("discussion", 0.45),
    ("question", 0.22),
    ("idea", 0.10),
    ("blog", 0.08),
    ("document", 0.06),
    ("poll", 0.06),
    ("contest", 0.03),
]
STATES = [
    ("published", 0.97),
    ("draft", 0.01),
    ("pending", 0.01),
    ("hidden", 0.005),
    ("removed", 0.005),
]
AUDIENCES = [("everyone", 0.90), ("registered", 0.06), ("members", 0.04)]
IDEA_STATUSES = [
    ("new", 0.55),
    ("under_review", 0.15),
    ("planned", 0.1),
    ("in_progress", 0.06),
    ("shipped", 0.08),
    ("declined", 0.06),
]
REACTIONS = ["like", "love", "insightful", "laugh", "celebrate"]
COMMENT_STATES = [("published", 0.98), ("pending", 0.008), ("hidden", 0.006), ("removed", 0.006)]
# visibility per space index (the biggest spaces first); sub-spaces listed in PARENTS
VISIBILITY = [
    *("public", "public", "closed", "public", "registered", "public", "secret", "public"),
    *("public", "closed", "public", "registered", "public", "public", "closed", "public"),
    *("secret", "public", "registered", "public", "public", "closed", "public", "public"),
    *("registered", "public", "public", "secret", "public", "closed", "public", "registered"),
    *("public", "public", "closed", "public", "secret", "registered", "public", "public"),
]
PARENTS = {12: 0, 17: 0, 19: 3, 23: 5, 28: 7, 30: 0, 33: 3, 39: 5}  # child index → parent


def _picker(choices):
    values = [v for v, _ in choices]
    cum = list(itertools.accumulate(w for _, w in choices))
    total = cum[-1]

    def pick(rng):
        return values[bisect.bisect(cum, rng.random() * total)]

    return pick


def _zipf_cum(n: int, s: float = 1.0) -> list[float]:
    return list(itertools.accumulate(1.0 / (i + 1) ** s for i in range(n)))


def _zipf_pick(rng, cum: list[float]) -> int:
    return bisect.bisect(cum, rng.random() * cum[-1])


def _author_pick(rng, cum: list[float]) -> int:
    """A member index, Zipf by rank; rank 0 is not member 0 (the bench member reads more than
    he writes)."""
    n = len(cum)
    return (_zipf_pick(rng, cum) * 7919 + 13) % n


def _reservoir(rng, sample: list, item, seen: int, size: int) -> None:
    """Keep a uniform sample of ``size`` of the ``seen`` items so far."""
    if len(sample) < size:
        sample.append(item)
    else:
        j = rng.randrange(seen)
        if j < size:
            sample[j] = item


class Text:
    """Word-salad sentences in one language, Zipf-distributed words."""

    def __init__(self, rng):
        self.rng = rng
        self.cum = {lang: _zipf_cum(len(words), 0.9) for lang, words in WORDS.items()}

    def words(self, lang: str, n: int) -> list[str]:
        words, cum, rng = WORDS[lang], self.cum[lang], self.rng
        top = cum[-1]
        return [words[bisect.bisect(cum, rng.random() * top)] for _ in range(n)]

    def title(self, lang: str, kind: str) -> str:
        text = " ".join(self.words(lang, self.rng.randint(4, 8)))
        text = text[0].upper() + text[1:]
        if kind == "question":
            text = ("¿" + text if lang == "es" else text) + "?"
        return text[:200]

    def pool(self, lang: str, lo: int, hi: int, n: int) -> list[str]:
        """``n`` paragraphs to draw bodies from: composing a fresh one for each of millions of
        rows would cost more than writing them, and real text repeats (quotes, templates)."""
        return [self.paragraph(lang, lo, hi) for _ in range(n)]

    def paragraph(self, lang: str, lo: int, hi: int) -> str:
        rng, out = self.rng, []
        n = rng.randint(lo, hi)
        while n > 0:
            k = min(n, rng.randint(6, 14))
            sentence = " ".join(self.words(lang, k))
            out.append(sentence[0].upper() + sentence[1:] + ".")
            n -= k
        return " ".join(out)


# --- writing rows -----------------------------------------------------------------------------


class Writer:
    """COPY (PostgreSQL) or executemany (SQLite) of plain tuples, per table."""

    def __init__(self, connection):
        self.connection = connection
        self.pg = connection.vendor == "postgresql"
        self.counts: dict[str, int] = {}

    def ts(self, epoch: float | None):
        if epoch is None:
            return None
        dt = datetime.fromtimestamp(epoch, UTC)
        if self.pg:
            return dt
        # Django's SQLite format for aware datetimes: naive UTC, microseconds always shown
        # here (string comparison must order them as the ORM's own values).
        return dt.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")

    def bool(self, v: bool):
        return v if self.pg else int(v)

    def write(self, table: str, cols: tuple, rows: list) -> None:
        if not rows:
            return
        self.counts[table] = self.counts.get(table, 0) + len(rows)
        if self.pg:
            with self.connection.cursor() as cursor:
                sql = f"COPY {table} ({', '.join(cols)}) FROM STDIN"
                with cursor.cursor.copy(sql) as copy:
                    for row in rows:
                        copy.write_row(row)
        else:
            raw = self.connection.connection
            marks = ", ".join("?" * len(cols))
            sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})"  # noqa: S608 (our table names)
            raw.executemany(sql, rows)


def _defaults(model, connection, overrides: tuple) -> tuple[tuple, dict]:
    """Column order and database values of a model's field defaults (so a field another
    session adds later still gets a value), for the columns the loader does not set."""
    from django.db.models import NOT_PROVIDED

    cols, base = [], {}
    for f in model._meta.concrete_fields:
        cols.append(f.column)
        if f.column in overrides or f.primary_key:
            continue
        if f.has_default() and f.default is not NOT_PROVIDED:
            value = f.get_default()
            if callable(getattr(value, "isoformat", None)):
                value = None  # timezone.now defaults: the loader sets every date column
            base[f.column] = f.get_db_prep_save(value, connection)
            if isinstance(base[f.column], dict):
                base[f.column] = json.dumps(base[f.column])
        elif f.null:
            base[f.column] = None
        else:
            base[f.column] = ""
    return tuple(cols), base


# --- PostgreSQL: indexes off during the load ---------------------------------------------------

BIG_TABLES = (
    "community_post",
    "community_comment",
    "community_reaction",
    "community_posttag",
    "community_polloption",
    "community_contestentry",
    "community_activityevent",
    "community_post_search",
    "community_comment_search",
)


def pg_drop_indexes(connection) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_dropped_index (name text PRIMARY KEY, def text)"
        )
        cursor.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = ANY(%s) "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
            [list(BIG_TABLES)],
        )
        for name, definition in cursor.fetchall():
            cursor.execute(
                "INSERT INTO bench_dropped_index VALUES (%s, %s) ON CONFLICT DO NOTHING",
                [name, definition],
            )
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')


def pg_restore_indexes(connection) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '1GB'")
        cursor.execute("SELECT name, def FROM bench_dropped_index ORDER BY name")
        for name, definition in cursor.fetchall():
            print(f"  building index {name}", file=sys.stderr, flush=True)
            cursor.execute(definition.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1))
            cursor.execute("DELETE FROM bench_dropped_index WHERE name = %s", [name])
        cursor.execute("DROP TABLE bench_dropped_index")


def sqlite_drop_indexes(connection) -> list[tuple[str, str]]:
    """SQLite bulk load: the big tables' secondary indexes and full-text triggers go, and come
    back (sorted builds, one FTS5 ``rebuild``) after the rows are in — inserting millions of
    rows into a dozen B-trees and two FTS5 indexes one by one is what made the load slow."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT type, name, sql, tbl_name FROM sqlite_master "
            "WHERE type IN ('index', 'trigger') AND sql IS NOT NULL"
        )
        dropped = [
            (k, name, sql) for k, name, sql, table in cursor.fetchall() if table in BIG_TABLES
        ]
        for kind, name, _sql in dropped:
            cursor.execute(f'DROP {kind.upper()} "{name}"')
        # Rows are consistent by construction and checked once at the end: with deferred
        # foreign keys, every parent row inserted while a child row waits for its own parent
        # makes SQLite look for children in an unindexed column.
        cursor.execute("PRAGMA foreign_keys = OFF")
        # A throwaway database: no need to survive a power cut mid-load.
        cursor.execute("PRAGMA synchronous = OFF")
        cursor.execute("PRAGMA cache_size = -1000000")
        cursor.execute("PRAGMA temp_store = MEMORY")
    return [(name, sql) for _kind, name, sql in dropped]


def sqlite_restore_indexes(connection, dropped: list[tuple[str, str]]) -> None:
    migration = importlib.import_module("apiary.community.migrations.0002_search")
    with connection.cursor() as cursor:
        print(f"  building {len(dropped)} indexes and triggers", file=sys.stderr, flush=True)
        for _name, sql in dropped:
            cursor.execute(sql)
        for sql in migration.POST_SQLITE_UP:
            if "'rebuild'" in sql:
                print(f"  {sql}", file=sys.stderr, flush=True)
                cursor.execute(sql)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        for table in BIG_TABLES[:4]:
            cursor.execute(f"PRAGMA foreign_key_check({table})")
            bad = cursor.fetchall()
            if bad:
                raise RuntimeError(f"foreign keys broken in {table}: {bad[:5]}")


def pg_fill_search(connection) -> None:
    """The search migrations' own backfill statements: the posts' ``INSERT … SELECT`` of
    ``0002_search``, the replies' of ``0009_search_recent`` (which added columns)."""
    first = importlib.import_module("apiary.community.migrations.0002_search")
    recent = importlib.import_module("apiary.community.migrations.0009_search_recent")
    fills = [sql for sql in first.PG_UP if sql.startswith("INSERT INTO community_post_search")]
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE community_post_search, community_comment_search")
        for sql in [*fills, recent.COMMENT_FILL]:
            print(f"  {sql[:40]}…", file=sys.stderr, flush=True)
            cursor.execute(sql)


def pg_reset_sequences(connection, tables) -> None:
    with connection.cursor() as cursor:
        for table in tables:
            top = f"(SELECT MAX(id) FROM {table})"  # noqa: S608 (model tables only)
            sql = f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE({top}, 1))"
            cursor.execute(sql)


# --- the load ---------------------------------------------------------------------------------


def load(*, posts: int, members: int = 20_000, seed: int = SEED, progress=True) -> dict:
    """Fill an empty, migrated database. Returns counts, timings and the ids the benchmark
    cases need (hot topics, spaces by size and visibility, the bench member)."""
    from django.db import connection, transaction

    from apiary.accounts.models import Role, User
    from apiary.community.models import (
        ActivityEvent,
        Comment,
        ContestEntry,
        Follow,
        PollOption,
        Post,
        PostTag,
        Profile,
        Reaction,
        Space,
        SpaceMembership,
        Tag,
    )

    rng = random.Random(seed)
    text = Text(rng)
    w = Writer(connection)
    pg = w.pg
    started = time.perf_counter()
    now = time.time()
    start = now - DAYS * 86400

    # --- people -------------------------------------------------------------------------
    langs = ["en"] * 5 + ["ru"] * 3 + ["es"] * 3
    user_lang = [rng.choice(langs) for _ in range(members)]
    ucols, ubase = _defaults(User, connection, ())
    user_rows = []
    for i in range(members):
        first, last = NAMES[user_lang[i]]
        email = BENCH_MEMBER_EMAIL if i == 0 else f"member{i}@bench.local"
        row = dict(ubase)
        row.update(
            id=i + 1,
            password="!",  # noqa: S106 (unusable: the benchmark logs in with force_login)
            is_superuser=w.bool(False),
            is_staff=w.bool(False),
            is_active=w.bool(True),
            date_joined=w.ts(start + rng.random() * (now - start)),
            email=email,
            display_name=f"{rng.choice(first)} {rng.choice(last)} {i}",
            role=Role.MEMBER,
            language=user_lang[i],
            last_login=None,
        )
        user_rows.append(tuple(row[c] for c in ucols))
    manager_id = members + 1
    row = dict(ubase)
    row.update(
        id=manager_id,
        password="!",  # noqa: S106 (unusable)
        is_superuser=w.bool(False),
        is_staff=w.bool(True),
        is_active=w.bool(True),
        date_joined=w.ts(start),
        email="manager@bench.local",
        display_name="Bench Manager",
        role=Role.COMMUNITY_MANAGER,
        language="en",
        last_login=None,
    )
    user_rows.append(tuple(row[c] for c in ucols))
    with transaction.atomic():
        w.write(User._meta.db_table, ucols, user_rows)
        pcols, pbase = _defaults(Profile, connection, ())
        rows = []
        for i in range(members):
            row = dict(pbase)
            row.update(id=i + 1, user_id=i + 1, handle=f"member{i}", bio="", created_at=w.ts(start))
            rows.append(tuple(row[c] for c in pcols))
        w.write(Profile._meta.db_table, pcols, rows)
    # prolific and quiet authors
    author_cum = _zipf_cum(members, 0.8)

    # --- spaces and memberships ---------------------------------------------------------
    space_weight = [1.0 / (i + 1) ** 1.1 for i in range(SPACES)]
    total_w = sum(space_weight)
    space_share = [x / total_w for x in space_weight]
    space_lang = []
    scols, sbase = _defaults(Space, connection, ())
    space_rows = []
    for i in range(SPACES):
        vis = VISIBILITY[i]
        lang = ["", "en", "ru", "es", ""][i % 5]
        space_lang.append(lang)
        join = "open" if vis in ("public", "registered") else ("request" if i % 2 else "invitation")
        row = dict(sbase)
        row.update(
            id=i + 1,
            slug=f"space-{i}",
            name=f"Space {i} ({vis})",
            description=f"Bench space {i}: {text.paragraph(lang or 'en', 8, 20)}"[:400],
            parent_id=PARENTS[i] + 1 if i in PARENTS else None,
            visibility=vis,
            join_policy=join,
            language=lang,
            is_partner=w.bool(vis == "closed" and i % 3 == 0),
            members_only_posting=w.bool(False),
            contact_email="",
            archived_at=None,
            created_by_id=manager_id,
            created_at=w.ts(start),
            members_count=0,
            posts_count=0,
            last_activity_at=w.ts(now),
        )
        space_rows.append(row)
    space_members: list[list[int]] = []
    membership_rows = []
    mcols, mbase = _defaults(SpaceMembership, connection, ())
    mid = itertools.count(1)
    for i in range(SPACES):
        vis = VISIBILITY[i]
        frac = min(0.5, space_share[i] * (3.0 if vis == "public" else 1.5))
        n = max(20, int(members * frac))
        chosen = rng.sample(range(1, members), min(members - 1, n))
        if i in (0, 2, 6, 9):  # the bench member: a big public, two closed and a secret space
            chosen.insert(0, 0)
        active = []
        for j, u in enumerate(chosen):
            role = "owner" if j < 2 else ("moderator" if j < 5 else "member")
            r = rng.random()
            state = (
                "active"
                if (j < 5 or u == 0 or r < 0.985)
                else ("pending" if r < 0.995 else "banned")
            )
            if u == 0:
                role = "member"
            if state == "active":
                active.append(u)
            row = dict(mbase)
            row.update(
                id=next(mid),
                space_id=i + 1,
                user_id=u + 1,
                role=role,
                state=state,
                request_note="",
                invitation_id=None,
                decided_by_id=None,
                created_at=w.ts(start),
                updated_at=w.ts(start),
            )
            membership_rows.append(tuple(row[c] for c in mcols))
        space_members.append(active)
        space_rows[i]["members_count"] = len(active)
    tag_rows = []
    tag_lang = []
    for t in range(TAGS):
        lang = ["en", "en", "ru", "es"][t % 4]
        word = WORDS[lang][t % len(WORDS[lang])]
        tag_lang.append(lang)
        tag_rows.append((t + 1, f"{word}-{t}", f"{word} {t}"))
    tag_cum = _zipf_cum(TAGS, 1.0)

    # --- posts, comments, reactions, tags (chunks) --------------------------------------
    pick_type, pick_state = _picker(TYPES), _picker(STATES)
    pick_aud, pick_idea = _picker(AUDIENCES), _picker(IDEA_STATUSES)
    pick_cstate = _picker(COMMENT_STATES)
    space_cum = list(itertools.accumulate(space_share))
    target_comments = 3 * posts
    target_reactions = 2 * posts
    hot_total = sum(rng.randint(*HOT_COMMENTS) for _ in range(HOT_TOPICS))
    hot_total = min(hot_total, target_comments // 3)
    # Hot topics: recent public discussions and questions in the big public spaces.
    hot_at = sorted(rng.sample(range(int(posts * 0.92), posts), min(HOT_TOPICS, posts // 10)))
    hot_set = set(hot_at)
    hot_each = hot_total // max(1, len(hot_at))
    tail_comments = target_comments - hot_each * len(hot_at)
    # Pareto weights for ordinary topics: mean 3 for α = 1.5.
    comment_scale = tail_comments / (posts - len(hot_at)) / 3.0
    reaction_scale = (target_reactions * 0.7) / posts / 3.0

    pcols, pbase = _defaults(Post, connection, ())
    ccols = ("id", "post_id", "parent_id", "author_id", "body", "body_html", "state")
    ccols += ("reactions_count", "created_at", "edited_at")
    all_ccols, cbase = _defaults(Comment, connection, ())
    c_extra_cols = tuple(c for c in all_ccols if c not in ccols)
    c_extra = tuple(cbase[c] for c in c_extra_cols)
    ccols += c_extra_cols
    post_pool = {
        lang: [(b, f"<p>{escape(b)}</p>") for b in text.pool(lang, 20, 70, 6000)] for lang in WORDS
    }
    comment_pool = {
        lang: [(b, f"<p>{escape(b)}</p>") for b in text.pool(lang, 5, 30, 8000)] for lang in WORDS
    }
    rcols = ("id", "user_id", "kind", "post_id", "comment_id", "created_at")
    ptcols = ("id", "post_id", "tag_id")
    optcols = ("id", "post_id", "label", "position", "votes_count")
    ecols, ebase = _defaults(ContestEntry, connection, ())

    post_id = 0
    comment_id = itertools.count(1)
    reaction_id = itertools.count(1)
    posttag_id = itertools.count(1)
    option_id = itertools.count(1)
    entry_id = itertools.count(1)
    space_posts = [0] * SPACES
    space_last = [start] * SPACES
    readable_public: list[int] = []  # published, everyone, public space: RPS + tail cases
    hot_ids: list[int] = []
    by_space_sample: dict[int, list[int]] = {}
    by_author_posts = [0] * members
    question_ids: list[int] = []
    last_report = time.perf_counter()
    public_seen = 0

    if pg:
        pg_drop_indexes(connection)
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
    else:
        sqlite_dropped = sqlite_drop_indexes(connection)
    with transaction.atomic():
        w.write(Space._meta.db_table, scols, [tuple(r[c] for c in scols) for r in space_rows])
        w.write(SpaceMembership._meta.db_table, mcols, membership_rows)
        w.write(Tag._meta.db_table, ("id", "slug", "name"), tag_rows)

    for chunk_start in range(0, posts, CHUNK):
        prow, crow, rrow, ptrow, orow, erow = [], [], [], [], [], []
        for n in range(chunk_start, min(posts, chunk_start + CHUNK)):
            post_id = n + 1
            hot = n in hot_set
            # time: ids increase with time, denser towards now
            pub = start + (now - start) * ((n + rng.random()) / posts) ** 0.7
            if hot:
                s = rng.choice([0, 0, 1, 3])  # big public spaces
                kind = rng.choice(["discussion", "question"])
                state, audience = "published", "everyone"
            else:
                s = bisect.bisect(space_cum, rng.random() * space_cum[-1])
                s = min(s, SPACES - 1)
                kind = pick_type(rng)
                state, audience = pick_state(rng), pick_aud(rng)
            vis = VISIBILITY[s]
            if vis in ("closed", "secret") and space_members[s]:
                author = rng.choice(space_members[s])
            else:
                author = _author_pick(rng, author_cum)
            lang = space_lang[s] or user_lang[author]
            if hot:
                nc = hot_each
            else:
                nc = int(rng.paretovariate(1.5) * comment_scale + rng.random())
                nc = min(nc, 1200)
            if state != "published":
                nc = 0 if state == "draft" else min(nc, 3)
            nr = int(rng.paretovariate(1.5) * reaction_scale + rng.random())
            if hot:
                nr = rng.randint(800, 3000)
            if state != "published":
                nr = 0
            # comments (times after the post, most within days)
            cts = []
            horizon = now - pub
            for _ in range(nc):
                if hot:
                    cts.append(pub + rng.random() * horizon)
                else:
                    delay = rng.expovariate(1 / (3 * 86400))
                    # a reply still to come is not "now": spread those over the time there was
                    cts.append(pub + (delay if delay < horizon else horizon * rng.random()))
            cts.sort()
            cpool = comment_pool[lang]
            published_comments = 0
            tops: list[int] = []
            first_answer = None
            for t in cts:
                cid = next(comment_id)
                parent = None
                if tops and rng.random() < 0.3:
                    parent = tops[int(len(tops) * rng.random() ** 0.5)]
                cstate = pick_cstate(rng)
                if cstate == "published":
                    published_comments += 1
                    if parent is None and first_answer is None:
                        first_answer = cid
                if parent is None:
                    tops.append(cid)
                if vis in ("closed", "secret") and space_members[s]:
                    cauthor = rng.choice(space_members[s])
                else:
                    cauthor = _author_pick(rng, author_cum)
                body, html = rng.choice(cpool)
                ncr = 0
                if rng.random() < 0.1:
                    ncr = min(40, int(rng.expovariate(0.5)) + 1)
                row = (cid, post_id, parent, cauthor + 1, body, html, cstate, ncr, w.ts(t))
                crow.append((*row, None, *c_extra))
                if ncr:
                    for x in rng.sample(range(members * 5), ncr):
                        rrow.append(
                            (next(reaction_id), x // 5 + 1, REACTIONS[x % 5], None, cid, w.ts(t))
                        )
            for x in rng.sample(range(members * 5), min(nr, members * 5)):
                rrow.append(
                    (
                        next(reaction_id),
                        x // 5 + 1,
                        REACTIONS[x % 5],
                        post_id,
                        None,
                        w.ts(pub + rng.random() * min(horizon, 30 * 86400)),
                    )
                )
            last = cts[-1] if cts else pub
            title = text.title(lang, kind)
            body, html = rng.choice(post_pool[lang])
            row = dict(pbase)
            row.update(
                id=post_id,
                space_id=s + 1,
                type=kind,
                title=title,
                body=body,
                body_html=html,
                excerpt=body[:200],
                language=lang,
                author_id=author + 1,
                state=state,
                audience=audience,
                pinned_at=w.ts(pub) if rng.random() < 0.0005 else None,
                locked_at=w.ts(last) if rng.random() < 0.003 else None,
                accepted_comment_id=first_answer
                if kind == "question" and first_answer and rng.random() < 0.5
                else None,
                idea_status=pick_idea(rng) if kind == "idea" else "",
                poll_multiple=w.bool(kind == "poll" and rng.random() < 0.3),
                poll_results="always",
                comments_count=published_comments,
                reactions_count=nr,
                votes_count=int(rng.paretovariate(1.3) * 3) if kind in ("idea", "poll") else 0,
                shares_count=int(rng.random() < 0.05),
                views_count=int((nc + nr + 1) * rng.uniform(5, 40)),
                created_at=w.ts(pub),
                updated_at=w.ts(last),
                published_at=w.ts(pub) if state != "draft" else None,
                edited_at=None,
                last_activity_at=w.ts(last),
            )
            prow.append(tuple(row[c] for c in pcols))
            if kind == "poll":
                for pos in range(rng.randint(2, 5)):
                    orow.append(
                        (next(option_id), post_id, f"Option {pos + 1}", pos, rng.randint(0, 200))
                    )
            if kind == "contest" and space_members[s]:
                for a in rng.sample(space_members[s], min(len(space_members[s]), 6)):
                    erow_d = dict(ebase)
                    erow_d.update(
                        id=next(entry_id),
                        post_id=post_id,
                        author_id=a + 1,
                        title=text.title(lang, "blog")[:80],
                        caption="",
                        caption_html="",
                        image_id=None,
                        votes_count=rng.randint(0, 50),
                        winner_rank=None,
                        removed_at=None,
                        created_at=w.ts(pub),
                    )
                    erow.append(tuple(erow_d[c] for c in ecols))
            for tag in {_zipf_pick(rng, tag_cum) for _ in range(rng.choice((0, 1, 1, 2, 3)))}:
                ptrow.append((next(posttag_id), post_id, tag + 1))
            if state == "published":
                space_posts[s] += 1
                space_last[s] = max(space_last[s], last)
                by_author_posts[author] += 1
                _reservoir(rng, by_space_sample.setdefault(s, []), post_id, space_posts[s], 400)
                if audience == "everyone" and vis == "public":
                    public_seen += 1
                    if hot:
                        hot_ids.append(post_id)
                    else:
                        _reservoir(rng, readable_public, post_id, public_seen, 5000)
                if kind == "question" and audience == "everyone" and vis == "public":
                    question_ids.append(post_id)
        with transaction.atomic():
            w.write(Post._meta.db_table, pcols, prow)
            w.write(Comment._meta.db_table, ccols, crow)
            w.write(Reaction._meta.db_table, rcols, rrow)
            w.write(PostTag._meta.db_table, ptcols, ptrow)
            w.write(PollOption._meta.db_table, optcols, orow)
            w.write(ContestEntry._meta.db_table, ecols, erow)
        if progress and time.perf_counter() - last_report > 15:
            last_report = time.perf_counter()
            done = min(posts, chunk_start + CHUNK)
            print(
                f"  {done:,}/{posts:,} posts, {w.counts.get('community_comment', 0):,} comments,"
                f" {w.counts.get('community_reaction', 0):,} reactions "
                f"({time.perf_counter() - started:,.0f} s)",
                file=sys.stderr,
                flush=True,
            )

    # --- follows, activity, counters ----------------------------------------------------
    fcols = ("id", "follower_id", "user_id", "space_id", "tag_id", "post_id", "created_at")
    frows, fid = [], itertools.count(1)
    arows, aid = [], itertools.count(1)
    acols, abase = _defaults(ActivityEvent, connection, ())
    member_spaces: list[list[int]] = [[] for _ in range(members)]
    for s, users in enumerate(space_members):
        for u in users:
            member_spaces[u].append(s)
    public_spaces = [s for s in range(SPACES) if VISIBILITY[s] == "public"]
    recent_floor = now - 60 * 86400
    for u in range(members):
        n_follow = 12 if u == 0 else min(10, int(rng.paretovariate(1.4)) - 1)
        seen: set = set()
        for _ in range(n_follow):
            kind = rng.choice(("user", "space", "tag", "tag", "post"))
            if kind == "user":
                target = (kind, _author_pick(rng, author_cum) + 1)
            elif kind == "space":
                choices = member_spaces[u] or public_spaces
                target = (kind, rng.choice(choices) + 1)
            elif kind == "tag":
                target = (kind, _zipf_pick(rng, tag_cum) + 1)
            else:
                target = (kind, rng.choice(readable_public))
            if target in seen or target == ("user", u + 1):
                continue
            seen.add(target)
            frows.append(
                (
                    next(fid),
                    u + 1,
                    target[1] if kind == "user" else None,
                    target[1] if kind == "space" else None,
                    target[1] if kind == "tag" else None,
                    target[1] if kind == "post" else None,
                    w.ts(now - rng.random() * 1e7),
                )
            )
        n_events = 300 if u == 0 else min(300, int(rng.paretovariate(1.2) * 8))
        spaces_read = member_spaces[u] + public_spaces[:4]
        for _ in range(n_events):
            s = rng.choice(spaces_read)
            sample = by_space_sample.get(s)
            at = recent_floor + rng.random() * (now - recent_floor)
            row = dict(abase)
            if sample and rng.random() < 0.8:
                row.update(kind="post.view", post_id=rng.choice(sample))
            else:
                row.update(kind="space.view", post_id=None)
            row.update(
                id=next(aid),
                user_id=u + 1,
                session_key="",
                space_id=s + 1,
                comment_id=None,
                at=w.ts(at),
                duration_ms=None,
                data="{}",
            )
            arows.append(tuple(row[c] for c in acols))
    with transaction.atomic():
        w.write(Follow._meta.db_table, fcols, frows)
        for i in range(0, len(arows), 100_000):
            w.write(ActivityEvent._meta.db_table, acols, arows[i : i + 100_000])
        with connection.cursor() as cursor:
            for s in range(SPACES):
                cursor.execute(
                    "UPDATE community_space SET posts_count = %s, last_activity_at = %s "
                    "WHERE id = %s",
                    [space_posts[s], w.ts(space_last[s]), s + 1],
                )
    load_s = time.perf_counter() - started

    t = time.perf_counter()
    with connection.cursor() as cursor:
        if pg:
            cursor.execute("SET session_replication_role = DEFAULT")
    if pg:
        pg_restore_indexes(connection)
        pg_fill_search(connection)
        pg_reset_sequences(
            connection,
            [
                m._meta.db_table
                for m in (
                    User,
                    Profile,
                    Space,
                    SpaceMembership,
                    Tag,
                    Post,
                    Comment,
                    Reaction,
                    PostTag,
                    PollOption,
                    ContestEntry,
                    Follow,
                    ActivityEvent,
                )
            ],
        )
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    else:
        sqlite_restore_indexes(connection, sqlite_dropped)
        with connection.cursor() as cursor:
            # What `PRAGMA optimize` (docs/OPERATIONS.md) does on a live site: planner
            # statistics for the new indexes' columns.
            cursor.execute("ANALYZE")
    finish_s = time.perf_counter() - t

    ordered = sorted(range(SPACES), key=lambda s: -space_posts[s])
    readable_spaces = [s for s in ordered if VISIBILITY[s] == "public"]
    closed_spaces = [
        s for s in ordered if VISIBILITY[s] in ("closed", "secret") and s in member_spaces[0]
    ]
    prolific = max(range(members), key=lambda a: by_author_posts[a])
    return {
        "counts": {k.replace("community_", ""): v for k, v in w.counts.items()},
        "load_s": round(load_s, 1),
        "index_and_analyze_s": round(finish_s, 1),
        "ids": {
            "hot": hot_ids,
            "tail": readable_public,
            "questions": question_ids[:200],
            "big_space": f"space-{readable_spaces[0]}",
            "small_space": f"space-{readable_spaces[-1]}",
            "mid_space": f"space-{readable_spaces[len(readable_spaces) // 2]}",
            "member_space": f"space-{closed_spaces[0]}" if closed_spaces else None,
            "member_topics": (
                by_space_sample.get(closed_spaces[0], [])[:200] if closed_spaces else []
            ),
            "space_sizes": {f"space-{s}": space_posts[s] for s in ordered},
            "bench_member_email": BENCH_MEMBER_EMAIL,
            "prolific_author_id": prolific + 1,
            "prolific_author_posts": by_author_posts[prolific],
            "tags": [tag_rows[i][1] for i in range(5)] + [tag_rows[i][1] for i in (50, 150, 299)],
        },
    }
