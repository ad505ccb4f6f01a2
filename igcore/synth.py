"""A seeded generator of a realistic shop log: the bundled sample, and small logs for tests.

What it plants, so later stages can be checked against known truth:
- a catalogue with readable titles, categories, brands and prices; skewed (Zipf) popularity within a category;
- users with 1-4 interests (categories) and a view -> cart -> purchase funnel inside sessions;
- repeat purchases of consumables;
- interest drift: for most users one interest is replaced by a new one at a known event; the ground truth
  (user, the index of the first event after the change, its time, old and new category) is saved beside the log.

The same config gives byte-identical files.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import gzip
import io
from pathlib import Path

import numpy as np

CATALOGUE: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    # category: (nouns, adjectives, brands)
    "Running": (("Running Shoe", "Trail Shoe", "Running Sock", "Sports Watch", "Hydration Vest"),
                ("Lightweight", "Cushioned", "Breathable", "Reflective"), ("Stride", "Aerofit", "Kestrel", "Pacer")),
    "Coffee": (("Espresso Beans", "Ground Coffee", "Pour-Over Kit", "Milk Frother", "Coffee Grinder"),
               ("Dark Roast", "Single Origin", "Organic", "Decaf"), ("Bean & Co", "Roastery 9", "Crema", "Moka")),
    "Skincare": (("Face Serum", "Moisturiser", "Sunscreen SPF50", "Cleansing Gel", "Eye Cream"),
                 ("Hydrating", "Vitamin C", "Fragrance-Free", "Night"), ("Lumen", "Dermia", "Petal Lab", "Aqua")),
    "Gaming": (("Wireless Controller", "Gaming Headset", "Mechanical Keyboard", "Gaming Mouse", "Capture Card"),
               ("RGB", "Low-Latency", "Pro", "Compact"), ("Vortex", "Pixelforge", "Nexa", "Raptor")),
    "Baby": (("Nappies", "Baby Wipes", "Feeding Bottle", "Baby Monitor", "Sleep Suit"),
             ("Sensitive", "Newborn", "Anti-Colic", "Organic Cotton"), ("Littlebee", "Nest", "Cuddle", "Tots")),
    "Kitchen": (("Chef Knife", "Cast Iron Pan", "Cutting Board", "Stand Mixer", "Spice Rack"),
                ("Stainless", "Non-Stick", "Bamboo", "Professional"), ("Forge", "Hearth", "Saltbox", "Copperline")),
    "Books": (("Thriller Novel", "Cookbook", "Travel Guide", "Graphic Novel", "Biography"),
              ("Bestselling", "Illustrated", "Paperback", "Signed"), ("Inkwell", "Northpress", "Folio", "Papyrus")),
    "Garden": (("Hose Reel", "Pruning Shears", "Seed Kit", "Raised Bed", "Solar Lights"),
               ("Weatherproof", "Heavy-Duty", "Eco", "Foldable"), ("Greenleaf", "Terra", "Bloom", "Rootwise")),
    "Pets": (("Dog Food", "Cat Litter", "Chew Toy", "Pet Bed", "Grooming Brush"),
             ("Grain-Free", "Clumping", "Durable", "Orthopaedic"), ("Pawsome", "Whisker", "Barkley", "Furrow")),
    "Fitness": (("Yoga Mat", "Dumbbell Set", "Resistance Band", "Protein Powder", "Foam Roller"),
                ("Non-Slip", "Adjustable", "Vanilla", "High-Density"), ("Corefit", "Ironside", "Zen", "Pulse")),
    "Audio": (("Bluetooth Speaker", "Noise-Cancelling Headphones", "Earbuds", "Turntable", "Soundbar"),
              ("Portable", "Hi-Fi", "Waterproof", "Wireless"), ("Sonic", "Tempo", "Echo Lab", "Resonance")),
    "Tea": (("Green Tea", "Herbal Infusion", "Teapot", "Matcha Powder", "Chai Blend"),
            ("Loose-Leaf", "Ceremonial", "Caffeine-Free", "Spiced"),
            ("Leaf & Kettle", "Oolong House", "Brew", "Sencha")),
}
CONSUMABLES = {"Coffee", "Skincare", "Baby", "Pets", "Tea", "Fitness"}
PRICE_MEDIAN = {"Running": 60, "Coffee": 14, "Skincare": 25, "Gaming": 70, "Baby": 18, "Kitchen": 45, "Books": 15,
                "Garden": 30, "Pets": 22, "Fitness": 35, "Audio": 90, "Tea": 10}


@dataclasses.dataclass(frozen=True)
class SynthConfig:
    seed: int = 7
    n_users: int = 2000
    n_items: int = 1500
    n_events: int = 150_000
    start: str = "2026-06-01"
    days: int = 90
    drift_share: float = 0.6  # share of users whose interests shift once
    p_cart: float = 0.2
    p_purchase: float = 0.45  # of carted items
    p_repeat: float = 0.25  # a session that re-buys an earlier consumable purchase


@dataclasses.dataclass
class SynthLog:
    events: list[tuple[str, str, str, str, str]]  # user_id, item_id, event_type, timestamp, session_id
    items: list[tuple[str, str, str, str, str, str]]  # item_id, title, category, brand, price, description
    drift: list[tuple[str, int, str, str, str]]  # user_id, event_index, timestamp, old_category, new_category


def generate(config: SynthConfig = SynthConfig()) -> SynthLog:
    rng = np.random.default_rng(config.seed)
    items, by_cat, pop = make_catalogue(config, rng)
    cats = list(CATALOGUE)
    t0 = dt.datetime.fromisoformat(config.start).replace(tzinfo=dt.UTC)
    span = config.days * 86400
    activity = rng.lognormal(0.0, 0.8, config.n_users)
    per_user = rng.multinomial(config.n_events, activity / activity.sum())
    events: list[tuple[str, str, str, str, str]] = []
    drift: list[tuple[str, int, str, str, str]] = []
    session_no = 0
    for u in range(config.n_users):
        uid = f"U{u + 1:05d}"
        n = int(per_user[u])
        k = int(rng.choice([1, 2, 3, 4], p=[0.3, 0.35, 0.2, 0.15]))
        interests = [int(c) for c in rng.choice(len(cats), size=k, replace=False)]
        weights = rng.dirichlet(np.ones(k) * 2.0)
        drift_at = int(n * rng.uniform(0.35, 0.75)) if n >= 30 and rng.random() < config.drift_share else -1
        # Sessions first, as (item, type, seconds after session start); times are laid out afterwards.
        sessions: list[list[tuple[int, str, float]]] = []
        drift_session, change, new = -1, ("", ""), -1
        bought: list[int] = []
        count = 0
        while count < n:
            if drift_session < 0 <= drift_at <= count:
                old = int(rng.choice(len(interests), p=weights))
                new = int(rng.choice([c for c in range(len(cats)) if c not in interests]))
                drift_session, change = len(sessions), (cats[interests[old]], cats[new])
                interests[old] = new
            # The session right after a shift browses the new interest, so the change shows at its event.
            first_after = len(sessions) == drift_session
            session = _session(rng, config, items, by_cat, pop, interests, weights, bought,
                               new if first_after else None)
            sessions.append(session)
            count += len(session)
        starts = _session_starts(rng, [s[-1][2] for s in sessions], span)
        index = 0
        for i, (session, start) in enumerate(zip(sessions, starts)):
            session_no += 1
            if i == drift_session and index < n:
                drift.append((uid, index, _iso(t0 + dt.timedelta(seconds=start)), *change))
            for item, etype, offset in session:
                if index < n:
                    events.append((uid, items[item][0], etype, _iso(t0 + dt.timedelta(seconds=start + offset)),
                                   f"S{session_no:07d}"))
                index += 1
    events.sort(key=lambda e: (e[3], e[0]))
    return SynthLog(events, items, drift)


def _session(rng, config, items, by_cat, pop, interests, weights, bought,
             category: int | None = None) -> list[tuple[int, str, float]]:
    """One visit: a re-buy of an earlier consumable, or browsing one interest (``category`` if given)
    through the funnel."""
    clock = 0.0
    out: list[tuple[int, str, float]] = []
    if category is None and bought and rng.random() < config.p_repeat:
        item = bought[int(rng.integers(len(bought)))]
        if items[item][2] in CONSUMABLES:
            for etype in ("view", "purchase"):
                clock += float(rng.uniform(10, 90))
                out.append((item, etype, clock))
            return out
    cat = category if category is not None else interests[int(rng.choice(len(interests), p=weights))]
    for _ in range(int(rng.integers(1, 8))):
        item = int(rng.choice(by_cat[cat], p=pop[cat]))
        clock += float(rng.uniform(5, 120))
        out.append((item, "view", clock))
        if rng.random() < config.p_cart:
            clock += float(rng.uniform(5, 60))
            out.append((item, "cart", clock))
            if rng.random() < config.p_purchase:
                clock += float(rng.uniform(20, 300))
                out.append((item, "purchase", clock))
                bought.append(item)
    return out


def _session_starts(rng: np.random.Generator, durations: list[float], span: float) -> list[float]:
    """Sorted random starts over the span that never let two sessions of a user overlap."""
    starts = np.sort(rng.uniform(0, span, len(durations)))
    out: list[float] = []
    free = 0.0
    for start, duration in zip(starts, durations):
        begin = max(float(start), free)
        out.append(begin)
        free = begin + duration + 60.0
    return out


def make_catalogue(config: SynthConfig, rng: np.random.Generator):
    cats = list(CATALOGUE)
    cat_of = rng.choice(len(cats), size=config.n_items)
    items, by_cat = [], {c: [] for c in range(len(cats))}
    for i, c in enumerate(cat_of):
        name = cats[c]
        nouns, adjs, brands = CATALOGUE[name]
        noun, adj, brand = (x[int(rng.integers(len(x)))] for x in (nouns, adjs, brands))
        model = f"{chr(65 + int(rng.integers(26)))}{int(rng.integers(100, 1000))}"
        price = round(float(PRICE_MEDIAN[name] * rng.lognormal(0, 0.35)), 2)
        title = f"{brand} {adj} {noun} {model}"
        desc = f"{adj} {noun.lower()} by {brand}, part of our {name.lower()} range."
        items.append((f"I{i + 1:05d}", title, name, brand, f"{price:.2f}", desc))
        by_cat[int(c)].append(i)
    pop = {}
    for c, pool in by_cat.items():
        ranks = rng.permutation(len(pool)) + 1
        w = ranks.astype(float) ** -1.1
        pop[c] = w / w.sum()
    return items, by_cat, pop


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def write(log: SynthLog, out_dir: str | Path) -> dict[str, Path]:
    """Write ``events.csv.gz``, ``items.csv`` and ``drift_truth.csv``; gzip without a timestamp, so the
    same log gives the same bytes."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"events": out / "events.csv.gz", "items": out / "items.csv", "drift": out / "drift_truth.csv"}
    with gzip.GzipFile(paths["events"], "wb", mtime=0) as gz:
        gz.write(_csv(("user_id", "item_id", "event_type", "timestamp", "session_id"), log.events))
    paths["items"].write_bytes(_csv(("item_id", "title", "category", "brand", "price", "description"), log.items))
    paths["drift"].write_bytes(
        _csv(("user_id", "event_index", "timestamp", "old_category", "new_category"), log.drift))
    return paths


def _csv(header: tuple[str, ...], rows: list[tuple]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")
