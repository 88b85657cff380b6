"""Reproducible fictional IT-recruitment dataset: same seed, same bytes."""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from faker import Faker

from models.positions import MIN_KEYWORDS, POSITIONS, Position, rule_outcome

#: Probability that the recorded outcome disagrees with the recruiter's rule.
LABEL_NOISE = 0.08

GENERIC_SKILLS = (
    "Communication", "Teamwork", "Leadership", "Time Management", "Public Speaking",
    "Mentoring", "Problem Solving", "Negotiation", "Project Management", "Scrum",
    "Linux", "Bash", "C++", "Go", "Rust", "PHP", "Ruby", "Kotlin", "Swift", "MongoDB",
    "GraphQL", "Spark", "Hadoop", "Power BI", "Photoshop", "Illustrator", "Salesforce",
    "SAP", "Copywriting", "Spanish", "German", "French", "Blockchain", "Unity", "Arduino",
)
ALL_KEYWORDS = sorted({k for p in POSITIONS for k in p.keywords})

HEADLINES = (
    "{title} with {years} of experience.",
    "Experienced {title_lower} ({years}).",
    "{title} | {years} in the industry",
    "Results-driven {title_lower} bringing {years} of hands-on experience.",
    "I am a {title_lower} with {years} behind me.",
    "Motivated professional seeking a {title} role; {years} of relevant work.",
    "{name} - {title}, {years}.",
)
YEAR_PHRASES = ("{n} years", "{n}+ years", "over {n} years", "about {n} years", "{n} yrs")
SKILL_INTROS = (
    "Core skills: {skills}.",
    "Skilled in {skills}.",
    "Technical toolbox: {skills}.",
    "Comfortable working with {skills}.",
    "Key competencies include {skills}.",
    "Tools and methods I use daily: {skills}.",
)
EXPERIENCE_LINES = (
    "At {company} I worked as {role} for {n} years, where I {achievement}.",
    "{role} at {company} ({n} yrs): {achievement}.",
    "Spent {n} years at {company} as {role} and {achievement}.",
    "{company}, {role}, {n} years - {achievement}.",
)
ACHIEVEMENTS = (
    "cut delivery time by a third", "led a team of five", "owned the quarterly planning",
    "improved customer satisfaction scores", "migrated legacy systems", "mentored new hires",
    "shipped features used by thousands of users", "reduced costs significantly",
    "built internal tooling from scratch", "introduced code reviews and testing standards",
    "handled escalations from key accounts", "documented processes for the whole department",
)
EXTRAS = (
    "Holds a degree in {field} from {school}.",
    "Studied {field} at {school}.",
    "Outside work I enjoy {hobby} and {hobby2}.",
    "Volunteer at a local {org}.",
    "Fluent in English; conversational {lang}.",
    "Open to remote or hybrid work.",
    "Available to start within a month.",
    "Side project: a small {project} written in spare time.",
)
FIELDS = ("Computer Science", "Business Administration", "Mathematics", "Economics",
          "Psychology", "Graphic Design", "Information Systems", "Physics", "Marketing")
HOBBIES = ("hiking", "chess", "photography", "cycling", "cooking", "running", "reading",
           "board games", "music", "gardening")


def _years_phrase(rng: random.Random, years: int) -> str:
    if years == 0:
        return rng.choice(("less than a year", "no professional years yet", "under 1 year"))
    if years == 1:
        return rng.choice(("1 year", "one year", "a single year"))
    return rng.choice(YEAR_PHRASES).format(n=years)


def _applicant_keywords(rng: random.Random, position: Position) -> list[str]:
    matched = rng.choices(range(6), weights=(2, 2, 3, 3, 3, 3))[0]
    own = rng.sample(position.keywords, matched)
    others = [k for k in ALL_KEYWORDS if k not in position.keywords] + list(GENERIC_SKILLS)
    extra = rng.sample(others, rng.randint(1, 4))
    keywords = own + extra
    rng.shuffle(keywords)
    return keywords


def _cv_text(rng: random.Random, fake: Faker, position: Position, years: int,
             keywords: list[str]) -> str:
    title = position.title
    parts = [rng.choice(HEADLINES).format(
        title=title, title_lower=title.lower(), years=_years_phrase(rng, years), name=fake.name())]
    parts.append(rng.choice(SKILL_INTROS).format(skills=", ".join(keywords)))
    remaining = years
    for _ in range(rng.randint(0, 3)):
        if remaining <= 0:
            break
        n = rng.randint(1, remaining)
        remaining -= n
        parts.append(rng.choice(EXPERIENCE_LINES).format(
            company=fake.company(), role=rng.choice((title, f"junior {title.lower()}",
                                                     f"senior {title.lower()}", "consultant")),
            n=n, achievement=rng.choice(ACHIEVEMENTS)))
    for extra in rng.sample(EXTRAS, rng.randint(0, 4)):
        parts.append(extra.format(
            field=rng.choice(FIELDS), school=f"{fake.city()} University",
            hobby=rng.choice(HOBBIES), hobby2=rng.choice(HOBBIES), org=rng.choice(
                ("animal shelter", "coding club", "food bank")),
            lang=rng.choice(("Spanish", "German", "French")), project=rng.choice(
                ("mobile app", "web scraper", "budget tracker", "blog engine"))))
    for _ in range(rng.choices((0, 1, 2, 3), weights=(5, 3, 1, 1))[0]):
        parts.append(fake.paragraph(nb_sentences=rng.randint(3, 12)))
    head, rest = parts[:2], parts[2:]
    rng.shuffle(rest)
    return " ".join(head + rest)


def _reason(position: Position, years: int, keywords: list[str], rule: str, outcome: str) -> str:
    matched = sorted(set(position.keywords) & set(keywords))
    if rule != outcome:
        return ("Strong interview compensated for gaps in the profile" if outcome == "Accepted"
                else "Position filled by another candidate before the decision")
    if outcome == "Accepted":
        return f"Meets the {position.min_years}+ years requirement and has {len(matched)} key skills"
    if years < position.min_years:
        return f"Insufficient experience: {years} of {position.min_years} years required"
    return f"Only {len(matched)} of the key skills (at least {MIN_KEYWORDS} needed)"


def generate(n: int, seed: int) -> list[dict[str, Any]]:
    """`n` records; the same (n, seed) always gives the same records."""
    rng = random.Random(seed)
    fake = Faker()
    fake.seed_instance(seed)
    start = date(2020, 1, 1)
    span = (date(2026, 12, 31) - start).days
    records = []
    for _ in range(n):
        position = rng.choice(POSITIONS)
        years = min(rng.randint(0, 8) + rng.randint(0, 6), 15)
        keywords = _applicant_keywords(rng, position)
        rule = rule_outcome(position.title, years, keywords)
        outcome = rule
        if rng.random() < LABEL_NOISE:
            outcome = "Rejected" if rule == "Accepted" else "Accepted"
        records.append({
            "recruitment_date": (start + timedelta(days=rng.randint(0, span))).isoformat(),
            "opening_position": position.title,
            "description": position.description,
            "requirement": position.requirement,
            "keywords_for_recruitment": list(position.keywords),
            "cv": _cv_text(rng, fake, position, years, keywords),
            "experience_years": years,
            "keywords_from_applicants": keywords,
            "result": outcome,
            "reason_for_result": _reason(position, years, keywords, rule, outcome),
        })
    return records


def write_dataset(records: list[dict[str, Any]], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(records, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(out)


def rule_ceiling(records: list[dict[str, Any]]) -> float | None:
    """Accuracy of the generator's own rule on these (noisy) labels, or None for foreign data."""
    try:
        hits = sum(
            rule_outcome(r["opening_position"], int(r["experience_years"]),
                         list(r["keywords_from_applicants"])) == r["result"]
            for r in records)
    except (KeyError, TypeError, ValueError):
        return None
    return hits / len(records) if records else None
