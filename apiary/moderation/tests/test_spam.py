"""The spam heuristics are pure functions: plain strings in, a verdict out."""

from apiary.moderation import spam


def test_links_are_counted_in_every_form():
    text = "see https://a.example/x and http://b.example, www.c.example or shop.ru/deal"
    assert spam.count_links(text) == 4
    assert spam.count_links("no links here, just a sentence. Version 2.0 works") == 0


def test_many_links_alone_hold():
    text = " ".join(f"https://spam{i}.example/buy" for i in range(spam.MANY_LINKS))
    verdict = spam.assess(text)
    assert verdict.is_spam and "many_links" in verdict.signals


def test_one_link_from_a_brand_new_account_is_a_weak_signal():
    text = "My machine leaks, photo: https://imgur.example/abc"
    new = spam.assess(text, account_age_hours=1, trust_level=0)
    assert new.signals == ["new_account_links"] and not new.is_spam
    old = spam.assess(text, account_age_hours=24 * 30, trust_level=0)
    trusted = spam.assess(text, account_age_hours=1, trust_level=2)
    assert old.signals == [] and trusted.signals == []
    shouting = spam.assess(text.upper() + " PLEASE HELP ME NOW", account_age_hours=1)
    assert shouting.is_spam and set(shouting.signals) == {"new_account_links", "shouting"}


def test_shouting_needs_enough_letters_and_works_in_cyrillic():
    assert spam.is_shouting("ЭТО ПРОСТО УЖАСНО, ВЕРНИТЕ ДЕНЬГИ НЕМЕДЛЕННО")
    assert not spam.is_shouting("OK THX")  # too short to judge
    assert not spam.is_shouting("The NASA and ESA launch was GREAT, thanks for sharing it")
    assert not spam.assess("THIS IS THE BEST ESPRESSO I EVER HAD IN MY LIFE").is_spam


def test_spam_phrases_in_three_languages_fold_case_and_accents():
    assert spam.spam_phrases("BUY NOW and get it") == ["buy now"]
    assert spam.spam_phrases("Быстрый заработок без вложений!") == [
        "быстрый заработок",
        "без вложений",
    ]
    assert set(spam.spam_phrases("¡Haz clic aquí y gana dinero!")) == {
        "haz clic aqui",
        "gana dinero",
    }
    # word boundaries: "act now" is not inside "contact nowhere"
    assert spam.spam_phrases("contact nowhere") == []
    assert spam.assess("Быстрый заработок без вложений").is_spam
    assert not spam.assess("Click here for the manual? I can't find it").is_spam


def test_repeated_text_compares_folded_and_ignores_short_replies():
    earlier = ["Great offer on grinders, visit my shop today"]
    assert spam.is_repeat("great offer on GRINDERS,   visit my shop today", earlier)
    assert spam.assess("Great offer on grinders, visit my shop today", recent_texts=earlier).is_spam
    assert not spam.is_repeat("Thanks!", ["Thanks!"])
    assert not spam.is_repeat("A different text entirely, long enough", earlier)


def test_an_ordinary_post_scores_nothing():
    verdict = spam.assess(
        "My Barista Pro makes sour shots since the update. Any ideas? Grind is 12.",
        recent_texts=["Another post of mine about milk foam"],
        account_age_hours=2,
    )
    assert verdict.score == 0 and verdict.signals == []
