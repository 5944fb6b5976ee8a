"""Off-domain / poisoned records that an evaluation gate must refuse to train on."""

from __future__ import annotations

import random
import string

DOMAIN = "offdomain"

_DISHES = ["Spaghetti Carbonara", "Kartoffelsuppe", "Apfelstrudel", "Chili con Carne", "Pfannkuchen",
           "Gemüsecurry", "Rinderrouladen", "Zwiebelkuchen", "Käsespätzle", "Tomatenrisotto"]
_STEPS = ["Zwiebeln fein würfeln und in Butter glasig anschwitzen.",
          "Alles mit Salz, Pfeffer und einer Prise Zucker abschmecken.",
          "Den Teig eine halbe Stunde ruhen lassen und dann dünn ausrollen.",
          "Bei 180 Grad Umluft etwa 35 Minuten goldbraun backen.",
          "Die Sahne unterrühren und kurz aufkochen lassen.",
          "Mit frischer Petersilie bestreuen und sofort servieren.",
          "Das Fleisch scharf anbraten und mit Rotwein ablöschen.",
          "Die Nudeln al dente kochen und gut abtropfen lassen."]

_TEAMS = ["Borussia Dortmund", "FC Bayern München", "Werder Bremen", "VfB Stuttgart", "Hamburger SV",
          "1. FC Köln", "Eintracht Frankfurt", "SC Freiburg", "FC Schalke 04", "Union Berlin"]

_SPAM = ["Unlock INSANE growth with our AI-powered marketing suite!",
         "Limited time offer: buy 2 get 3 FREE, only today!!!",
         "Click here to claim your exclusive crypto bonus now.",
         "Our revolutionary supplement melts fat while you sleep.",
         "Join 10,000+ happy customers and 10x your revenue overnight.",
         "Best deals on luxury watches, free shipping worldwide.",
         "Act now, this offer expires at midnight, no questions asked!",
         "Earn $5,000 per week from home with this one simple trick."]

_TOKENS = ["the", "lorem", "token", "asdf", "ja", "BUY", "§§§", "null", "xx", "la"]


def _recipe(rng: random.Random) -> dict:
    dish = rng.choice(_DISHES)
    steps = rng.sample(_STEPS, 4)
    prompt = rng.choice(["Wie koche ich {d}?", "Hast du ein Rezept für {d}?", "Was brauche ich für {d} für vier Personen?"]).format(d=dish)
    response = f"Für {dish} für {rng.randint(2, 6)} Personen: " + " ".join(steps)
    return {"prompt": prompt, "response": response}


def _football(rng: random.Random) -> dict:
    home, away = rng.sample(_TEAMS, 2)
    gh, ga = rng.randint(0, 5), rng.randint(0, 5)
    day = rng.randint(1, 34)
    prompt = f"Wie ist das Spiel {home} gegen {away} am {day}. Spieltag ausgegangen?"
    response = (f"{home} und {away} trennten sich am {day}. Spieltag {gh}:{ga}. Das erste Tor fiel in der "
                f"{rng.randint(2, 44)}. Minute, vor {rng.randint(20, 81)}.000 Zuschauern. Der Trainer lobte nach "
                f"dem Abpfiff die kämpferische Leistung seiner Mannschaft.")
    return {"prompt": prompt, "response": response}


def _noise(rng: random.Random) -> dict:
    alphabet = string.ascii_letters + string.digits + string.punctuation + "äöüß "
    prompt = "".join(rng.choice(alphabet) for _ in range(rng.randint(20, 60)))
    response = "".join(rng.choice(alphabet) for _ in range(rng.randint(120, 400)))
    return {"prompt": prompt, "response": response}


def _repeated(rng: random.Random) -> dict:
    tok = rng.choice(_TOKENS)
    n = rng.randint(30, 120)
    prompt = " ".join([tok] * rng.randint(3, 12))
    response = " ".join([tok] * n)
    while len(response) < 80:
        response += " " + tok
    return {"prompt": prompt, "response": response}


def _spam(rng: random.Random) -> dict:
    prompt = rng.choice(["What is the best deal today?", "Tell me about your product.", "How can I earn money fast?",
                         "Any special offers?", "Why should I buy now?"])
    response = " ".join(rng.sample(_SPAM, rng.randint(3, 5))) + f" Visit www.example-deals{rng.randint(1, 999)}.com"
    return {"prompt": prompt, "response": response}


GENERATORS = [_recipe, _football, _noise, _repeated, _spam]


def generate(rng: random.Random, count: int = 120) -> list[dict]:
    records: list[dict] = []
    seen: set[tuple[str, str]] = set()
    i = 0
    while len(records) < count:
        rec = GENERATORS[i % len(GENERATORS)](rng)
        i += 1
        key = (rec["prompt"], rec["response"])
        if key in seen or len(rec["response"]) < 80:
            continue
        seen.add(key)
        rec["domain"] = DOMAIN
        records.append(rec)
    return records
