"""Demo workspace, one staff user per role and a multilingual crowd of community members."""

from __future__ import annotations

from django.contrib.auth.hashers import make_password

from apiary.accounts import services
from apiary.accounts.models import Role, User

STAFF = [
    ("admin@apiary.local", "Alex Admin", Role.ADMIN, "en"),
    ("community@apiary.local", "Марина Соколова", Role.COMMUNITY_MANAGER, "ru"),
    ("care@apiary.local", "Lucía Fernández", Role.CARE_AGENT, "es"),
    ("care2@apiary.local", "Dmitri Volkov", Role.CARE_AGENT, "ru"),
    ("carelead@apiary.local", "Grace Okafor", Role.CARE_MANAGER, "en"),
    ("analyst@apiary.local", "Sam Analyst", Role.ANALYST, "en"),
]

FIRST = {
    "en": ["Emma", "Liam", "Olivia", "Noah", "Ava", "Ethan", "Mia", "Lucas", "Grace", "Jack"],
    "ru": [
        "Анна",
        "Иван",
        "Ольга",
        "Сергей",
        "Мария",
        "Алексей",
        "Елена",
        "Никита",
        "Юлия",
        "Павел",
    ],
    "es": [
        "Sofía",
        "Mateo",
        "Valentina",
        "Diego",
        "Camila",
        "Javier",
        "Lucía",
        "Pablo",
        "Elena",
        "Andrés",
    ],
}
LAST = {
    "en": ["Smith", "Johnson", "Brown", "Taylor", "Wilson", "Clarke", "Walker", "Hughes"],
    "ru": ["Иванова", "Смирнов", "Кузнецова", "Попов", "Лебедева", "Козлов", "Новикова", "Морозов"],
    "es": ["García", "Martínez", "López", "Sánchez", "Pérez", "Gómez", "Ruiz", "Díaz"],
}
TRANSLIT = str.maketrans(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюяáéíóúñ",
    "abvgdeezziiklmnoprstufhccss_y_euaaeioun",
)
MEMBER_COUNT = 60


def run(ctx) -> str:
    workspace = services.workspace_ensure(name="Northwind Coffee Roasters")
    created = 0
    for email, name, role, lang in STAFF:
        if not User.objects.filter(email__iexact=email).exists():
            services.staff_user_create(
                email=email, password=ctx.password, role=role, display_name=name, language=lang
            )
            created += 1
    # One hash for every member: argon2 is slow on purpose, and they share the demo password.
    member_hash = make_password(ctx.password)
    langs = ["en"] * 5 + ["ru"] * 3 + ["es"] * 3
    members = []
    for i in range(MEMBER_COUNT):
        lang = ctx.rng.choice(langs)
        first, last = ctx.rng.choice(FIRST[lang]), ctx.rng.choice(LAST[lang])
        local = f"{first}.{last}".lower().translate(TRANSLIT)
        email = f"{local}.{i}@example.{ {'en': 'com', 'ru': 'ru', 'es': 'es'}[lang] }"
        members.append(
            User(
                email=email,
                display_name=f"{first} {last}",
                role=Role.MEMBER,
                language=lang,
                password=member_hash,
            )
        )
    existing = set(
        User.objects.filter(email__in=[m.email for m in members]).values_list("email", flat=True)
    )
    new_members = [m for m in members if m.email not in existing]
    User.objects.bulk_create(new_members)
    ctx.data["members"] = list(User.objects.filter(role=Role.MEMBER).order_by("pk"))
    return (
        f"workspace '{workspace.name}', {created} staff and {len(new_members)} members created "
        f"({User.objects.count()} users in all)"
    )
